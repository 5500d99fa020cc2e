//! The rig model and its TOML file format.
//!
//! ```toml
//! name = "kitti-2011-09-26"
//!
//! [sensors.camera_front]          # the table name is the sensor name
//! kind = "camera"                 # camera | lidar | gnss | imu
//! frame_id = "camera_front"       # optional, defaults to the sensor name
//!
//! [sensors.camera_front.extrinsics]   # base_link_from_sensor
//! translation = [0.27, 0.06, 1.65]    # metres, the sensor origin in base_link
//! quaternion = [-0.5, 0.5, -0.5, 0.5] # [x, y, z, w]; or exactly one of:
//! # rpy = [roll, pitch, yaw]          # radians, R = Rz(yaw) · Ry(pitch) · Rx(roll)
//! # rotation = [[..], [..], [..]]     # 3×3 row-major matrix, must be orthonormal with det +1
//!
//! [sensors.camera_front.intrinsics]   # cameras only; pixels
//! width = 1242
//! height = 375
//! fx = 721.5377
//! fy = 721.5377
//! cx = 609.5593
//! cy = 172.854
//! skew = 0.0                          # optional, default 0
//! distortion_model = "none"           # "none" (default) or "plumb_bob"
//! # distortion = [k1, k2, p1, p2, k3] # required with plumb_bob
//!
//! [sensors.lidar.model]               # lidars only, every field optional
//! beams = 64
//! vertical_fov_deg = [-24.9, 2.0]     # lowest and highest beam elevation
//! rate_hz = 10.0
//! max_range_m = 120.0
//! ```
//!
//! Every extrinsic is `base_link_from_sensor`: it maps a point expressed in the sensor frame into
//! `base_link` (x forward, y left, z up). Camera frames are optical frames (x right, y down,
//! z forward). Unknown keys are errors, so a typo (`skwe`) cannot silently fall back to a default.
//! Every error names the file and the dotted key (`sensors.camera_front.intrinsics.fx`).

use super::{calib_err, rotation_from_matrix, RIG_ORTHO_TOL};
use crate::transform::isometry_from_xyz_rpy;
use crate::{CoreError, FrameId, Result, Transform};
use nalgebra::{Isometry3, Matrix3, Point2, Point3, Quaternion, Translation3, UnitQuaternion, Vector3};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A vehicle's sensor set and calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rig {
    /// Human-readable rig name (e.g. `kitti-2011-09-26`).
    pub name: String,
    /// Sensors by name.
    pub sensors: BTreeMap<String, Sensor>,
}

/// One sensor of a rig.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    /// The sensor's coordinate frame (unique in the rig, never `base_link`).
    pub frame_id: FrameId,
    /// Pose of the sensor frame in `base_link`: `point_in_base_link = base_link_from_sensor * point_in_sensor`
    /// (metres).
    pub base_link_from_sensor: Isometry3<f64>,
    /// What the sensor is, with its intrinsics.
    pub kind: SensorKind,
}

/// The sensor type and its intrinsic model.
#[derive(Debug, Clone, PartialEq)]
pub enum SensorKind {
    /// A camera; its frame is the optical frame (x right, y down, z forward).
    Camera(CameraModel),
    /// A spinning lidar.
    Lidar(LidarModel),
    /// A GNSS receiver (its frame is where the reported position refers to).
    Gnss,
    /// An inertial measurement unit.
    Imu,
}

impl SensorKind {
    /// The `kind` string of the rig file.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Camera(_) => "camera",
            Self::Lidar(_) => "lidar",
            Self::Gnss => "gnss",
            Self::Imu => "imu",
        }
    }
}

/// Lens distortion of a camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distortion {
    /// An ideal pinhole (or an already rectified image).
    None,
    /// OpenCV / ROS `plumb_bob`: radial `k1, k2, k3` and tangential `p1, p2` on normalised coordinates.
    PlumbBob {
        /// Radial r² coefficient.
        k1: f64,
        /// Radial r⁴ coefficient.
        k2: f64,
        /// Tangential coefficient 1.
        p1: f64,
        /// Tangential coefficient 2.
        p2: f64,
        /// Radial r⁶ coefficient.
        k3: f64,
    },
}

/// A pinhole camera with optional plumb_bob distortion.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraModel {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Intrinsic matrix `[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]` in pixels (`image_from_camera`).
    pub k: Matrix3<f64>,
    /// Lens distortion, applied before `k`.
    pub distortion: Distortion,
}

impl CameraModel {
    /// Focal length along x in pixels.
    pub fn fx(&self) -> f64 {
        self.k[(0, 0)]
    }
    /// Focal length along y in pixels.
    pub fn fy(&self) -> f64 {
        self.k[(1, 1)]
    }
    /// Principal point x in pixels.
    pub fn cx(&self) -> f64 {
        self.k[(0, 2)]
    }
    /// Principal point y in pixels.
    pub fn cy(&self) -> f64 {
        self.k[(1, 2)]
    }
    /// Axis skew in pixels.
    pub fn skew(&self) -> f64 {
        self.k[(0, 1)]
    }

