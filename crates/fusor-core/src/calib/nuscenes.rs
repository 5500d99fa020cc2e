//! nuScenes sample calibration importer (the `sample_info.json` re-encoding of an mmdet3d info
//! record: `lidar.lidar2ego`, `cameras.<CHANNEL>.{cam2ego, cam2img, image_size}`).
//!
//! Frames: `base_link` is the nuScenes ego frame (x forward, y left, z up, on the ground under
//! the rear axle); `lidar` is LIDAR_TOP (x right, y forward, z up); each `CAM_*` channel becomes
//! `camera_*` in lower case (`CAM_FRONT_LEFT` → `camera_front_left`), an OpenCV optical frame.
//! nuScenes images are undistorted, so distortion is `none`.
//!
//! The rig is static: `rig.transform("camera_front", "lidar")` is `cam2ego⁻¹ · lidar2ego`. The
//! sample's own `lidar2cam` also contains the ego motion between the lidar and camera timestamps
//! (up to ~0.4 m), which no static calibration can hold; see [`lidar2cam_at_capture`].

use super::IMPORT_ORTHO_TOL;
use super::{calib_err, isometry_from_matrix, CameraModel, Distortion, LidarModel, Rig, Sensor, SensorKind};
use crate::{CoreError, FrameId, Result, Transform};
use nalgebra::{Isometry3, Matrix3, Matrix4, Vector3};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn load_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| CoreError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| calib_err(path, format!("(json syntax, line {})", e.line()), e.to_string()))
}

fn get<'v>(v: &'v Value, key: &str, prefix: &str, path: &Path) -> Result<&'v Value> {
    v.get(key).ok_or_else(|| calib_err(path, join(prefix, key), "missing"))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A `R × C` row-major matrix given as nested JSON arrays.
fn matrix(v: &Value, rows: usize, cols: usize, key: &str, path: &Path) -> Result<Vec<f64>> {
    let outer = v.as_array().ok_or_else(|| calib_err(path, key, "expected an array of rows"))?;
    if outer.len() != rows {
        return Err(calib_err(path, key, format!("expected {rows} rows, found {}", outer.len())));
    }
    let mut out = Vec::with_capacity(rows * cols);
    for (r, row) in outer.iter().enumerate() {
        let row = row.as_array().ok_or_else(|| calib_err(path, format!("{key}[{r}]"), "expected an array"))?;
        if row.len() != cols {
            return Err(calib_err(
                path,
                format!("{key}[{r}]"),
                format!("expected {cols} numbers, found {}", row.len()),
            ));
        }
        for (c, x) in row.iter().enumerate() {
            match x.as_f64() {
                Some(x) if x.is_finite() => out.push(x),
                _ => return Err(calib_err(path, format!("{key}[{r}][{c}]"), format!("{x} is not a finite number"))),
            }
        }
    }
    Ok(out)
}

/// A 4×4 homogeneous rigid transform (last row must be `[0, 0, 0, 1]`).
fn rigid(v: &Value, key: &str, path: &Path) -> Result<Isometry3<f64>> {
    let m = Matrix4::from_row_slice(&matrix(v, 4, 4, key, path)?);
    if (m.row(3) - nalgebra::RowVector4::new(0.0, 0.0, 0.0, 1.0)).abs().max() > 1e-9 {
        return Err(calib_err(path, key, "last row must be [0, 0, 0, 1]"));
    }
    let r: Matrix3<f64> = m.fixed_view::<3, 3>(0, 0).into_owned();
    let t: Vector3<f64> = m.fixed_view::<3, 1>(0, 3).into_owned();
    isometry_from_matrix(&r, &t, IMPORT_ORTHO_TOL, path, key)
}

/// The rig frame of a nuScenes camera channel: `CAM_FRONT_LEFT` → `camera_front_left`.
pub fn camera_frame(channel: &str) -> String {
    let lower = channel.to_ascii_lowercase();
    match lower.strip_prefix("cam_") {
        Some(rest) => format!("camera_{rest}"),
        None => lower,
    }
}

