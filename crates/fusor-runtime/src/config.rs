//! The pipeline declared in TOML (`launch/pipeline.toml`): stages, the edges between them with
//! capacity and policy, the clock, and per-stage parameters.

use crate::clock::ClockMode;
use crate::edge::{EdgePolicy, EdgeSpec};
use crate::graph::{find_cycle, DEFAULT_RESTART_LIMIT};
use crate::{Result, RuntimeError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The default pipeline, as shipped in `launch/pipeline.toml`.
pub const DEFAULT_PIPELINE_TOML: &str = include_str!("../../../launch/pipeline.toml");

/// A whole pipeline: runtime settings, stages, edges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Clock and supervision settings.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// The actors, in declaration order (`[[stage]]`).
    #[serde(rename = "stage", default)]
    pub stages: Vec<StageConfig>,
    /// The edges (`[[edge]]`).
    #[serde(rename = "edge", default)]
    pub edges: Vec<EdgeConfig>,
}

/// `[runtime]`: how the graph is clocked and supervised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// `wall` (live), `replay` (paced at `rate`) or `max` (as fast as possible).
    #[serde(default = "default_clock")]
    pub clock: ClockKind,
    /// Replay rate for `clock = "replay"` (1.0 = real time).
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Restarts allowed per actor after a panic.
    #[serde(default = "default_restart_limit")]
    pub restart_limit: u32,
}

/// The clock named in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockKind {
    /// Wall-clock time (live).
    Wall,
    /// Recorded stamps paced at `rate`.
    Replay,
    /// As fast as possible (virtual time).
    Max,
}

fn default_clock() -> ClockKind {
    ClockKind::Max
}
fn default_rate() -> f64 {
    1.0
}
fn default_restart_limit() -> u32 {
    DEFAULT_RESTART_LIMIT
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { clock: default_clock(), rate: default_rate(), restart_limit: default_restart_limit() }
    }
}

impl RuntimeConfig {
    /// The clock mode these settings describe.
    pub fn clock_mode(&self) -> ClockMode {
        match self.clock {
            ClockKind::Wall => ClockMode::Wall,
            ClockKind::Replay => ClockMode::Replay { rate: self.rate },
            ClockKind::Max => ClockMode::Max,
        }
    }
}

/// `[[stage]]`: one actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Unique name, used by edges and in metrics.
    pub name: String,
    /// What to build (e.g. `pivot_sync`); the host maps kinds to constructors.
    pub kind: String,
    /// Stage-specific parameters, read by the stage's own config type.
    #[serde(default)]
    pub params: toml::Table,
}

/// `[[edge]]`: a bounded channel from one stage to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Producing stage name.
    pub from: String,
    /// Consuming stage name.
    pub to: String,
    /// Queue capacity in messages (at least 1).
    pub capacity: usize,
    /// `block` or `drop-oldest`.
    pub policy: EdgePolicy,
}

impl EdgeConfig {
    /// Capacity and policy.
    pub fn spec(&self) -> EdgeSpec {
        EdgeSpec { capacity: self.capacity, policy: self.policy }
    }
}

