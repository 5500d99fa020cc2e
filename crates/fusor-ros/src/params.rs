//! The node's parameters, read from a ROS 2 parameters file:
//!
//! ```yaml
//! /fusor:
//!   ros__parameters:
//!     topics:
//!       points: /sensing/lidar/points
//! ```
//!
//! The node's section is found under `/<name>`, `<name>` or `/**`; every key is optional
//! (defaults below) but an unknown key or an invalid value is an error naming it, so a typo
//! never silently falls back to a default.

use crate::{Result, RosError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Topic names (absolute ROS names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Topics {
    /// sensor_msgs/PointCloud2 input.
    pub points: String,
    /// sensor_msgs/Image input.
    pub image: String,
    /// sensor_msgs/CompressedImage input.
    pub compressed_image: String,
    /// sensor_msgs/CameraInfo input.
    pub camera_info: String,
    /// sensor_msgs/NavSatFix input.
    pub gnss: String,
    /// sensor_msgs/Imu input.
    pub imu: String,
    /// tf2_msgs/TFMessage static transforms input (transient-local).
    pub tf_static: String,
    /// vision_msgs/Detection3DArray output.
    pub obstacles: String,
    /// vision_msgs/Detection3DArray output with track ids in `id`.
    pub tracks: String,
    /// visualization_msgs/MarkerArray output.
    pub markers: String,
    /// nav_msgs/Path output (transient-local).
    pub route: String,
    /// nav_msgs/Path output.
    pub local_path: String,
    /// geometry_msgs/PoseStamped input: a new goal for the route (in `map`).
    pub goal: String,
    /// tf2_msgs/TFMessage output (map → base_link).
    pub tf: String,
    /// diagnostic_msgs/DiagnosticArray output.
    pub diagnostics: String,
    /// More cameras beside the one above (a surround rig), each a namespace `ns` under which the
    /// node subscribes `ns/image_raw`, `ns/image_raw/compressed` and `ns/camera_info`. The pipeline
    /// tells the cameras apart by their frame ids; its `sync` stage lists the ones it uses.
    pub extra_cameras: Vec<String>,
}

/// One extra camera's input topics ([`Topics::extra_cameras`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraTopics {
    /// The namespace's last name (`front_left` for `/sensing/camera/front_left`): the camera's
    /// inputs are keyed `image.front_left`, `compressed_image.front_left`, `camera_info.front_left`.
    pub name: String,
    /// sensor_msgs/Image input.
    pub image: String,
    /// sensor_msgs/CompressedImage input.
    pub compressed_image: String,
    /// sensor_msgs/CameraInfo input.
    pub camera_info: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            points: "/sensing/lidar/points".into(),
            image: "/sensing/camera/front/image_raw".into(),
            compressed_image: "/sensing/camera/front/image_raw/compressed".into(),
            camera_info: "/sensing/camera/front/camera_info".into(),
            gnss: "/sensing/gnss/fix".into(),
            imu: "/sensing/imu".into(),
            tf_static: "/tf_static".into(),
            obstacles: "/perception/obstacles".into(),
            tracks: "/perception/tracks".into(),
            markers: "/perception/markers".into(),
            route: "/planning/route".into(),
            local_path: "/planning/local_path".into(),
            goal: "/planning/goal".into(),
            tf: "/tf".into(),
            diagnostics: "/diagnostics".into(),
            extra_cameras: Vec::new(),
        }
    }
}

impl Topics {
    /// The topics of each extra camera, in order.
    pub fn extra_camera_topics(&self) -> Vec<CameraTopics> {
        self.extra_cameras
            .iter()
            .map(|ns| CameraTopics {
                name: ns.rsplit('/').next().unwrap_or(ns).to_owned(),
                image: format!("{ns}/image_raw"),
                compressed_image: format!("{ns}/image_raw/compressed"),
                camera_info: format!("{ns}/camera_info"),
            })
            .collect()
    }

