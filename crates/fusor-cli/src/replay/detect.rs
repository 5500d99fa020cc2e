//! The `detect` stage: the fused camera + lidar network (`fusor-detect`, libtorch) on each fused
//! frame, in place of (or beside) the geometric `perceive` stage. Same ports: `FusedFrame` →
//! `PerceivedFrame`, detections in `base_link`, so `track` and `plan` take either.
//!
//! The weights are loaded once per stage instance on `Device::cuda_if_available()` (fp32), warmed
//! up, and never reallocated per frame. A frame the network cannot take (cloud in another frame)
//! is passed on without detections and with the error, counted by the summary.

use super::perceive::PerceivedFrame;
use anyhow::Context;
use fusor_align::FusedFrame;
use fusor_detect::Detector;
use fusor_runtime::{Msg, Outbox, Stage};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `params` of a `detect` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectParams {
    /// Weights written by `fusor train` (safetensors with the model configuration inside). A
    /// relative path is resolved against the pipeline file's folder.
    pub weights: PathBuf,
    /// Throw-away frames run at start (first-call allocations, kernel selection).
    #[serde(default = "default_warm_up")]
    pub warm_up: usize,
    /// libtorch intra-op threads (default: libtorch's choice).
    #[serde(default)]
    pub threads: Option<i32>,
    /// Use the camera when the model's mode does (false: lidar input only, as with a dead camera).
    #[serde(default = "default_true")]
    pub use_camera: bool,
}

fn default_warm_up() -> usize {
    2
}

fn default_true() -> bool {
    true
}

impl DetectParams {
    /// Resolves the weights path against `base_dir` and checks that the file loads.
    pub fn prepare(mut self, base_dir: &Path) -> anyhow::Result<Self> {
        if self.weights.is_relative() {
            self.weights = base_dir.join(&self.weights);
        }
        if let Some(n) = self.threads {
            anyhow::ensure!(n > 0, "threads must be > 0, got {n}");
        }
        Detector::load(&self.weights, tch::Device::Cpu)
            .with_context(|| format!("weights {}", self.weights.display()))?;
        Ok(self)
    }
}

/// The network as a graph stage.
pub struct DetectStage {
    /// `Err` when the weights could not be loaded at (re)start: frames pass with that error.
    detector: Result<Detector, String>,
    use_camera: bool,
}

impl std::fmt::Debug for DetectStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = self.detector.as_ref().map(|d| d.config().mode.to_string());
        f.debug_struct("DetectStage").field("mode", &mode).finish()
    }
}

impl DetectStage {
    /// Loads the weights on CUDA when available, else the CPU, and warms up.
    pub fn new(params: &DetectParams) -> anyhow::Result<Self> {
        if let Some(n) = params.threads {
            tch::set_num_threads(n);
        }
        let device = tch::Device::cuda_if_available();
        let detector =
            Detector::load(&params.weights, device).with_context(|| format!("weights {}", params.weights.display()))?;
        detector.warm_up(params.warm_up);
        tracing::info!(mode = %detector.config().mode, ?device, "detect stage ready");
        Ok(Self { detector: Ok(detector), use_camera: params.use_camera })
    }

    /// A stage that could not load its weights (e.g. the file changed after the start-up check,
    /// or the GPU ran out of memory): every frame passes without detections and with `why`.
    pub fn failed(why: String) -> Self {
        tracing::error!("detect stage without a network: {why}");
        Self { detector: Err(why), use_camera: false }
    }
}

impl Stage for DetectStage {
    type In = FusedFrame;
    type Out = PerceivedFrame;

    fn on_msg(&mut self, msg: Msg<FusedFrame>, out: &mut Outbox<'_, PerceivedFrame>) {
        let fused = &msg.payload;
        // Every camera with a calibration: a surround rig's views all reach the network.
        let cameras: Vec<_> = fused
            .cameras
            .iter()
            .filter(|_| self.use_camera)
            .filter_map(|c| {
                let camera_from_base_link = c.base_link_from_camera?.inverse();
                Some((c.image.clone(), c.model.clone()?, camera_from_base_link))
            })
            .collect();
        let cameras: Vec<_> = cameras.iter().map(|(image, model, pose)| (&**image, &**model, pose)).collect();
        let result = match &self.detector {
            Ok(detector) => detector.detect(&fused.cloud_in_base_link, &cameras).map_err(|e| e.to_string()),
            Err(why) => Err(why.clone()),
        };
        let (detections, error) = match result {
            Ok(d) => (d, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        out.send(msg.map(|fused| PerceivedFrame {
            fused,
            detections: Arc::new(detections),
            stats: None,
            error,
            tracks: None,
            plan: None,
        }));
    }
}
