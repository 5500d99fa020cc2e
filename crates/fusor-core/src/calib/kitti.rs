//! KITTI calibration importers and object labels.
//!
//! # Frames of the imported rig
//!
//! - `lidar`: the Velodyne HDL-64E (x forward, y left, z up).
//! - `camera_front`: the **rectified** left colour camera (cam 2) optical frame (x right, y down,
//!   z forward) with `K = P2[:, :3]`. `P2` is `K · [I | K⁻¹·P2[:, 3]]` in the rectified cam-0
//!   frame, so the baseline offset `t = K⁻¹·P2[:, 3]` is folded into the extrinsics:
//!   `camera_front_from_lidar = [I | t] · R0_rect · Tr_velo_to_cam`, and
//!   `K · camera_front_from_lidar · X` reproduces `P2 · R0_rect · Tr_velo_to_cam · X` (up to the
//!   re-orthonormalisation of the printed rotations, ~1e-5 px). Distortion is `none` (rectified).
//! - `camera_gray_left`: the rectified cam-0 optical frame (`K = P0[:, :3]`). KITTI object labels
//!   are expressed in this frame.
//! - `imu` and `gnss`: the OXTS RT3003 (x forward, y left, z up); the OXTS reports its solution
//!   at its IMU, so both share that pose.
//! - `base_link`: on the ground directly under the IMU, axes parallel to the IMU's. KITTI's setup
//!   sheet puts the IMU 0.93 m and the Velodyne 1.73 m above the ground; the calibration puts the
//!   Velodyne 0.80 m above the IMU, consistent with both.
//!
//! All importers return a validated [`Rig`]; parse errors name the file and the key (`P2`,
//! `R_rect_00`, …). No file content can make them panic.

use super::IMPORT_ORTHO_TOL;
use super::{calib_err, rotation_from_matrix, CameraModel, Distortion, LidarModel, Rig, Sensor, SensorKind};
use crate::{Box3, CoreError, FrameId, ObjectClass, Result};
use nalgebra::{Isometry3, Matrix3, Matrix3x4, Point3, Translation3, UnitQuaternion, Vector3};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Height of the OXTS IMU above the ground in metres (KITTI setup sheet), i.e. `base_link → imu`.
pub const IMU_HEIGHT_M: f64 = 0.93;
/// Frame of the rectified colour camera (cam 2).
pub const CAMERA_FRONT: &str = "camera_front";
/// Frame of the rectified cam 0, the reference frame of KITTI labels.
pub const CAMERA_RECT0: &str = "camera_gray_left";
/// Frame of the Velodyne.
pub const LIDAR: &str = "lidar";

/// The raw matrices of a KITTI calibration, as printed in the files.
#[derive(Debug, Clone, PartialEq)]
pub struct KittiCalib {
    /// Rectified cam-0 projection (3×4, pixels): `image0_from_rect0`.
    pub p0: Matrix3x4<f64>,
    /// Rectified cam-2 projection (3×4, pixels): `image2_from_rect0`.
    pub p2: Matrix3x4<f64>,
    /// Rectifying rotation `rect0_from_cam0`.
    pub r0_rect: Matrix3<f64>,
    /// `cam0_from_velo` as `[R | t]` (metres).
    pub tr_velo_to_cam: Matrix3x4<f64>,
    /// `velo_from_imu` as `[R | t]` (metres).
    pub tr_imu_to_velo: Matrix3x4<f64>,
    /// Rectified cam-2 image size `[width, height]` in pixels.
    pub image_size: [u32; 2],
    /// Rectified cam-0 image size `[width, height]` in pixels.
    pub gray_image_size: [u32; 2],
    /// Where the values came from (for error messages).
    pub source: PathBuf,
}

/// `KEY: v1 v2 …` lines of a KITTI calibration file; values are parsed on demand so a
/// non-numeric line (`calib_time: 09-Jan-2012 …`) only matters when asked for.
struct KeyValues {
    path: PathBuf,
    values: BTreeMap<String, String>,
}

