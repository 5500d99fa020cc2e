//! Rig calibration: which sensors a vehicle carries, where they sit relative to `base_link`, and
//! their intrinsics.
//!
//! - [`Rig`] is the in-memory model, loaded from and saved to the TOML rig format (see
//!   [`rig`](self::rig) for the format and its conventions). Files live in `calibration/`.
//! - [`kitti`] imports the KITTI object (`calib/NNNNNN.txt`) and raw (`calib_*.txt`) calibrations,
//!   and parses KITTI object labels into [`Box3`](crate::Box3)s.
//! - [`nuscenes`] imports the sensor calibration of a nuScenes sample (`sample_info.json`).
//!
//! Every extrinsic is stored as `base_link_from_sensor`; [`Rig::transform`] chains two of them
//! (e.g. `camera_front_from_lidar = base_link_from_camera_front⁻¹ · base_link_from_lidar`).
//! Camera frames are *optical* frames: x right, y down, z forward (OpenCV, REP-103 `_optical`).

pub mod kitti;
pub mod nuscenes;
pub mod rig;

pub use rig::{CameraModel, Distortion, LidarModel, Rig, Sensor, SensorKind};

use crate::{CoreError, Result};
use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};
use std::path::Path;

/// Largest `|RᵀR − I|` (element-wise) and `|det R − 1|` accepted for a rotation written in a rig
/// file. Imported vendor calibrations, printed to 7 significant digits, get [`IMPORT_ORTHO_TOL`].
pub const RIG_ORTHO_TOL: f64 = 1e-6;
/// Orthonormality tolerance for rotations read from vendor calibration files (KITTI prints 7
/// significant digits, nuScenes matrices are float32).
pub const IMPORT_ORTHO_TOL: f64 = 1e-5;

pub(crate) fn calib_err(path: &Path, key: impl Into<String>, why: impl Into<String>) -> CoreError {
    CoreError::Calibration { path: path.to_path_buf(), key: key.into(), why: why.into() }
}

/// Checks that `m` is a proper rotation within `tol` and returns the nearest exact rotation
/// (polar decomposition by SVD), so that tiny printing errors do not make the isometry non-rigid.
pub(crate) fn rotation_from_matrix(m: &Matrix3<f64>, tol: f64, path: &Path, key: &str) -> Result<Rotation3<f64>> {
    if m.iter().any(|v| !v.is_finite()) {
        return Err(calib_err(path, key, "rotation has a non-finite entry"));
    }
    let ortho_err = (m.transpose() * m - Matrix3::identity()).abs().max();
    if ortho_err > tol {
        return Err(calib_err(
            path,
            key,
            format!("rotation is not orthonormal: max |RᵀR − I| = {ortho_err:.3e} > {tol:e}"),
        ));
    }
    let det = m.determinant();
    if (det - 1.0).abs() > tol {
        return Err(calib_err(path, key, format!("rotation has determinant {det:.6}, expected +1 (a reflection?)")));
    }
    let svd = m.svd(true, true);
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return Err(calib_err(path, key, "SVD of the rotation failed"));
    };
    Ok(Rotation3::from_matrix_unchecked(u * v_t))
}

/// An isometry from a (near-)rotation matrix and a translation in metres.
pub(crate) fn isometry_from_matrix(
    r: &Matrix3<f64>,
    t: &Vector3<f64>,
    tol: f64,
    path: &Path,
    key: &str,
) -> Result<Isometry3<f64>> {
    let rot = rotation_from_matrix(r, tol, path, key)?;
    if t.iter().any(|v| !v.is_finite()) {
        return Err(calib_err(path, key, "translation has a non-finite entry"));
    }
    Ok(Isometry3::from_parts(Translation3::from(*t), UnitQuaternion::from_rotation_matrix(&rot)))
}