impl PipelineConfig {
    /// Parses and validates TOML; `origin` names the text in errors (a path or `<default>`).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let config: Self =
            toml::from_str(text).map_err(|source| RuntimeError::ConfigParse { origin: origin.to_owned(), source })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| RuntimeError::Io { path: path.to_owned(), source })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The pipeline in `launch/pipeline.toml`.
    pub fn default_pipeline() -> Result<Self> {
        Self::from_toml_str(DEFAULT_PIPELINE_TOML, "launch/pipeline.toml")
    }

    /// Checks names, capacities, the clock rate and acyclicity; errors name the offending key.
    pub fn validate(&self) -> Result<()> {
        if self.runtime.clock == ClockKind::Replay && !(self.runtime.rate.is_finite() && self.runtime.rate > 0.0) {
            return Err(RuntimeError::invalid(
                "runtime.rate",
                format!("must be finite and > 0, got {}", self.runtime.rate),
            ));
        }
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, stage) in self.stages.iter().enumerate() {
            if stage.name.is_empty() {
                return Err(RuntimeError::invalid(format!("stage[{i}].name"), "must not be empty"));
            }
            if index.insert(stage.name.as_str(), i).is_some() {
                return Err(RuntimeError::DuplicateStage { key: format!("stage[{i}].name"), name: stage.name.clone() });
            }
        }
        let mut graph_edges = Vec::with_capacity(self.edges.len());
        for (i, e) in self.edges.iter().enumerate() {
            let lookup = |field: &str, name: &str| {
                index.get(name).copied().ok_or_else(|| RuntimeError::UnknownStage {
                    key: format!("edge[{i}].{field}"),
                    name: name.to_owned(),
                })
            };
            let from = lookup("from", &e.from)?;
            let to = lookup("to", &e.to)?;
            if e.capacity == 0 {
                return Err(RuntimeError::ZeroCapacity { key: format!("edge[{i}].capacity") });
            }
            graph_edges.push((from, to));
        }
        if let Some((edge_index, cycle)) = find_cycle(self.stages.len(), &graph_edges) {
            return Err(RuntimeError::Cycle {
                key: format!("edge[{edge_index}]"),
                stages: cycle.into_iter().map(|i| self.stages[i].name.clone()).collect(),
            });
        }
        Ok(())
    }

    /// Checks every stage's `kind` against those the host can build.
    pub fn validate_kinds(&self, known: &[&str]) -> Result<()> {
        for (i, stage) in self.stages.iter().enumerate() {
            if !known.contains(&stage.kind.as_str()) {
                return Err(RuntimeError::UnknownStageKind {
                    key: format!("stage[{i}].kind"),
                    kind: stage.kind.clone(),
                });
            }
        }
        Ok(())
    }

    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&StageConfig> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The edge `from -> to`.
    pub fn edge(&self, from: &str, to: &str) -> Option<&EdgeConfig> {
        self.edges.iter().find(|e| e.from == from && e.to == to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_STAGES: &str = r#"
        [[stage]]
        name = "source"
        kind = "mcap_replay"
        [[stage]]
        name = "sink"
        kind = "summary"
    "#;

    fn with_edges(edges: &str) -> String {
        format!("{TWO_STAGES}\n{edges}")
    }

    #[test]
    fn default_pipeline_parses_and_validates() {
        let config = PipelineConfig::default_pipeline().unwrap();
        assert!(config.stage("source").is_some());
        assert!(config.stage("sync").is_some());
        assert!(config.edge("source", "sync").is_some());
    }

    #[test]
    fn edge_to_unknown_stage_names_the_key() {
        let text = with_edges("[[edge]]\nfrom = \"source\"\nto = \"tracker\"\ncapacity = 4\npolicy = \"block\"");
        let err = PipelineConfig::from_toml_str(&text, "<test>").unwrap_err();
        assert!(
            matches!(&err, RuntimeError::UnknownStage { key, name } if key == "edge[0].to" && name == "tracker"),
            "{err}"
        );
    }

    #[test]
    fn zero_capacity_names_the_key() {
        let text = with_edges("[[edge]]\nfrom = \"source\"\nto = \"sink\"\ncapacity = 0\npolicy = \"drop-oldest\"");
        let err = PipelineConfig::from_toml_str(&text, "<test>").unwrap_err();
        assert!(matches!(&err, RuntimeError::ZeroCapacity { key } if key == "edge[0].capacity"), "{err}");
    }

    #[test]
    fn cycle_is_rejected_naming_the_closing_edge() {
        let text = with_edges(
            "[[edge]]\nfrom = \"source\"\nto = \"sink\"\ncapacity = 1\npolicy = \"block\"\n\
             [[edge]]\nfrom = \"sink\"\nto = \"source\"\ncapacity = 1\npolicy = \"block\"",
        );
        let err = PipelineConfig::from_toml_str(&text, "<test>").unwrap_err();
        match err {
            RuntimeError::Cycle { key, stages } => {
                assert_eq!(key, "edge[1]");
                assert_eq!(stages, ["source", "sink", "source"]);
            }
            other => panic!("expected a cycle error, got {other}"),
        }
    }

    #[test]
    fn duplicate_stage_and_unknown_kind_are_rejected() {
        let dup = format!("{TWO_STAGES}\n[[stage]]\nname = \"sink\"\nkind = \"x\"");
        let err = PipelineConfig::from_toml_str(&dup, "<test>").unwrap_err();
        assert!(matches!(&err, RuntimeError::DuplicateStage { key, .. } if key == "stage[2].name"), "{err}");
        let config = PipelineConfig::from_toml_str(TWO_STAGES, "<test>").unwrap();
        let err = config.validate_kinds(&["mcap_replay"]).unwrap_err();
        assert!(matches!(&err, RuntimeError::UnknownStageKind { key, .. } if key == "stage[1].kind"), "{err}");
    }

    #[test]
    fn unknown_policy_is_a_parse_error() {
        let text = with_edges("[[edge]]\nfrom = \"source\"\nto = \"sink\"\ncapacity = 1\npolicy = \"sometimes\"");
        assert!(matches!(PipelineConfig::from_toml_str(&text, "<test>"), Err(RuntimeError::ConfigParse { .. })));
    }
}