impl KeyValues {
    fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CoreError::Io { path: path.to_path_buf(), source })?;
        Ok(Self::parse(&text, path))
    }

    fn parse(text: &str, path: &Path) -> Self {
        let values = text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Self { path: path.to_path_buf(), values }
    }

    fn numbers<const N: usize>(&self, key: &str) -> Result<[f64; N]> {
        let raw = self.values.get(key).ok_or_else(|| calib_err(&self.path, key, "missing"))?;
        let mut out = [0.0; N];
        let mut count = 0;
        for token in raw.split_whitespace() {
            let v: f64 = token.parse().map_err(|_| calib_err(&self.path, key, format!("{token:?} is not a number")))?;
            if !v.is_finite() {
                return Err(calib_err(&self.path, key, format!("{v} is not finite")));
            }
            if let Some(slot) = out.get_mut(count) {
                *slot = v;
            }
            count += 1;
        }
        if count != N {
            return Err(calib_err(&self.path, key, format!("expected {N} numbers, found {count}")));
        }
        Ok(out)
    }

    fn mat3x4(&self, key: &str) -> Result<Matrix3x4<f64>> {
        Ok(Matrix3x4::from_row_slice(&self.numbers::<12>(key)?))
    }

    fn mat3(&self, key: &str) -> Result<Matrix3<f64>> {
        Ok(Matrix3::from_row_slice(&self.numbers::<9>(key)?))
    }

    fn rt(&self, r_key: &str, t_key: &str) -> Result<Matrix3x4<f64>> {
        let r = self.mat3(r_key)?;
        let t = Vector3::from(self.numbers::<3>(t_key)?);
        Ok(Matrix3x4::from_columns(&[r.column(0).into(), r.column(1).into(), r.column(2).into(), t]))
    }

    fn image_size(&self, key: &str) -> Result<[u32; 2]> {
        let [w, h] = self.numbers::<2>(key)?;
        let to_u32 = |v: f64| (v.fract() == 0.0 && v > 0.0 && v < f64::from(u32::MAX)).then_some(v as u32);
        match (to_u32(w), to_u32(h)) {
            (Some(w), Some(h)) => Ok([w, h]),
            _ => Err(calib_err(&self.path, key, format!("image size [{w}, {h}] must be positive integers"))),
        }
    }
}

impl KittiCalib {
    /// Reads a KITTI object calibration (`training/calib/NNNNNN.txt`: `P0..P3`, `R0_rect`,
    /// `Tr_velo_to_cam`, `Tr_imu_to_velo`). The file holds no image size, so give the size of
    /// `image_2` (`[width, height]` px; cam 0 is assumed the same size).
    pub fn load_object(path: impl AsRef<Path>, image_size: [u32; 2]) -> Result<Self> {
        let kv = KeyValues::load(path.as_ref())?;
        Self::from_object_values(&kv, image_size)
    }

    /// Parses the text of a KITTI object calibration; `path` only names it in errors.
    pub fn parse_object(text: &str, path: impl AsRef<Path>, image_size: [u32; 2]) -> Result<Self> {
        Self::from_object_values(&KeyValues::parse(text, path.as_ref()), image_size)
    }

    fn from_object_values(kv: &KeyValues, image_size: [u32; 2]) -> Result<Self> {
        Ok(Self {
            p0: kv.mat3x4("P0")?,
            p2: kv.mat3x4("P2")?,
            r0_rect: kv.mat3("R0_rect")?,
            tr_velo_to_cam: kv.mat3x4("Tr_velo_to_cam")?,
            tr_imu_to_velo: kv.mat3x4("Tr_imu_to_velo")?,
            image_size,
            gray_image_size: image_size,
            source: kv.path.clone(),
        })
    }