/// Imports the lidar and camera calibration of a nuScenes `sample_info.json` as a rig named
/// `nuscenes-<log>` (or `nuscenes` without a `dataset` entry).
pub fn import_nuscenes_sample(path: impl AsRef<Path>) -> Result<Rig> {
    let path = path.as_ref();
    let root = load_json(path)?;
    let lidar = get(&root, "lidar", "", path)?;
    let base_link_from_lidar = rigid(get(lidar, "lidar2ego", "lidar", path)?, "lidar.lidar2ego", path)?;
    let hdl32 = LidarModel {
        beams: Some(32),
        vertical_fov_deg: Some([-30.67, 10.67]),
        rate_hz: Some(20.0),
        max_range_m: Some(70.0),
    };
    let mut sensors = BTreeMap::from([(
        "lidar".to_owned(),
        Sensor {
            frame_id: FrameId::new("lidar"),
            base_link_from_sensor: base_link_from_lidar,
            kind: SensorKind::Lidar(hdl32),
        },
    )]);
    let cameras = get(&root, "cameras", "", path)?
        .as_object()
        .ok_or_else(|| calib_err(path, "cameras", "expected an object of camera channels"))?;
    for (channel, cam) in cameras {
        let prefix = format!("cameras.{channel}");
        let base_link_from_camera = rigid(get(cam, "cam2ego", &prefix, path)?, &join(&prefix, "cam2ego"), path)?;
        let k_key = join(&prefix, "cam2img");
        let k = Matrix3::from_row_slice(&matrix(get(cam, "cam2img", &prefix, path)?, 3, 3, &k_key, path)?);
        let size_key = join(&prefix, "image_size");
        let size = get(cam, "image_size", &prefix, path)?
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).filter_map(|v| u32::try_from(v).ok()).collect::<Vec<_>>())
            .unwrap_or_default();
        let [width, height] = size[..] else {
            return Err(calib_err(path, size_key, "expected [width, height] as two non-negative integers"));
        };
        let frame = camera_frame(channel);
        sensors.insert(
            frame.clone(),
            Sensor {
                frame_id: FrameId::new(frame),
                base_link_from_sensor: base_link_from_camera,
                kind: SensorKind::Camera(CameraModel { width, height, k, distortion: Distortion::None }),
            },
        );
    }
    let log = root.get("dataset").and_then(Value::as_str).and_then(|d| d.split("log ").nth(1));
    let name = match log {
        Some(l) => format!("nuscenes-{}", l.trim_end_matches(|c: char| c == ')' || c.is_whitespace())),
        None => "nuscenes".to_owned(),
    };
    let rig = Rig { name, sensors };
    rig.validate(path)?;
    Ok(rig)
}

/// The sample's per-camera `lidar2cam` (`camera_*_from_lidar` including the ego motion between
/// the lidar sweep and the camera exposure), keyed by camera frame. This is the transform that
/// reproduces the sample's 2D box centres; it is per-sample data, not calibration.
pub fn lidar2cam_at_capture(path: impl AsRef<Path>) -> Result<BTreeMap<String, Transform>> {
    let path = path.as_ref();
    let root = load_json(path)?;
    let cameras = get(&root, "cameras", "", path)?
        .as_object()
        .ok_or_else(|| calib_err(path, "cameras", "expected an object of camera channels"))?;
    let mut out = BTreeMap::new();
    for (channel, cam) in cameras {
        let prefix = format!("cameras.{channel}");
        let iso = rigid(get(cam, "lidar2cam", &prefix, path)?, &join(&prefix, "lidar2cam"), path)?;
        let frame = camera_frame(channel);
        out.insert(frame.clone(), Transform::new(frame.as_str(), "lidar", iso));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_channels_map_to_lower_case_frames() {
        assert_eq!(camera_frame("CAM_FRONT_LEFT"), "camera_front_left");
        assert_eq!(camera_frame("CAM_BACK"), "camera_back");
    }

    #[test]
    fn rejects_transform_with_three_rows_naming_the_key() {
        let v: Value = serde_json::from_str("[[1,0,0,0],[0,1,0,0],[0,0,1,0]]").unwrap();
        let err = rigid(&v, "lidar.lidar2ego", Path::new("s.json")).unwrap_err();
        assert!(matches!(err, CoreError::Calibration { ref key, .. } if key == "lidar.lidar2ego"), "{err}");
    }

    #[test]
    fn rejects_null_entry_naming_the_element() {
        let v: Value = serde_json::from_str("[[1,0,0,0],[0,1,0,null],[0,0,1,0],[0,0,0,1]]").unwrap();
        let err = rigid(&v, "cameras.CAM_BACK.cam2ego", Path::new("s.json")).unwrap_err();
        assert!(
            matches!(err, CoreError::Calibration { ref key, .. } if key == "cameras.CAM_BACK.cam2ego[1][3]"),
            "{err}"
        );
    }
}