    fn all(&self) -> [(&'static str, &String); 15] {
        [
            ("points", &self.points),
            ("image", &self.image),
            ("compressed_image", &self.compressed_image),
            ("camera_info", &self.camera_info),
            ("gnss", &self.gnss),
            ("imu", &self.imu),
            ("tf_static", &self.tf_static),
            ("obstacles", &self.obstacles),
            ("tracks", &self.tracks),
            ("markers", &self.markers),
            ("route", &self.route),
            ("local_path", &self.local_path),
            ("goal", &self.goal),
            ("tf", &self.tf),
            ("diagnostics", &self.diagnostics),
        ]
    }

    fn all_mut(&mut self) -> [&mut String; 15] {
        [
            &mut self.points,
            &mut self.image,
            &mut self.compressed_image,
            &mut self.camera_info,
            &mut self.gnss,
            &mut self.imu,
            &mut self.tf_static,
            &mut self.obstacles,
            &mut self.tracks,
            &mut self.markers,
            &mut self.route,
            &mut self.local_path,
            &mut self.goal,
            &mut self.tf,
            &mut self.diagnostics,
        ]
    }
}

/// Most extra cameras a node takes (the detector takes at most 16 in all).
pub const MAX_EXTRA_CAMERAS: usize = 15;

/// Frame ids (REP-105).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Frames {
    /// The world frame (ENU at the first fix or the configured origin).
    pub map: String,
    /// The vehicle body frame.
    pub base_link: String,
}

impl Default for Frames {
    fn default() -> Self {
        Self { map: "map".into(), base_link: "base_link".into() }
    }
}

/// Subscription QoS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SensorQos {
    /// `best_effort` (ROS sensor-data default) or `reliable`.
    pub reliability: String,
    /// Keep-last depth.
    pub depth: i64,
}

impl Default for SensorQos {
    fn default() -> Self {
        Self { reliability: "best_effort".into(), depth: 5 }
    }
}

/// Health reporting.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Diagnostics {
    /// Publication period in seconds.
    pub period_s: f64,
    /// A sensor silent this long is STALE (seconds).
    pub stale_after_s: f64,
    /// A sensor below this fraction of its expected rate is WARN.
    pub min_rate_fraction: f64,
    /// Expected rates in Hz per input (`points`, `gnss`, ...); inputs not listed are not rated.
    pub expected_rate_hz: BTreeMap<String, f64>,
}

impl Default for Diagnostics {
    fn default() -> Self {
        Self {
            period_s: 1.0,
            stale_after_s: 1.0,
            min_rate_fraction: 0.5,
            expected_rate_hz: BTreeMap::from([("points".into(), 10.0), ("gnss".into(), 10.0)]),
        }
    }
}

/// Everything `fusor node` reads from its parameters file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeParams {
    /// Topic names.
    pub topics: Topics,
    /// Frame ids.
    pub frames: Frames,
    /// Subscription QoS of the sensor inputs.
    pub sensor_qos: SensorQos,
    /// Health reporting.
    pub diagnostics: Diagnostics,
    /// The runtime graph file (`launch/pipeline.toml` layout), relative to the working directory.
    pub pipeline: Option<String>,
    /// Replay/ROS clock: use header stamps (`true`) or receive time for latency.
    pub use_sim_time: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSection {
    #[serde(rename = "ros__parameters")]
    ros_parameters: serde_norway::Value,
}