    /// Reads the KITTI raw calibration of one recording day: `calib_cam_to_cam.txt`
    /// (`P_rect_00`, `P_rect_02`, `R_rect_00`, `S_rect_00`, `S_rect_02`), `calib_velo_to_cam.txt`
    /// (`R`, `T`) and `calib_imu_to_velo.txt` (`R`, `T`) in `day_dir`.
    pub fn load_raw_day(day_dir: impl AsRef<Path>) -> Result<Self> {
        let dir = day_dir.as_ref();
        let cam = KeyValues::load(&dir.join("calib_cam_to_cam.txt"))?;
        let velo = KeyValues::load(&dir.join("calib_velo_to_cam.txt"))?;
        let imu = KeyValues::load(&dir.join("calib_imu_to_velo.txt"))?;
        Ok(Self {
            p0: cam.mat3x4("P_rect_00")?,
            p2: cam.mat3x4("P_rect_02")?,
            r0_rect: cam.mat3("R_rect_00")?,
            tr_velo_to_cam: velo.rt("R", "T")?,
            tr_imu_to_velo: imu.rt("R", "T")?,
            image_size: cam.image_size("S_rect_02")?,
            gray_image_size: cam.image_size("S_rect_00")?,
            source: dir.to_path_buf(),
        })
    }

    /// `rect0_from_velo = R0_rect · Tr_velo_to_cam` as an isometry (rotation re-orthonormalised).
    pub fn rect0_from_lidar(&self) -> Result<Isometry3<f64>> {
        let path = &self.source;
        rotation_from_matrix(&self.r0_rect, IMPORT_ORTHO_TOL, path, "R0_rect")?;
        let r_velo = self.tr_velo_to_cam.fixed_view::<3, 3>(0, 0).into_owned();
        rotation_from_matrix(&r_velo, IMPORT_ORTHO_TOL, path, "Tr_velo_to_cam")?;
        let r = rotation_from_matrix(&(self.r0_rect * r_velo), IMPORT_ORTHO_TOL, path, "R0_rect·Tr_velo_to_cam")?;
        let t = self.r0_rect * self.tr_velo_to_cam.column(3);
        Ok(Isometry3::from_parts(Translation3::from(t), UnitQuaternion::from_rotation_matrix(&r)))
    }

    /// `velo_from_imu` as an isometry.
    pub fn lidar_from_imu(&self) -> Result<Isometry3<f64>> {
        let r = self.tr_imu_to_velo.fixed_view::<3, 3>(0, 0).into_owned();
        let r = rotation_from_matrix(&r, IMPORT_ORTHO_TOL, &self.source, "Tr_imu_to_velo")?;
        let t: Vector3<f64> = self.tr_imu_to_velo.column(3).into_owned();
        Ok(Isometry3::from_parts(Translation3::from(t), UnitQuaternion::from_rotation_matrix(&r)))
    }

    /// Splits a rectified projection `P = K · [I | t]` into a camera model and `camera_from_rect0`.
    fn camera(&self, p: &Matrix3x4<f64>, key: &str, size: [u32; 2]) -> Result<(CameraModel, Isometry3<f64>)> {
        let k = p.fixed_view::<3, 3>(0, 0).into_owned();
        let k_inv = k.try_inverse().ok_or_else(|| calib_err(&self.source, key, "P[:, :3] is singular"))?;
        let t = k_inv * p.column(3);
        let model = CameraModel { width: size[0], height: size[1], k, distortion: Distortion::None };
        Ok((model, Isometry3::translation(t.x, t.y, t.z)))
    }

