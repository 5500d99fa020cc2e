//! The simulated sensor rig: mounts (`base_link_from_<sensor>`) and camera intrinsics.
//!
//! The rig comes from a project rig file (`fusor_core::calib`), by default
//! `calibration/sim-rig.toml`; [`SimRig::default`] is the same rig built in.

use crate::{Result, SimError};
use fusor_core::calib::{CameraModel, Distortion, LidarModel, Rig, Sensor, SensorKind};
use fusor_core::transform::isometry_from_xyz_rpy;
use fusor_core::Transform;
use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion};

/// Frame of the lidar.
pub const LIDAR_FRAME: &str = "lidar";
/// Optical frame of the front camera (z forward, x right, y down).
pub const CAMERA_FRAME: &str = "camera_front";
/// Optical frames of the side cameras of the surround rig ([`SimRig::surround_cameras`]).
pub const SIDE_CAMERA_FRAMES: [&str; 2] = ["camera_front_left", "camera_front_right"];
/// How far the surround rig's side cameras are turned from straight ahead (left, right).
pub const SIDE_CAMERA_YAW_DEG: f64 = 60.0;
/// Frame of the GNSS antenna.
pub const GNSS_FRAME: &str = "gnss";
/// Frame of the IMU.
pub const IMU_FRAME: &str = "imu";

/// Pinhole intrinsics with plumb-bob distortion (the ROS `CameraInfo` model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraIntrinsics {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Focal length along x in pixels.
    pub fx: f64,
    /// Focal length along y in pixels.
    pub fy: f64,
    /// Principal point x in pixels.
    pub cx: f64,
    /// Principal point y in pixels.
    pub cy: f64,
    /// Plumb-bob distortion `[k1, k2, p1, p2, k3]`.
    pub distortion: [f64; 5],
}

impl CameraIntrinsics {
    /// KITTI's left colour camera (rectified, 1242 × 375).
    pub const KITTI: CameraIntrinsics = CameraIntrinsics {
        width: 1242,
        height: 375,
        fx: 721.5377,
        fy: 721.5377,
        cx: 609.5593,
        cy: 172.854,
        distortion: [0.0; 5],
    };

    fn distort(&self, x: f64, y: f64) -> (f64, f64) {
        let [k1, k2, p1, p2, k3] = self.distortion;
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
        (
            x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
            y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y,
        )
    }

    /// Pixel (u, v) of a point in the camera optical frame (m), `None` behind the camera.
    /// ROS convention: integer coordinates are pixel centres (u = 0 is the first column's centre).
    pub fn project(&self, p: [f64; 3]) -> Option<[f64; 2]> {
        if p[2] <= 1e-6 {
            return None;
        }
        let (x, y) = self.distort(p[0] / p[2], p[1] / p[2]);
        Some([self.fx * x + self.cx, self.fy * y + self.cy])
    }

    /// Unit ray (optical frame) through pixel (u, v), undoing the distortion iteratively.
    pub fn ray(&self, u: f64, v: f64) -> [f64; 3] {
        let (xd, yd) = ((u - self.cx) / self.fx, (v - self.cy) / self.fy);
        let (mut x, mut y) = (xd, yd);
        if self.distortion.iter().any(|&k| k != 0.0) {
            for _ in 0..20 {
                let (dx, dy) = self.distort(x, y);
                x += xd - dx;
                y += yd - dy;
            }
        }
        let n = (x * x + y * y + 1.0).sqrt();
        [x / n, y / n, 1.0 / n]
    }