impl NodeParams {
    /// Reads `path` and takes the section of node `node_name` (`/name`, `name` or `/**`).
    pub fn from_file(path: &Path, node_name: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RosError::Params { path: path.display().to_string(), why: e.to_string() })?;
        Self::from_yaml(&text, node_name).map_err(|e| match e {
            RosError::Params { why, .. } => RosError::Params { path: path.display().to_string(), why },
            other => other,
        })
    }

    /// Parses parameters-file text (see [`NodeParams::from_file`]).
    pub fn from_yaml(text: &str, node_name: &str) -> Result<Self> {
        let err = |why: String| RosError::Params { path: "<inline>".into(), why };
        let sections: BTreeMap<String, serde_norway::Value> =
            serde_norway::from_str(text).map_err(|e| err(format!("not a ROS 2 parameters file: {e}")))?;
        let name = node_name.trim_start_matches('/');
        let candidates = [format!("/{name}"), name.to_owned(), "/**".to_owned()];
        let Some((key, section)) = candidates.iter().find_map(|k| sections.get(k).map(|s| (k, s))) else {
            let found: Vec<&String> = sections.keys().collect();
            return Err(err(format!("no section for node /{name} (looked for /{name}, {name}, /**; found {found:?})")));
        };
        let section: NodeSection = serde_norway::from_value(section.clone())
            .map_err(|e| err(format!("{key}: expected only `ros__parameters`: {e}")))?;
        // The path of the offending key goes in the message (`topics.extra_cameras: invalid type`).
        let params: NodeParams = serde_path_to_error::deserialize(section.ros_parameters).map_err(|e| {
            let at = e.path().to_string();
            let at = if at == "." { String::new() } else { format!(".{at}") };
            err(format!("{key}.ros__parameters{at}: {}", e.inner()))
        })?;
        params.validate().map_err(|why| err(format!("{key}.ros__parameters.{why}")))?;
        Ok(params)
    }

    /// Checks values: absolute topic names, known reliability, positive periods and depths.
    fn validate(&self) -> std::result::Result<(), String> {
        let absolute =
            |name: &str| name.starts_with('/') && !name.contains("//") && !name.ends_with('/') && !name.contains(' ');
        for (key, topic) in self.topics.all() {
            if !absolute(topic) {
                return Err(format!("topics.{key}: {topic:?} is not an absolute ROS topic name"));
            }
        }
        if self.topics.extra_cameras.len() > MAX_EXTRA_CAMERAS {
            return Err(format!(
                "topics.extra_cameras: {} cameras, at most {MAX_EXTRA_CAMERAS}",
                self.topics.extra_cameras.len()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (ns, camera) in self.topics.extra_cameras.iter().zip(self.topics.extra_camera_topics()) {
            if !absolute(ns) {
                return Err(format!("topics.extra_cameras: {ns:?} is not an absolute ROS namespace"));
            }
            if !names.insert(camera.name.clone()) {
                return Err(format!("topics.extra_cameras: two cameras named {:?} ({ns})", camera.name));
            }
            let front = [&self.topics.image, &self.topics.compressed_image, &self.topics.camera_info];
            if front.contains(&&camera.image) || front.contains(&&camera.camera_info) {
                return Err(format!("topics.extra_cameras: {ns} is the front camera's namespace"));
            }
        }
        if !matches!(self.sensor_qos.reliability.as_str(), "best_effort" | "reliable") {
            return Err(format!(
                "sensor_qos.reliability: {:?} is not best_effort or reliable",
                self.sensor_qos.reliability
            ));
        }
        if !(1..=1000).contains(&self.sensor_qos.depth) {
            return Err(format!("sensor_qos.depth: {} is not in 1..=1000", self.sensor_qos.depth));
        }
        for (key, v) in [
            ("diagnostics.period_s", self.diagnostics.period_s),
            ("diagnostics.stale_after_s", self.diagnostics.stale_after_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{key}: {v} is not a positive number of seconds"));
            }
        }
        if !(0.0..=1.0).contains(&self.diagnostics.min_rate_fraction) {
            return Err(format!(
                "diagnostics.min_rate_fraction: {} is not in 0..=1",
                self.diagnostics.min_rate_fraction
            ));
        }
        let inputs = ["points", "image", "compressed_image", "camera_info", "gnss", "imu"];
        for (input, hz) in &self.diagnostics.expected_rate_hz {
            if !inputs.contains(&input.as_str()) {
                return Err(format!("diagnostics.expected_rate_hz.{input}: unknown input (one of {inputs:?})"));
            }
            if !(hz.is_finite() && *hz > 0.0) {
                return Err(format!("diagnostics.expected_rate_hz.{input}: {hz} is not a positive rate"));
            }
        }
        Ok(())
    }

    /// Applies `from:=to` remaps (ROS 2 `--remap` syntax) to every topic equal to `from`;
    /// a remap matching no topic is an error.
    pub fn apply_remaps(&mut self, remaps: &[String]) -> Result<()> {
        for remap in remaps {
            let Some((from, to)) = remap.split_once(":=") else {
                return Err(RosError::Params { path: "--remap".into(), why: format!("{remap:?} is not from:=to") });
            };
            if !to.starts_with('/') {
                return Err(RosError::Params {
                    path: "--remap".into(),
                    why: format!("{remap:?}: target must be absolute"),
                });
            }
            let mut hit = false;
            let mut rename = |name: &mut String| {
                if name == from {
                    *name = to.to_owned();
                    hit = true;
                }
            };
            // Topics, then extra camera namespaces (renamed like topics).
            self.topics.all_mut().into_iter().for_each(&mut rename);
            self.topics.extra_cameras.iter_mut().for_each(rename);
            if !hit {
                return Err(RosError::Params {
                    path: "--remap".into(),
                    why: format!("{remap:?}: no topic named {from}"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_node_section_and_keeps_defaults_for_missing_keys() {
        let p = NodeParams::from_yaml(
            "/fusor:\n  ros__parameters:\n    topics:\n      points: /lidar/top\n    diagnostics:\n      period_s: 0.5\n",
            "fusor",
        )
        .unwrap();
        assert_eq!(p.topics.points, "/lidar/top");
        assert_eq!(p.topics.gnss, "/sensing/gnss/fix");
        assert_eq!(p.diagnostics.period_s, 0.5);
    }

    #[test]
    fn rejects_an_unknown_key_naming_it() {
        let e =
            NodeParams::from_yaml("/fusor:\n  ros__parameters:\n    topics:\n      pionts: /x\n", "fusor").unwrap_err();
        assert!(e.to_string().contains("pionts"), "{e}");
    }

    #[test]
    fn rejects_an_invalid_value_naming_the_key() {
        let e = NodeParams::from_yaml("/fusor:\n  ros__parameters:\n    sensor_qos:\n      depth: 0\n", "fusor")
            .unwrap_err();
        assert!(e.to_string().contains("sensor_qos.depth"), "{e}");
        let e = NodeParams::from_yaml("fusor:\n  ros__parameters:\n    topics:\n      tf: relative\n", "fusor")
            .unwrap_err();
        assert!(e.to_string().contains("topics.tf"), "{e}");
    }

    #[test]
    fn remaps_rename_topics_and_reject_unknown_sources() {
        let mut p = NodeParams::default();
        p.apply_remaps(&["/sensing/gnss/fix:=/gps/fix".into()]).unwrap();
        assert_eq!(p.topics.gnss, "/gps/fix");
        assert!(p.apply_remaps(&["/nope:=/x".into()]).is_err());
    }

    #[test]
    fn the_committed_params_files_are_valid() {
        let launch = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../launch");
        assert!(NodeParams::from_file(&launch.join("fusor.params.yaml"), "fusor")
            .unwrap()
            .topics
            .extra_cameras
            .is_empty());
        let surround = NodeParams::from_file(&launch.join("fusor-surround.params.yaml"), "fusor").unwrap();
        let names: Vec<String> = surround.topics.extra_camera_topics().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["front_left", "front_right"]);
    }

    #[test]
    fn extra_cameras_are_namespaces_with_three_topics_each_and_bad_ones_are_named() {
        let yaml = |cams: &str| format!("/fusor:\n  ros__parameters:\n    topics:\n      extra_cameras: {cams}\n");
        let p = NodeParams::from_yaml(&yaml("[/cam/left, /rig/right]"), "fusor").unwrap();
        let cams = p.topics.extra_camera_topics();
        assert_eq!(cams[0].name, "left");
        assert_eq!(cams[0].image, "/cam/left/image_raw");
        assert_eq!(cams[0].compressed_image, "/cam/left/image_raw/compressed");
        assert_eq!(cams[1].camera_info, "/rig/right/camera_info");
        for (bad, why) in [
            ("[cam/left]", "not an absolute"),
            ("[/cam/left/]", "not an absolute"),
            ("[/a/left, /b/left]", "two cameras named \"left\""),
            ("[/sensing/camera/front]", "front camera"),
            ("/cam/left", "extra_cameras"),
        ] {
            let e = NodeParams::from_yaml(&yaml(bad), "fusor").unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("extra_cameras"), "{bad}: {e}");
        }
        let many: Vec<String> = (0..16).map(|i| format!("/c{i}")).collect();
        let e = NodeParams::from_yaml(&yaml(&format!("[{}]", many.join(", "))), "fusor").unwrap_err();
        assert!(e.to_string().contains("at most 15"), "{e}");
        // A remap renames a namespace like a topic.
        let mut p = p;
        p.apply_remaps(&["/cam/left:=/cam/port".into()]).unwrap();
        assert_eq!(p.topics.extra_camera_topics()[0].image, "/cam/port/image_raw");
    }
}