    /// Builds the rig (frames in the [module docs](self)) and validates it.
    pub fn to_rig(&self, name: impl Into<String>) -> Result<Rig> {
        let rect0_from_lidar = self.rect0_from_lidar()?;
        let base_link_from_imu = Isometry3::translation(0.0, 0.0, IMU_HEIGHT_M);
        let base_link_from_lidar = base_link_from_imu * self.lidar_from_imu()?.inverse();
        let (front, front_from_rect0) = self.camera(&self.p2, "P2", self.image_size)?;
        let (gray, gray_from_rect0) = self.camera(&self.p0, "P0", self.gray_image_size)?;
        let camera_front_from_lidar = front_from_rect0 * rect0_from_lidar;
        let gray_from_lidar = gray_from_rect0 * rect0_from_lidar;
        let hdl64 = LidarModel {
            beams: Some(64),
            vertical_fov_deg: Some([-24.9, 2.0]),
            rate_hz: Some(10.0),
            max_range_m: Some(120.0),
        };
        let sensor = |frame: &str, base_link_from_sensor: Isometry3<f64>, kind: SensorKind| {
            (frame.to_owned(), Sensor { frame_id: FrameId::new(frame), base_link_from_sensor, kind })
        };
        let sensors = BTreeMap::from([
            sensor(LIDAR, base_link_from_lidar, SensorKind::Lidar(hdl64)),
            sensor(CAMERA_FRONT, base_link_from_lidar * camera_front_from_lidar.inverse(), SensorKind::Camera(front)),
            sensor(CAMERA_RECT0, base_link_from_lidar * gray_from_lidar.inverse(), SensorKind::Camera(gray)),
            sensor("imu", base_link_from_imu, SensorKind::Imu),
            sensor("gnss", base_link_from_imu, SensorKind::Gnss),
        ]);
        let rig = Rig { name: name.into(), sensors };
        rig.validate(&self.source)?;
        Ok(rig)
    }
}

/// Imports a KITTI object calibration file (`calib/NNNNNN.txt`) as a rig named after the file.
/// `image_size` is `image_2`'s `[width, height]` in pixels (the file does not hold it).
pub fn import_kitti_object_calib(path: impl AsRef<Path>, image_size: [u32; 2]) -> Result<Rig> {
    let path = path.as_ref();
    let name = format!("kitti-object-{}", path.file_stem().and_then(|s| s.to_str()).unwrap_or("calib"));
    KittiCalib::load_object(path, image_size)?.to_rig(name)
}

/// Imports the KITTI raw calibration of a recording day (a folder such as `2011_09_26` holding
/// `calib_cam_to_cam.txt`, `calib_velo_to_cam.txt`, `calib_imu_to_velo.txt`) as a rig named
/// `kitti-<day>` with `-` for `_`.
pub fn import_kitti_raw_calib(day_dir: impl AsRef<Path>) -> Result<Rig> {
    let dir = day_dir.as_ref();
    let day = dir.file_name().and_then(|s| s.to_str()).unwrap_or("raw").replace('_', "-");
    KittiCalib::load_raw_day(dir)?.to_rig(format!("kitti-{day}"))
}

/// One labelled object of a KITTI object label file (`label_2/NNNNNN.txt`).
#[derive(Debug, Clone, PartialEq)]
pub struct KittiObject {
    /// The KITTI type (`Car`, `Van`, `Truck`, `Pedestrian`, `Person_sitting`, `Cyclist`, `Tram`,
    /// `Misc`).
    pub type_name: String,
    /// The fusor class, `None` for a type fusor does not know.
    pub class: Option<ObjectClass>,
    /// Fraction of the object outside the image, 0..1.
    pub truncated: f64,
    /// 0 fully visible, 1 partly occluded, 2 largely occluded, 3 unknown.
    pub occluded: i32,
    /// Observation angle in radians.
    pub alpha_rad: f64,
    /// 2D box in `image_2` pixels: `[x1, y1, x2, y2]`.
    pub bbox_2d: [f64; 4],
    /// Height, width, length in metres.
    pub size_hwl_m: [f64; 3],
    /// Centre of the box's **bottom** face in the rectified cam-0 frame (x right, y down,
    /// z forward), metres.
    pub bottom_center_in_rect0: Point3<f64>,
    /// Rotation about the rectified cam-0 y axis in radians (0: length along camera +x).
    pub rotation_y_rad: f64,
}

/// The objects of one label file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KittiLabels {
    /// Every object that is not `DontCare`.
    pub objects: Vec<KittiObject>,
    /// How many `DontCare` regions were skipped.
    pub dont_care: usize,
}