    /// The 3 × 4 projection matrix `P = [K | 0]` (row-major), as in `CameraInfo.p`.
    pub fn projection_matrix(&self) -> [f64; 12] {
        [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    }
}

/// The rig of the simulated car: mounts as `base_link_from_<sensor>` and the camera model.
/// Read from and written to the project's rig file format ([`fusor_core::calib::Rig`]), which must
/// hold sensors with frames `lidar`, `camera_front`, `gnss` and `imu`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRig {
    /// `base_link_from_lidar`.
    pub base_link_from_lidar: Isometry3<f64>,
    /// `base_link_from_camera_front` (optical frame).
    pub base_link_from_camera: Isometry3<f64>,
    /// Front camera intrinsics.
    pub camera_intrinsics: CameraIntrinsics,
    /// `base_link_from_gnss` (antenna).
    pub base_link_from_gnss: Isometry3<f64>,
    /// `base_link_from_imu`. The IMU model reports `base_link` motion rotated into this mount;
    /// lever-arm effects are not modelled.
    pub base_link_from_imu: Isometry3<f64>,
    /// The lidar's spec from the rig file (overrides the scenario's values where given).
    pub lidar_model: LidarModel,
}

impl Default for SimRig {
    /// KITTI-like: lidar 1.73 m up, camera 1.65 m up looking forward, GNSS antenna on the roof.
    fn default() -> Self {
        let camera_body = isometry_from_xyz_rpy([1.07, 0.0, 1.65], [0.0; 3]);
        Self {
            base_link_from_lidar: isometry_from_xyz_rpy([0.8, 0.0, 1.73], [0.0; 3]),
            base_link_from_camera: Isometry3::from_parts(
                camera_body.translation,
                camera_body.rotation * body_from_optical(),
            ),
            camera_intrinsics: CameraIntrinsics::KITTI,
            base_link_from_gnss: isometry_from_xyz_rpy([0.0, 0.0, 1.9], [0.0; 3]),
            base_link_from_imu: Isometry3::identity(),
            lidar_model: LidarModel::default(),
        }
    }
}

/// `body_from_optical`: optical z forward, x right, y down in a body frame x forward, y left, z up.
pub fn body_from_optical() -> UnitQuaternion<f64> {
    let m = Matrix3::new(0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0);
    UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m))
}

impl SimRig {
    /// `base_link_from_lidar`.
    pub fn base_link_from_lidar(&self) -> Isometry3<f64> {
        self.base_link_from_lidar
    }

    /// `base_link_from_camera_front` (optical frame), turned by an extra yaw error
    /// `yaw_offset_rad` about base_link z (0 for the nominal calibration).
    pub fn base_link_from_camera(&self, yaw_offset_rad: f64) -> Isometry3<f64> {
        Self::turned(&self.base_link_from_camera, yaw_offset_rad)
    }

    /// The cameras of a surround rig, `(frame, base_link_from_camera)` with the front camera's
    /// intrinsics: the front camera, then two turned [`SIDE_CAMERA_YAW_DEG`] to the left and to
    /// the right on the roof's front corners. With KITTI's 81° field of view the three see
    /// 201° around the front, every place of a grid ahead of the car that the front camera alone
    /// leaves out (pedestrians on the walkway beside the car).
    pub fn surround_cameras(&self) -> Vec<(&'static str, Isometry3<f64>)> {
        let front = self.base_link_from_camera;
        let side = |yaw_deg: f64, y: f64| {
            let turn = UnitQuaternion::from_euler_angles(0.0, 0.0, yaw_deg.to_radians());
            let at = front.translation.vector + nalgebra::Vector3::new(-0.2, y, 0.0);
            Isometry3::from_parts(Translation3::from(at), turn * front.rotation)
        };
        vec![
            (CAMERA_FRAME, front),
            (SIDE_CAMERA_FRAMES[0], side(SIDE_CAMERA_YAW_DEG, 0.7)),
            (SIDE_CAMERA_FRAMES[1], side(-SIDE_CAMERA_YAW_DEG, -0.7)),
        ]
    }

    /// `mount` (a camera's `base_link_from_camera`) turned by `yaw_offset_rad` about `base_link`
    /// z in place: a miscalibrated yaw.
    pub fn turned(mount: &Isometry3<f64>, yaw_offset_rad: f64) -> Isometry3<f64> {
        let yaw = UnitQuaternion::from_euler_angles(0.0, 0.0, yaw_offset_rad);
        Isometry3::from_parts(Translation3::from(mount.translation.vector), yaw * mount.rotation)
    }