    /// Projects a point in the camera optical frame (metres; x right, y down, z forward) to pixel
    /// coordinates (u right, v down, origin at the top-left pixel's corner as in OpenCV), applying
    /// the distortion. `None` when the point is not in front of the camera (z ≤ 1 mm) or not
    /// finite. The pixel may lie outside the image; see [`CameraModel::contains`].
    pub fn project(&self, point_in_camera: &Point3<f64>) -> Option<Point2<f64>> {
        let p = point_in_camera;
        if !p.iter().all(|v| v.is_finite()) || p.z <= 1e-3 {
            return None;
        }
        let (x, y) = (p.x / p.z, p.y / p.z);
        let (xd, yd) = match self.distortion {
            Distortion::None => (x, y),
            Distortion::PlumbBob { k1, k2, p1, p2, k3 } => {
                let r2 = x * x + y * y;
                let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
                (
                    x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
                    y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y,
                )
            }
        };
        Some(Point2::new(self.fx() * xd + self.skew() * yd + self.cx(), self.fy() * yd + self.cy()))
    }

    /// True when the pixel lies on the image (`0 ≤ u < width`, `0 ≤ v < height`).
    pub fn contains(&self, pixel: &Point2<f64>) -> bool {
        pixel.x >= 0.0 && pixel.y >= 0.0 && pixel.x < f64::from(self.width) && pixel.y < f64::from(self.height)
    }
}

/// What a lidar's spec sheet says; every field is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LidarModel {
    /// Number of beams (rings).
    pub beams: Option<u32>,
    /// Lowest and highest beam elevation in degrees (positive up).
    pub vertical_fov_deg: Option<[f64; 2]>,
    /// Rotation rate in Hz.
    pub rate_hz: Option<f64>,
    /// Maximum range in metres.
    pub max_range_m: Option<f64>,
}

impl Rig {
    /// The sensor whose frame is `frame_id`.
    pub fn sensor_by_frame(&self, frame_id: &str) -> Option<&Sensor> {
        self.sensors.values().find(|s| s.frame_id.as_str() == frame_id)
    }

    /// The camera model of the sensor whose frame is `frame_id`, when it is a camera.
    pub fn camera(&self, frame_id: &str) -> Option<&CameraModel> {
        match &self.sensor_by_frame(frame_id)?.kind {
            SensorKind::Camera(c) => Some(c),
            _ => None,
        }
    }

    /// `base_link_from_frame` for a sensor frame, or identity for `base_link` itself.
    pub fn base_link_from(&self, frame_id: &str) -> Result<Isometry3<f64>> {
        if frame_id == FrameId::BASE_LINK {
            return Ok(Isometry3::identity());
        }
        self.sensor_by_frame(frame_id)
            .map(|s| s.base_link_from_sensor)
            .ok_or_else(|| CoreError::invalid("rig frame", format!("rig {:?} has no frame {frame_id:?}", self.name)))
    }

    /// `target_from_source` through `base_link`, e.g. `rig.transform("camera_front", "lidar")` is
    /// `camera_front_from_lidar`. Either frame may be `base_link`. Fails on an unknown frame.
    pub fn transform(&self, target: &str, source: &str) -> Result<Transform> {
        let base_link_from_target = self.base_link_from(target)?;
        let base_link_from_source = self.base_link_from(source)?;
        Ok(Transform::new(target, source, base_link_from_target.inverse() * base_link_from_source))
    }