impl KittiObject {
    /// Geometric centre of the box in the rectified cam-0 frame (metres).
    pub fn center_in_rect0(&self) -> Point3<f64> {
        self.bottom_center_in_rect0 - Vector3::new(0.0, self.size_hwl_m[0] / 2.0, 0.0)
    }

    /// The 8 corners in the rectified cam-0 frame, as the KITTI devkit computes them.
    pub fn corners_in_rect0(&self) -> [Point3<f64>; 8] {
        let [h, w, l] = self.size_hwl_m;
        let (s, c) = self.rotation_y_rad.sin_cos();
        let mut out = [Point3::origin(); 8];
        let xs = [l / 2.0, l / 2.0, -l / 2.0, -l / 2.0];
        let zs = [w / 2.0, -w / 2.0, -w / 2.0, w / 2.0];
        for (i, corner) in out.iter_mut().enumerate() {
            let (x, z) = (xs[i % 4], zs[i % 4]);
            let y = if i < 4 { 0.0 } else { -h };
            *corner = self.bottom_center_in_rect0 + Vector3::new(c * x + s * z, y, -s * x + c * z);
        }
        out
    }

    /// The box as an upright, geometric-centre [`Box3`] in `target` (a z-up rig frame such as
    /// `lidar` or `base_link`), through the rig's `target_from_camera_gray_left`. The heading is
    /// the box's length axis projected on the target's x-y plane; the ~0.5° tilt between the
    /// camera's y axis and the target's z axis is dropped.
    pub fn box_in(&self, rig: &Rig, target: &str) -> Result<Box3> {
        let target_from_rect0 = rig.transform(target, CAMERA_RECT0)?;
        let (s, c) = self.rotation_y_rad.sin_cos();
        let heading = target_from_rect0.target_from_source * Vector3::new(c, 0.0, -s);
        let [h, w, l] = self.size_hwl_m;
        Ok(Box3 {
            frame_id: FrameId::new(target),
            center: target_from_rect0.apply(&self.center_in_rect0()),
            size: Vector3::new(l, w, h),
            yaw_rad: heading.y.atan2(heading.x),
        })
    }
}

/// Reads a KITTI object label file.
pub fn load_kitti_labels(path: impl AsRef<Path>) -> Result<KittiLabels> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| CoreError::Io { path: path.to_path_buf(), source })?;
    parse_kitti_labels(&text, path)
}