    /// The nominal static transforms `base_link → sensor` (for `/tf_static`).
    pub fn static_transforms(&self) -> Vec<Transform> {
        vec![
            Transform::new("base_link", LIDAR_FRAME, self.base_link_from_lidar),
            Transform::new("base_link", CAMERA_FRAME, self.base_link_from_camera),
            Transform::new("base_link", GNSS_FRAME, self.base_link_from_gnss),
            Transform::new("base_link", IMU_FRAME, self.base_link_from_imu),
        ]
    }

    /// The simulator's view of a project rig; fails naming the missing or mistyped sensor frame.
    pub fn from_rig(rig: &Rig) -> Result<Self> {
        let need = |frame: &str| {
            rig.sensor_by_frame(frame).ok_or_else(|| {
                SimError::invalid("rig", format!("rig {:?} has no sensor with frame {frame:?}", rig.name))
            })
        };
        let lidar = need(LIDAR_FRAME)?;
        let camera = need(CAMERA_FRAME)?;
        let lidar_model = match &lidar.kind {
            SensorKind::Lidar(m) => m.clone(),
            other => return Err(SimError::invalid("rig", format!("frame lidar is a {}", other.as_str()))),
        };
        let SensorKind::Camera(cam) = &camera.kind else {
            return Err(SimError::invalid("rig", format!("frame {CAMERA_FRAME} is a {}", camera.kind.as_str())));
        };
        if cam.skew() != 0.0 {
            return Err(SimError::invalid("rig", "the simulated camera has no skew"));
        }
        let distortion = match cam.distortion {
            Distortion::None => [0.0; 5],
            Distortion::PlumbBob { k1, k2, p1, p2, k3 } => [k1, k2, p1, p2, k3],
        };
        Ok(Self {
            base_link_from_lidar: lidar.base_link_from_sensor,
            base_link_from_camera: camera.base_link_from_sensor,
            camera_intrinsics: CameraIntrinsics {
                width: cam.width,
                height: cam.height,
                fx: cam.fx(),
                fy: cam.fy(),
                cx: cam.cx(),
                cy: cam.cy(),
                distortion,
            },
            base_link_from_gnss: need(GNSS_FRAME)?.base_link_from_sensor,
            base_link_from_imu: need(IMU_FRAME)?.base_link_from_sensor,
            lidar_model,
        })
    }