    /// Reads and validates a rig file.
    pub fn load(path: impl AsRef<Path>) -> Result<Rig> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| CoreError::Io { path: path.to_path_buf(), source })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and validates rig TOML; `path` only names the source in errors.
    pub fn from_toml_str(text: &str, path: impl AsRef<Path>) -> Result<Rig> {
        let p = Parser { path: path.as_ref().to_path_buf() };
        let root: Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| text.get(..s.start).unwrap_or("").lines().count().max(1));
            let key = line.map_or_else(|| "(toml syntax)".to_owned(), |l| format!("(toml syntax, line {l})"));
            calib_err(&p.path, key, e.message().to_owned())
        })?;
        p.rig(&root)
    }

    /// Serialises to the rig TOML format (extrinsics as translation + quaternion `[x, y, z, w]`).
    /// Floats are written in shortest round-trip form, so loading the text gives the same rig.
    pub fn to_toml_string(&self) -> String {
        let mut sensors = Table::new();
        for (name, s) in &self.sensors {
            let mut t = Table::new();
            t.insert("kind".into(), s.kind.as_str().into());
            t.insert("frame_id".into(), s.frame_id.as_str().into());
            let q = s.base_link_from_sensor.rotation.quaternion();
            let tr = s.base_link_from_sensor.translation.vector;
            let mut ext = Table::new();
            ext.insert("translation".into(), floats(&[tr.x, tr.y, tr.z]));
            ext.insert("quaternion".into(), floats(&[q.i, q.j, q.k, q.w]));
            t.insert("extrinsics".into(), Value::Table(ext));
            match &s.kind {
                SensorKind::Camera(c) => {
                    let mut i = Table::new();
                    i.insert("width".into(), Value::Integer(i64::from(c.width)));
                    i.insert("height".into(), Value::Integer(i64::from(c.height)));
                    for (key, v) in [("fx", c.fx()), ("fy", c.fy()), ("cx", c.cx()), ("cy", c.cy()), ("skew", c.skew())]
                    {
                        i.insert(key.into(), Value::Float(v));
                    }
                    match c.distortion {
                        Distortion::None => {
                            i.insert("distortion_model".into(), "none".into());
                        }
                        Distortion::PlumbBob { k1, k2, p1, p2, k3 } => {
                            i.insert("distortion_model".into(), "plumb_bob".into());
                            i.insert("distortion".into(), floats(&[k1, k2, p1, p2, k3]));
                        }
                    }
                    t.insert("intrinsics".into(), Value::Table(i));
                }
                SensorKind::Lidar(l) => {
                    let mut m = Table::new();
                    if let Some(b) = l.beams {
                        m.insert("beams".into(), Value::Integer(i64::from(b)));
                    }
                    if let Some(fov) = l.vertical_fov_deg {
                        m.insert("vertical_fov_deg".into(), floats(&fov));
                    }
                    if let Some(r) = l.rate_hz {
                        m.insert("rate_hz".into(), Value::Float(r));
                    }
                    if let Some(r) = l.max_range_m {
                        m.insert("max_range_m".into(), Value::Float(r));
                    }
                    if !m.is_empty() {
                        t.insert("model".into(), Value::Table(m));
                    }
                }
                SensorKind::Gnss | SensorKind::Imu => {}
            }
            sensors.insert(name.clone(), Value::Table(t));
        }
        let mut root = Table::new();
        root.insert("name".into(), self.name.clone().into());
        root.insert("sensors".into(), Value::Table(sensors));
        // A table of strings, numbers and tables always serialises; the fallback is unreachable.
        toml::to_string(&root).unwrap_or_default()
    }

    /// Checks the invariants the file parser enforces (finite, proper extrinsics; unique frames;
    /// positive focal lengths and image sizes). Importers call it before returning a rig; `path`
    /// names the source in errors.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let mut seen = BTreeMap::new();
        for (name, s) in &self.sensors {
            let prefix = format!("sensors.{name}");
            check_frame_id(path, &format!("{prefix}.frame_id"), s.frame_id.as_str())?;
            if let Some(other) = seen.insert(s.frame_id.as_str(), name) {
                return Err(calib_err(
                    path,
                    format!("{prefix}.frame_id"),
                    format!("frame {:?} is also used by sensor {other:?}", s.frame_id.as_str()),
                ));
            }
            let iso = &s.base_link_from_sensor;
            let finite = iso.translation.vector.iter().chain(iso.rotation.coords.iter()).all(|v| v.is_finite());
            if !finite {
                return Err(calib_err(path, format!("{prefix}.extrinsics"), "non-finite extrinsics"));
            }
            if let SensorKind::Camera(c) = &s.kind {
                let ik = format!("{prefix}.intrinsics");
                let Distortion::PlumbBob { k1, k2, p1, p2, k3 } = c.distortion else {
                    check_camera(path, &ik, c, &[])?;
                    continue;
                };
                check_camera(path, &ik, c, &[k1, k2, p1, p2, k3])?;
            }
        }
        Ok(())
    }
}

fn floats(values: &[f64]) -> Value {
    Value::Array(values.iter().map(|v| Value::Float(*v)).collect())
}

fn check_frame_id(path: &Path, key: &str, frame_id: &str) -> Result<()> {
    if frame_id.is_empty() || frame_id == FrameId::BASE_LINK || frame_id.contains(char::is_whitespace) {
        return Err(calib_err(
            path,
            key,
            format!("frame id {frame_id:?} must be non-empty, without spaces, not base_link"),
        ));
    }
    Ok(())
}

fn check_camera(path: &Path, key: &str, c: &CameraModel, distortion: &[f64]) -> Result<()> {
    if c.width == 0 {
        return Err(calib_err(path, format!("{key}.width"), "image width must be > 0"));
    }
    if c.height == 0 {
        return Err(calib_err(path, format!("{key}.height"), "image height must be > 0"));
    }
    for (name, v) in [("fx", c.fx()), ("fy", c.fy()), ("cx", c.cx()), ("cy", c.cy()), ("skew", c.skew())] {
        if !v.is_finite() {
            return Err(calib_err(path, format!("{key}.{name}"), format!("{v} is not finite")));
        }
    }
    for (name, v) in [("fx", c.fx()), ("fy", c.fy())] {
        if v <= 0.0 {
            return Err(calib_err(path, format!("{key}.{name}"), format!("focal length {v} must be > 0")));
        }
    }
    if c.k[(1, 0)] != 0.0 || c.k[(2, 0)] != 0.0 || c.k[(2, 1)] != 0.0 || c.k[(2, 2)] != 1.0 {
        return Err(calib_err(path, key.to_owned(), "K must be upper triangular with K[2][2] = 1"));
    }
    if distortion.iter().any(|v| !v.is_finite()) {
        return Err(calib_err(path, format!("{key}.distortion"), "non-finite distortion coefficient"));
    }
    Ok(())
}