/// Parses KITTI object labels (15 fields per line, an optional 16th score is ignored); `path`
/// only names the source in errors, whose key is `line N: field`.
pub fn parse_kitti_labels(text: &str, path: impl AsRef<Path>) -> Result<KittiLabels> {
    const FIELDS: [&str; 15] = [
        "type",
        "truncated",
        "occluded",
        "alpha",
        "bbox_x1",
        "bbox_y1",
        "bbox_x2",
        "bbox_y2",
        "h",
        "w",
        "l",
        "x",
        "y",
        "z",
        "rotation_y",
    ];
    let path = path.as_ref();
    let mut labels = KittiLabels::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        if tokens.len() != 15 && tokens.len() != 16 {
            return Err(calib_err(
                path,
                format!("line {line_no}"),
                format!("expected 15 fields, found {}", tokens.len()),
            ));
        }
        let type_name = tokens.first().copied().unwrap_or_default();
        if type_name == "DontCare" {
            labels.dont_care += 1;
            continue;
        }
        let mut v = [0.0f64; 15];
        for (i, slot) in v.iter_mut().enumerate().skip(1) {
            let (token, field) = (tokens.get(i).copied().unwrap_or_default(), FIELDS.get(i).copied().unwrap_or("?"));
            let key = || format!("line {line_no}: {field}");
            *slot = token.parse().map_err(|_| calib_err(path, key(), format!("{token:?} is not a number")))?;
            if !slot.is_finite() {
                return Err(calib_err(path, key(), "not finite"));
            }
        }
        let [_, truncated, occluded, alpha_rad, x1, y1, x2, y2, h, w, l, x, y, z, rotation_y_rad] = v;
        if h <= 0.0 || w <= 0.0 || l <= 0.0 {
            return Err(calib_err(path, format!("line {line_no}: h w l"), format!("size [{h}, {w}, {l}] must be > 0")));
        }
        labels.objects.push(KittiObject {
            type_name: type_name.to_owned(),
            class: type_name.parse().ok(),
            truncated,
            occluded: occluded as i32,
            alpha_rad,
            bbox_2d: [x1, y1, x2, y2],
            size_hwl_m: [h, w, l],
            bottom_center_in_rect0: Point3::new(x, y, z),
            rotation_y_rad,
        });
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    const CALIB: &str = "P0: 7.215377e+02 0 6.095593e+02 0 0 7.215377e+02 1.728540e+02 0 0 0 1 0
P2: 7.215377e+02 0 6.095593e+02 4.485728e+01 0 7.215377e+02 1.728540e+02 2.163791e-01 0 0 1 2.745884e-03
R0_rect: 9.999239e-01 9.837760e-03 -7.445048e-03 -9.869795e-03 9.999421e-01 -4.278459e-03 7.402527e-03 4.351614e-03 9.999631e-01
Tr_velo_to_cam: 7.533745e-03 -9.999714e-01 -6.166020e-04 -4.069766e-03 1.480249e-02 7.280733e-04 -9.998902e-01 -7.631618e-02 9.998621e-01 7.523790e-03 1.480755e-02 -2.717806e-01
Tr_imu_to_velo: 9.999976e-01 7.553071e-04 -2.035826e-03 -8.086759e-01 -7.854027e-04 9.998898e-01 -1.482298e-02 3.195559e-01 2.024406e-03 1.482454e-02 9.998881e-01 -7.997231e-01
";

    fn key_of(result: Result<KittiCalib>) -> String {
        match result {
            Err(CoreError::Calibration { key, .. }) => key,
            other => panic!("expected a calibration error, got {other:?}"),
        }
    }

    #[test]
    fn lidar_sits_1_73_m_above_base_link() {
        let rig = KittiCalib::parse_object(CALIB, "c.txt", [1242, 375]).unwrap().to_rig("t").unwrap();
        let lidar = rig.base_link_from(LIDAR).unwrap().translation.vector;
        assert!((lidar.z - 1.73).abs() < 0.01, "{lidar}");
    }

    #[test]
    fn camera_front_reproduces_p2_projection() {
        let calib = KittiCalib::parse_object(CALIB, "c.txt", [1242, 375]).unwrap();
        let rig = calib.to_rig("t").unwrap();
        let camera_from_lidar = rig.transform(CAMERA_FRONT, LIDAR).unwrap();
        let cam = rig.camera(CAMERA_FRONT).unwrap();
        let x = Point3::new(12.0, -3.0, -1.2);
        let mut rect = nalgebra::Matrix4::identity();
        rect.fixed_view_mut::<3, 3>(0, 0).copy_from(&calib.r0_rect);
        let mut velo = nalgebra::Matrix4::identity();
        velo.fixed_view_mut::<3, 4>(0, 0).copy_from(&calib.tr_velo_to_cam);
        let h = calib.p2 * rect * velo * x.to_homogeneous();
        let px = cam.project(&camera_from_lidar.apply(&x)).unwrap();
        assert_relative_eq!(px.x, h.x / h.z, epsilon = 1e-4);
        assert_relative_eq!(px.y, h.y / h.z, epsilon = 1e-4);
    }

    #[test]
    fn rejects_p2_with_eleven_numbers_naming_the_key() {
        let text = CALIB.replace(" 0 0 1 2.745884e-03", " 0 0 1");
        assert_eq!(key_of(KittiCalib::parse_object(&text, "c.txt", [1242, 375])), "P2");
    }

    #[test]
    fn rejects_missing_r0_rect_naming_the_key() {
        let text: String = CALIB.lines().filter(|l| !l.starts_with("R0_rect")).map(|l| format!("{l}\n")).collect();
        assert_eq!(key_of(KittiCalib::parse_object(&text, "c.txt", [1242, 375])), "R0_rect");
    }

    #[test]
    fn rejects_garbage_number_naming_the_key() {
        let text = CALIB.replace("-7.997231e-01", "-7.99x231e-01");
        assert_eq!(key_of(KittiCalib::parse_object(&text, "c.txt", [1242, 375])), "Tr_imu_to_velo");
    }

    #[test]
    fn rejects_nan_naming_the_key() {
        let text = CALIB.replace("-4.069766e-03", "nan");
        assert_eq!(key_of(KittiCalib::parse_object(&text, "c.txt", [1242, 375])), "Tr_velo_to_cam");
    }

    #[test]
    fn rejects_non_orthonormal_rectification_naming_the_key() {
        let text = CALIB.replace("R0_rect: 9.999239e-01", "R0_rect: 9.9e-01");
        let calib = KittiCalib::parse_object(&text, "c.txt", [1242, 375]).unwrap();
        match calib.to_rig("t") {
            Err(CoreError::Calibration { key, .. }) => assert_eq!(key, "R0_rect"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_labels_and_counts_dont_care() {
        let text = "Car 0.00 0 1.85 387.63 181.54 423.81 203.12 1.67 1.87 3.69 -16.53 2.39 58.49 1.57\n\
                    DontCare -1 -1 -10 503.89 169.71 590.61 190.13 -1 -1 -1 -1000 -1000 -1000 -10\n";
        let labels = parse_kitti_labels(text, "l.txt").unwrap();
        assert_eq!(labels.dont_care, 1);
        assert_eq!(labels.objects.len(), 1);
        let car = &labels.objects[0];
        assert_eq!(car.class, Some(ObjectClass::Car));
        assert_relative_eq!(car.center_in_rect0(), Point3::new(-16.53, 2.39 - 1.67 / 2.0, 58.49));
        // Bottom corners sit at the label's y, top corners h above (towards −y).
        let corners = car.corners_in_rect0();
        assert_relative_eq!(corners[0].y, 2.39);
        assert_relative_eq!(corners[4].y, 2.39 - 1.67);
    }

    #[test]
    fn box_in_lidar_keeps_size_and_turns_heading() {
        let rig = KittiCalib::parse_object(CALIB, "c.txt", [1242, 375]).unwrap().to_rig("t").unwrap();
        // rotation_y = 0: length along camera +x = lidar −y, i.e. yaw −90°.
        let text = "Car 0 0 0 0 0 10 10 1.5 1.6 4.0 0.0 1.6 20.0 0.0\n";
        let labels = parse_kitti_labels(text, "l.txt").unwrap();
        let b = labels.objects[0].box_in(&rig, LIDAR).unwrap();
        assert_relative_eq!(b.size, Vector3::new(4.0, 1.6, 1.5));
        assert!((b.yaw_rad + std::f64::consts::FRAC_PI_2).abs() < 0.02, "{}", b.yaw_rad);
        assert!((b.center.x - 20.0).abs() < 0.5 && b.center.z < 0.0, "{}", b.center);
    }

    #[test]
    fn rejects_label_line_with_missing_field_naming_the_line() {
        let err = parse_kitti_labels("Car 0 0 0 0 0 10 10 1.5 1.6 4.0 0.0 1.6 20.0\n", "l.txt").unwrap_err();
        assert!(matches!(err, CoreError::Calibration { ref key, .. } if key == "line 1"), "{err}");
        let err = parse_kitti_labels("Car 0 0 0 0 0 10 10 1.5 1.6 4.0 x 1.6 20.0 0\n", "l.txt").unwrap_err();
        assert!(matches!(err, CoreError::Calibration { ref key, .. } if key == "line 1: x"), "{err}");
    }
}