    /// This rig in the project's rig model, named `name`.
    pub fn to_rig(&self, name: &str) -> Rig {
        let k = &self.camera_intrinsics;
        let sensor = |frame: &str, iso: Isometry3<f64>, kind: SensorKind| {
            (frame.to_owned(), Sensor { frame_id: frame.into(), base_link_from_sensor: iso, kind })
        };
        let [k1, k2, p1, p2, k3] = k.distortion;
        let distortion = if k.distortion.iter().all(|&v| v == 0.0) {
            Distortion::None
        } else {
            Distortion::PlumbBob { k1, k2, p1, p2, k3 }
        };
        let camera = CameraModel {
            width: k.width,
            height: k.height,
            k: Matrix3::new(k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0),
            distortion,
        };
        Rig {
            name: name.to_owned(),
            sensors: [
                sensor(LIDAR_FRAME, self.base_link_from_lidar, SensorKind::Lidar(self.lidar_model.clone())),
                sensor(CAMERA_FRAME, self.base_link_from_camera, SensorKind::Camera(camera)),
                sensor(GNSS_FRAME, self.base_link_from_gnss, SensorKind::Gnss),
                sensor(IMU_FRAME, self.base_link_from_imu, SensorKind::Imu),
            ]
            .into_iter()
            .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use nalgebra::{Point3, Vector3};

    #[test]
    fn the_surround_rig_is_the_front_camera_and_two_turned_sixty_degrees_to_its_sides() {
        let rig = SimRig::default();
        let cams = rig.surround_cameras();
        assert_eq!(
            cams.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            [CAMERA_FRAME, SIDE_CAMERA_FRAMES[0], SIDE_CAMERA_FRAMES[1]]
        );
        assert_eq!(cams[0].1, rig.base_link_from_camera);
        // Each optical axis (z) in base_link: straight ahead, 60° left, 60° right, level.
        for ((_, mount), yaw_deg) in cams.iter().zip([0.0f64, 60.0, -60.0]) {
            let axis = mount.rotation * Vector3::z();
            assert_relative_eq!(axis.y.atan2(axis.x).to_degrees(), yaw_deg, epsilon = 1e-9);
            assert_relative_eq!(axis.z, 0.0, epsilon = 1e-12);
        }
        // The left camera sits on the left of the roof, the right one on the right.
        assert!(cams[1].1.translation.y > 0.5 && cams[2].1.translation.y < -0.5);
        // A yaw error turns a mount in place.
        let turned = SimRig::turned(&cams[1].1, 0.1);
        assert_eq!(turned.translation, cams[1].1.translation);
        let axis = turned.rotation * Vector3::z();
        assert_relative_eq!(axis.y.atan2(axis.x), 60f64.to_radians() + 0.1, epsilon = 1e-9);
    }

    #[test]
    fn optical_frame_looks_forward_with_x_right_and_y_down() {
        let rig = SimRig::default();
        let b = rig.base_link_from_camera(0.0);
        let fwd = b * Point3::new(0.0, 0.0, 1.0) - b.translation.vector;
        let right = b * Point3::new(1.0, 0.0, 0.0) - b.translation.vector;
        let down = b * Point3::new(0.0, 1.0, 0.0) - b.translation.vector;
        assert!((fwd.x - 1.0).abs() < 1e-12 && (right.y + 1.0).abs() < 1e-12 && (down.z + 1.0).abs() < 1e-12);
    }

    #[test]
    fn rig_file_round_trips_through_the_project_format() {
        let rig = SimRig::default();
        let text = rig.to_rig("sim").to_toml_string();
        let back = SimRig::from_rig(&Rig::from_toml_str(&text, "sim.toml").unwrap()).unwrap();
        assert!(
            (back.base_link_from_camera.translation.vector - rig.base_link_from_camera.translation.vector).norm()
                < 1e-12
        );
        assert!(back.base_link_from_camera.rotation.angle_to(&rig.base_link_from_camera.rotation) < 1e-12);
        assert_eq!(back.camera_intrinsics, rig.camera_intrinsics);
    }

    #[test]
    fn committed_sim_rig_file_is_the_built_in_rig() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../calibration/sim-rig.toml");
        let rig = SimRig::from_rig(&Rig::load(path).unwrap()).unwrap();
        let def = SimRig::default();
        assert!(
            (rig.base_link_from_lidar.translation.vector - def.base_link_from_lidar.translation.vector).norm() < 1e-12
        );
        assert!(rig.base_link_from_camera.rotation.angle_to(&def.base_link_from_camera.rotation) < 1e-9);
        assert_eq!(rig.camera_intrinsics, def.camera_intrinsics);
    }

    #[test]
    fn distorted_ray_projects_back_to_its_pixel() {
        let k = CameraIntrinsics { distortion: [-0.2, 0.05, 0.001, -0.001, 0.0], ..CameraIntrinsics::KITTI };
        for (u, v) in [(10.0, 10.0), (600.0, 170.0), (1230.0, 370.0)] {
            let r = k.ray(u, v);
            let p = k.project(r).unwrap();
            assert!((p[0] - u).abs() < 1e-6 && (p[1] - v).abs() < 1e-6, "{p:?} vs {u},{v}");
        }
    }
}