/// Walks the parsed TOML, naming every key it rejects.
struct Parser {
    path: PathBuf,
}

impl Parser {
    fn err(&self, key: impl Into<String>, why: impl Into<String>) -> CoreError {
        calib_err(&self.path, key, why)
    }

    fn check_keys(&self, t: &Table, allowed: &[&str], prefix: &str) -> Result<()> {
        match t.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(self.err(join(prefix, k), format!("unknown key (expected one of {allowed:?})"))),
            None => Ok(()),
        }
    }

    fn table<'t>(&self, t: &'t Table, key: &str, prefix: &str) -> Result<&'t Table> {
        match t.get(key) {
            Some(Value::Table(v)) => Ok(v),
            Some(other) => Err(self.err(join(prefix, key), format!("expected a table, found a {}", other.type_str()))),
            None => Err(self.err(join(prefix, key), "missing")),
        }
    }

    fn string<'t>(&self, t: &'t Table, key: &str, prefix: &str) -> Result<Option<&'t str>> {
        match t.get(key) {
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(join(prefix, key), format!("expected a string, found a {}", other.type_str()))),
            None => Ok(None),
        }
    }

    fn number(&self, v: &Value, key: &str) -> Result<f64> {
        let x = match v {
            Value::Float(f) => *f,
            Value::Integer(i) => *i as f64,
            other => return Err(self.err(key, format!("expected a number, found a {}", other.type_str()))),
        };
        if !x.is_finite() {
            return Err(self.err(key, format!("{x} is not finite")));
        }
        Ok(x)
    }

    fn opt_number(&self, t: &Table, key: &str, prefix: &str) -> Result<Option<f64>> {
        t.get(key).map(|v| self.number(v, &join(prefix, key))).transpose()
    }

    fn req_number(&self, t: &Table, key: &str, prefix: &str) -> Result<f64> {
        self.opt_number(t, key, prefix)?.ok_or_else(|| self.err(join(prefix, key), "missing"))
    }

    fn positive_int(&self, t: &Table, key: &str, prefix: &str) -> Result<Option<u32>> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => match u32::try_from(*i) {
                Ok(v) if v > 0 => Ok(Some(v)),
                _ => Err(self.err(join(prefix, key), format!("{i} must be a positive integer"))),
            },
            Some(other) => {
                Err(self.err(join(prefix, key), format!("expected an integer, found a {}", other.type_str())))
            }
        }
    }

    fn numbers<const N: usize>(&self, v: &Value, key: &str) -> Result<[f64; N]> {
        let Value::Array(items) = v else {
            return Err(self.err(key, format!("expected an array of {N} numbers, found a {}", v.type_str())));
        };
        if items.len() != N {
            return Err(self.err(key, format!("expected {N} numbers, found {}", items.len())));
        }
        let mut out = [0.0; N];
        for (i, (slot, item)) in out.iter_mut().zip(items).enumerate() {
            *slot = self.number(item, &format!("{key}[{i}]"))?;
        }
        Ok(out)
    }

    fn rig(&self, root: &Table) -> Result<Rig> {
        self.check_keys(root, &["name", "sensors"], "")?;
        let name = self.string(root, "name", "")?.ok_or_else(|| self.err("name", "missing"))?.to_owned();
        let sensors_table = self.table(root, "sensors", "")?;
        let mut sensors = BTreeMap::new();
        for (sensor_name, value) in sensors_table {
            let prefix = format!("sensors.{sensor_name}");
            let Value::Table(t) = value else {
                return Err(self.err(prefix, format!("expected a table, found a {}", value.type_str())));
            };
            sensors.insert(sensor_name.clone(), self.sensor(sensor_name, t, &prefix)?);
        }
        let rig = Rig { name, sensors };
        rig.validate(&self.path)?;
        Ok(rig)
    }

    fn sensor(&self, name: &str, t: &Table, prefix: &str) -> Result<Sensor> {
        let kind_str = self.string(t, "kind", prefix)?.ok_or_else(|| self.err(join(prefix, "kind"), "missing"))?;
        let allowed: &[&str] = match kind_str {
            "camera" => &["kind", "frame_id", "extrinsics", "intrinsics"],
            "lidar" => &["kind", "frame_id", "extrinsics", "model"],
            "gnss" | "imu" => &["kind", "frame_id", "extrinsics"],
            other => {
                return Err(self.err(
                    join(prefix, "kind"),
                    format!("unknown sensor kind {other:?} (expected camera, lidar, gnss or imu)"),
                ))
            }
        };
        self.check_keys(t, allowed, prefix)?;
        let frame_id = self.string(t, "frame_id", prefix)?.unwrap_or(name);
        check_frame_id(&self.path, &join(prefix, "frame_id"), frame_id)?;
        let ext_prefix = join(prefix, "extrinsics");
        let base_link_from_sensor = self.extrinsics(self.table(t, "extrinsics", prefix)?, &ext_prefix)?;
        let kind = match kind_str {
            "camera" => {
                let ik = join(prefix, "intrinsics");
                SensorKind::Camera(self.camera(self.table(t, "intrinsics", prefix)?, &ik)?)
            }
            "lidar" => match t.get("model") {
                None => SensorKind::Lidar(LidarModel::default()),
                Some(_) => SensorKind::Lidar(self.lidar(self.table(t, "model", prefix)?, &join(prefix, "model"))?),
            },
            "gnss" => SensorKind::Gnss,
            _ => SensorKind::Imu,
        };
        Ok(Sensor { frame_id: FrameId::new(frame_id), base_link_from_sensor, kind })
    }

    fn extrinsics(&self, t: &Table, prefix: &str) -> Result<Isometry3<f64>> {
        self.check_keys(t, &["translation", "quaternion", "rpy", "rotation"], prefix)?;
        let tr_key = join(prefix, "translation");
        let xyz: [f64; 3] = self.numbers(t.get("translation").ok_or_else(|| self.err(&tr_key, "missing"))?, &tr_key)?;
        let given: Vec<&str> = ["quaternion", "rpy", "rotation"].into_iter().filter(|k| t.contains_key(*k)).collect();
        let field = |k: &str| t.get(k).ok_or_else(|| self.err(join(prefix, k), "missing"));
        let rotation = match given.as_slice() {
            ["quaternion"] => {
                let key = join(prefix, "quaternion");
                let [x, y, z, w] = self.numbers::<4>(field("quaternion")?, &key)?;
                let q = Quaternion::new(w, x, y, z);
                if (q.norm() - 1.0).abs() > 1e-3 {
                    return Err(self.err(key, format!("quaternion [x, y, z, w] has norm {:.6}, expected 1", q.norm())));
                }
                UnitQuaternion::from_quaternion(q)
            }
            ["rpy"] => {
                let rpy = self.numbers::<3>(field("rpy")?, &join(prefix, "rpy"))?;
                isometry_from_xyz_rpy([0.0; 3], rpy).rotation
            }
            ["rotation"] => {
                let key = join(prefix, "rotation");
                let Value::Array(rows) = field("rotation")? else {
                    return Err(self.err(key, "expected a 3×3 array of arrays"));
                };
                if rows.len() != 3 {
                    return Err(self.err(key, format!("expected 3 rows, found {}", rows.len())));
                }
                let mut m = Matrix3::zeros();
                for (r, row) in rows.iter().enumerate() {
                    let vals = self.numbers::<3>(row, &format!("{key}[{r}]"))?;
                    for (c, v) in vals.into_iter().enumerate() {
                        m[(r, c)] = v;
                    }
                }
                UnitQuaternion::from_rotation_matrix(&rotation_from_matrix(&m, RIG_ORTHO_TOL, &self.path, &key)?)
            }
            [] => return Err(self.err(join(prefix, "quaternion"), "missing (give one of quaternion, rpy, rotation)")),
            several => {
                return Err(self.err(
                    join(prefix, several.get(1).copied().unwrap_or("rotation")),
                    format!("give exactly one of quaternion, rpy, rotation; found {several:?}"),
                ))
            }
        };
        Ok(Isometry3::from_parts(Translation3::from(Vector3::from(xyz)), rotation))
    }

    fn camera(&self, t: &Table, prefix: &str) -> Result<CameraModel> {
        self.check_keys(
            t,
            &["width", "height", "fx", "fy", "cx", "cy", "skew", "distortion_model", "distortion"],
            prefix,
        )?;
        let width = self.image_size(t, "width", prefix)?;
        let height = self.image_size(t, "height", prefix)?;
        let fx = self.req_number(t, "fx", prefix)?;
        let fy = self.req_number(t, "fy", prefix)?;
        let cx = self.req_number(t, "cx", prefix)?;
        let cy = self.req_number(t, "cy", prefix)?;
        let skew = self.opt_number(t, "skew", prefix)?.unwrap_or(0.0);
        let dist_key = join(prefix, "distortion");
        let distortion = match self.string(t, "distortion_model", prefix)?.unwrap_or("none") {
            "none" => {
                if t.contains_key("distortion") {
                    return Err(self.err(dist_key, "coefficients given but distortion_model is \"none\""));
                }
                Distortion::None
            }
            "plumb_bob" => {
                let v =
                    t.get("distortion").ok_or_else(|| self.err(&dist_key, "missing (plumb_bob needs 5 numbers)"))?;
                let [k1, k2, p1, p2, k3] = self.numbers::<5>(v, &dist_key)?;
                Distortion::PlumbBob { k1, k2, p1, p2, k3 }
            }
            other => {
                return Err(self.err(
                    join(prefix, "distortion_model"),
                    format!("unknown distortion model {other:?} (expected \"none\" or \"plumb_bob\")"),
                ))
            }
        };
        let k = Matrix3::new(fx, skew, cx, 0.0, fy, cy, 0.0, 0.0, 1.0);
        let camera = CameraModel { width, height, k, distortion };
        let coeffs = match distortion {
            Distortion::None => vec![],
            Distortion::PlumbBob { k1, k2, p1, p2, k3 } => vec![k1, k2, p1, p2, k3],
        };
        check_camera(&self.path, prefix, &camera, &coeffs)?;
        Ok(camera)
    }

    fn image_size(&self, t: &Table, key: &str, prefix: &str) -> Result<u32> {
        match t.get(key) {
            None => Err(self.err(join(prefix, key), "missing")),
            Some(Value::Integer(i)) => match u32::try_from(*i) {
                Ok(v) if v > 0 => Ok(v),
                _ => Err(self.err(join(prefix, key), format!("image size {i} must be a positive integer"))),
            },
            Some(other) => {
                Err(self.err(join(prefix, key), format!("expected an integer, found a {}", other.type_str())))
            }
        }
    }

    fn lidar(&self, t: &Table, prefix: &str) -> Result<LidarModel> {
        self.check_keys(t, &["beams", "vertical_fov_deg", "rate_hz", "max_range_m"], prefix)?;
        let beams = self.positive_int(t, "beams", prefix)?;
        let fov_key = join(prefix, "vertical_fov_deg");
        let vertical_fov_deg = t.get("vertical_fov_deg").map(|v| self.numbers::<2>(v, &fov_key)).transpose()?;
        if let Some([lo, hi]) = vertical_fov_deg {
            if !(lo < hi && lo >= -90.0 && hi <= 90.0) {
                return Err(self.err(fov_key, format!("[{lo}, {hi}] must be [lowest, highest] within ±90°")));
            }
        }
        let positive = |key: &str| -> Result<Option<f64>> {
            match self.opt_number(t, key, prefix)? {
                Some(v) if v <= 0.0 => Err(self.err(join(prefix, key), format!("{v} must be > 0"))),
                v => Ok(v),
            }
        };
        let rate_hz = positive("rate_hz")?;
        let max_range_m = positive("max_range_m")?;
        Ok(LidarModel { beams, vertical_fov_deg, rate_hz, max_range_m })
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    const GOOD: &str = r#"
name = "test-rig"

[sensors.lidar]
kind = "lidar"
[sensors.lidar.extrinsics]
translation = [0.0, 0.0, 1.73]
rpy = [0.0, 0.0, 0.0]
[sensors.lidar.model]
beams = 64
vertical_fov_deg = [-24.9, 2.0]
rate_hz = 10.0
max_range_m = 120.0

[sensors.camera_front]
kind = "camera"
[sensors.camera_front.extrinsics]
translation = [0.3, 0.0, 1.65]
quaternion = [-0.5, 0.5, -0.5, 0.5]
[sensors.camera_front.intrinsics]
width = 1242
height = 375
fx = 721.5
fy = 721.5
cx = 609.5
cy = 172.8
distortion_model = "plumb_bob"
distortion = [-0.1, 0.01, 0.001, -0.002, 0.0]

[sensors.imu]
kind = "imu"
frame_id = "imu_link"
[sensors.imu.extrinsics]
translation = [0.0, 0.0, 0.93]
rotation = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
"#;

    /// The key named by a calibration error, or a panic explaining what came instead.
    fn error_key(text: &str) -> String {
        match Rig::from_toml_str(text, "test.toml") {
            Err(CoreError::Calibration { key, path, .. }) => {
                assert_eq!(path, PathBuf::from("test.toml"));
                key
            }
            other => panic!("expected a calibration error, got {other:?}"),
        }
    }

    #[test]
    fn loads_a_valid_rig_with_every_rotation_form() {
        let rig = Rig::from_toml_str(GOOD, "test.toml").unwrap();
        assert_eq!(rig.name, "test-rig");
        assert_eq!(rig.sensors.len(), 3);
        assert_eq!(rig.sensors["imu"].frame_id.as_str(), "imu_link");
        let Some(SensorKind::Lidar(l)) = rig.sensor_by_frame("lidar").map(|s| &s.kind) else { panic!() };
        assert_eq!(l.beams, Some(64));
        // The optical camera looks along base_link +x: its z axis maps to base_link x.
        let cam = rig.base_link_from("camera_front").unwrap();
        assert_relative_eq!(cam * Vector3::z(), Vector3::x(), epsilon = 1e-12);
        assert_relative_eq!(cam * Vector3::x(), -Vector3::y(), epsilon = 1e-12);
    }

    #[test]
    fn transform_chains_through_base_link() {
        let rig = Rig::from_toml_str(GOOD, "test.toml").unwrap();
        let camera_from_lidar = rig.transform("camera_front", "lidar").unwrap();
        assert_eq!(camera_from_lidar.target.as_str(), "camera_front");
        assert_eq!(camera_from_lidar.source.as_str(), "lidar");
        // 10 m ahead of the lidar is 10 m along the optical axis, 0.08 m below the camera (y down).
        let p = camera_from_lidar.apply(&Point3::new(10.3, 0.0, 0.0));
        assert_relative_eq!(p, Point3::new(0.0, -0.08, 10.0), epsilon = 1e-9);
        let identity = camera_from_lidar.compose(&rig.transform("lidar", "camera_front").unwrap()).unwrap();
        assert_relative_eq!(identity.target_from_source, Isometry3::identity(), epsilon = 1e-12);
        assert!(rig.transform("camera_front", "radar").is_err());
        assert_eq!(rig.transform("base_link", "base_link").unwrap().target_from_source, Isometry3::identity());
    }

    #[test]
    fn toml_round_trips_exactly() {
        let rig = Rig::from_toml_str(GOOD, "test.toml").unwrap();
        let again = Rig::from_toml_str(&rig.to_toml_string(), "again.toml").unwrap();
        assert_eq!(rig.name, again.name);
        for (name, s) in &rig.sensors {
            let t = &again.sensors[name];
            assert_eq!(s.frame_id, t.frame_id);
            assert_eq!(s.kind, t.kind);
            assert_relative_eq!(s.base_link_from_sensor, t.base_link_from_sensor, epsilon = 1e-15);
        }
    }

    #[test]
    fn projects_with_plumb_bob_and_refuses_points_behind() {
        let k = Matrix3::new(700.0, 0.0, 600.0, 0.0, 710.0, 180.0, 0.0, 0.0, 1.0);
        let pinhole = CameraModel { width: 1200, height: 360, k, distortion: Distortion::None };
        let p = pinhole.project(&Point3::new(1.0, -0.5, 10.0)).unwrap();
        assert_relative_eq!(p, Point2::new(670.0, 144.5), epsilon = 1e-12);
        assert!(pinhole.contains(&p));
        assert!(pinhole.project(&Point3::new(1.0, 0.0, -5.0)).is_none());
        assert!(pinhole.project(&Point3::new(1.0, 0.0, 0.0)).is_none());
        assert!(pinhole.project(&Point3::new(f64::NAN, 0.0, 1.0)).is_none());
        let (k1, k2, p1, p2, k3) = (-0.3, 0.1, 0.001, -0.002, 0.01);
        let distorted = CameraModel { distortion: Distortion::PlumbBob { k1, k2, p1, p2, k3 }, ..pinhole };
        let q = distorted.project(&Point3::new(1.0, -0.5, 10.0)).unwrap();
        // OpenCV projectPoints formula, written out for x = 0.1, y = -0.05.
        let (x, y) = (0.1f64, -0.05f64);
        let r2 = x * x + y * y;
        let radial = 1.0 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2;
        let xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
        let yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
        assert_relative_eq!(q, Point2::new(700.0 * xd + 600.0, 710.0 * yd + 180.0), epsilon = 1e-12);
    }

    #[test]
    fn rejects_missing_focal_length_naming_the_key() {
        assert_eq!(error_key(&GOOD.replace("fx = 721.5\n", "")), "sensors.camera_front.intrinsics.fx");
    }

    #[test]
    fn rejects_missing_extrinsics_naming_the_key() {
        let text = GOOD
            .replace("[sensors.imu.extrinsics]\ntranslation = [0.0, 0.0, 0.93]\n", "")
            .replace("rotation = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]\n", "");
        assert_eq!(error_key(&text), "sensors.imu.extrinsics");
    }

    #[test]
    fn rejects_missing_rig_name_naming_the_key() {
        assert_eq!(error_key(&GOOD.replace("name = \"test-rig\"", "")), "name");
    }

    #[test]
    fn rejects_quaternion_with_three_numbers_naming_the_key() {
        let text = GOOD.replace("quaternion = [-0.5, 0.5, -0.5, 0.5]", "quaternion = [-0.5, 0.5, -0.5]");
        assert_eq!(error_key(&text), "sensors.camera_front.extrinsics.quaternion");
    }

    #[test]
    fn rejects_non_unit_quaternion_naming_the_key() {
        let text = GOOD.replace("quaternion = [-0.5, 0.5, -0.5, 0.5]", "quaternion = [0.0, 0.0, 0.0, 0.0]");
        assert_eq!(error_key(&text), "sensors.camera_front.extrinsics.quaternion");
    }

    #[test]
    fn rejects_nan_translation_naming_the_element() {
        let text = GOOD.replace("translation = [0.0, 0.0, 1.73]", "translation = [0.0, nan, 1.73]");
        assert_eq!(error_key(&text), "sensors.lidar.extrinsics.translation[1]");
    }

    #[test]
    fn rejects_infinite_principal_point_naming_the_key() {
        assert_eq!(error_key(&GOOD.replace("cx = 609.5", "cx = inf")), "sensors.camera_front.intrinsics.cx");
    }

    #[test]
    fn rejects_non_orthonormal_rotation_naming_the_key() {
        let text = GOOD.replace("[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]", "[[1.0, 0.01, 0.0], [0.0, 1.0, 0.0]");
        assert_eq!(error_key(&text), "sensors.imu.extrinsics.rotation");
    }

    #[test]
    fn rejects_reflection_matrix_naming_the_key() {
        let text = GOOD.replace("[0.0, 0.0, 1.0]]", "[0.0, 0.0, -1.0]]");
        assert_eq!(error_key(&text), "sensors.imu.extrinsics.rotation");
    }

    #[test]
    fn rejects_rotation_row_of_wrong_length_naming_the_row() {
        let text = GOOD
            .replace("[0.0, 1.0, 0.0]]", "[0.0, 1.0]]")
            .replace("[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0],", "[[1.0, 0.0, 0.0], [0.0, 1.0],");
        assert_eq!(error_key(&text), "sensors.imu.extrinsics.rotation[1]");
    }

    #[test]
    fn rejects_two_rotation_forms_at_once() {
        let text = GOOD.replace("rpy = [0.0, 0.0, 0.0]", "rpy = [0.0, 0.0, 0.0]\nquaternion = [0.0, 0.0, 0.0, 1.0]");
        assert_eq!(error_key(&text), "sensors.lidar.extrinsics.rpy");
    }

    #[test]
    fn rejects_non_positive_focal_length_naming_the_key() {
        assert_eq!(error_key(&GOOD.replace("fy = 721.5", "fy = -721.5")), "sensors.camera_front.intrinsics.fy");
        assert_eq!(error_key(&GOOD.replace("fx = 721.5", "fx = 0")), "sensors.camera_front.intrinsics.fx");
    }

    #[test]
    fn rejects_zero_image_size_naming_the_key() {
        assert_eq!(error_key(&GOOD.replace("width = 1242", "width = 0")), "sensors.camera_front.intrinsics.width");
        assert_eq!(error_key(&GOOD.replace("height = 375", "height = 0")), "sensors.camera_front.intrinsics.height");
    }

    #[test]
    fn rejects_plumb_bob_with_four_coefficients_naming_the_key() {
        let text =
            GOOD.replace("distortion = [-0.1, 0.01, 0.001, -0.002, 0.0]", "distortion = [-0.1, 0.01, 0.001, -0.002]");
        assert_eq!(error_key(&text), "sensors.camera_front.intrinsics.distortion");
    }

    #[test]
    fn rejects_unknown_distortion_model_naming_the_key() {
        let text = GOOD.replace("\"plumb_bob\"", "\"fisheye\"");
        assert_eq!(error_key(&text), "sensors.camera_front.intrinsics.distortion_model");
    }

    #[test]
    fn rejects_misspelt_key_instead_of_defaulting() {
        assert_eq!(
            error_key(&GOOD.replace("cy = 172.8", "cy = 172.8\nskwe = 0.1")),
            "sensors.camera_front.intrinsics.skwe"
        );
    }

    #[test]
    fn rejects_unknown_sensor_kind_naming_the_key() {
        assert_eq!(error_key(&GOOD.replace("kind = \"imu\"", "kind = \"radar\"")), "sensors.imu.kind");
    }

    #[test]
    fn rejects_duplicate_frame_ids_naming_the_key() {
        assert_eq!(
            error_key(&GOOD.replace("frame_id = \"imu_link\"", "frame_id = \"lidar\"")),
            "sensors.lidar.frame_id"
        );
    }

    #[test]
    fn rejects_sensor_called_base_link() {
        assert_eq!(
            error_key(&GOOD.replace("frame_id = \"imu_link\"", "frame_id = \"base_link\"")),
            "sensors.imu.frame_id"
        );
    }

    #[test]
    fn rejects_bad_lidar_model_values_naming_the_key() {
        assert_eq!(error_key(&GOOD.replace("beams = 64", "beams = -64")), "sensors.lidar.model.beams");
        assert_eq!(error_key(&GOOD.replace("[-24.9, 2.0]", "[2.0, -24.9]")), "sensors.lidar.model.vertical_fov_deg");
        assert_eq!(error_key(&GOOD.replace("rate_hz = 10.0", "rate_hz = 0.0")), "sensors.lidar.model.rate_hz");
    }

    #[test]
    fn truncated_file_is_a_syntax_error_with_its_line() {
        let cut = &GOOD[..GOOD.find("cx = 609.5").unwrap() + 4];
        let key = error_key(cut);
        assert!(key.starts_with("(toml syntax, line"), "{key}");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let err = Rig::load("/nonexistent/rig.toml").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/rig.toml"), "{err}");
    }
}
