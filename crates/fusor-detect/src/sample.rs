//! Training / evaluation samples: one lidar scan in `base_link`, the camera view that goes with
//! it, and ground-truth boxes in `base_link`; generated from simulated drives and cached on disk.

use crate::{DetectError, Result};
use fusor_core::calib::CameraModel;
use fusor_core::{Box3, Image, ObjectClass, PointCloud};
use fusor_sim::{Drive, Scenario};
use nalgebra::{Isometry3, Matrix3, Matrix4, Point3, Vector3};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// A camera frame resized to the network's input size, with the calibration that goes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraView {
    /// Width in pixels (the network's input width).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Tightly packed RGB, row-major, `width * height * 3` bytes.
    pub rgb: Vec<u8>,
    /// Intrinsics scaled to `width × height` (`image_from_camera`).
    pub camera: CameraModel,
    /// `camera_from_base_link` (optical frame).
    pub camera_from_base_link: Isometry3<f64>,
    /// Per-pixel class (row-major, `width * height`): 0 background, `k + 1` for
    /// [`crate::config::CLASSES`]`[k]`. Known for simulated frames (training targets of the
    /// image net's segmentation head), empty otherwise.
    pub labels: Vec<u8>,
}

impl CameraView {
    /// Whether this view is an image of `size = [w, h]` (the network's input size), pixels whole.
    pub fn fits(&self, size: [u32; 2]) -> bool {
        let [w, h] = size;
        self.width == w && self.height == h && self.rgb.len() == w as usize * h as usize * 3
    }

    /// Resizes `image` (any size; box-filtered) to `size = [w, h]` and scales `camera` with it.
    /// The image must have the size the camera model declares: anything else is rejected, since
    /// the intrinsics would not describe it.
    pub fn from_image(
        image: &Image,
        camera: &CameraModel,
        camera_from_base_link: &Isometry3<f64>,
        size: [u32; 2],
    ) -> Result<Self> {
        if image.width != camera.width || image.height != camera.height {
            return Err(DetectError::Input(format!(
                "image {} × {} does not match the camera model's {} × {}",
                image.width, image.height, camera.width, camera.height
            )));
        }
        if image.width == 0 || image.height == 0 {
            return Err(DetectError::Input("empty image".into()));
        }
        let [w, h] = size;
        let src = image.to_rgb8_packed();
        let (sw, sh) = (image.width as usize, image.height as usize);
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        for v in 0..h as usize {
            let y0 = v * sh / h as usize;
            let y1 = ((v + 1) * sh / h as usize).max(y0 + 1).min(sh);
            for u in 0..w as usize {
                let x0 = u * sw / w as usize;
                let x1 = ((u + 1) * sw / w as usize).max(x0 + 1).min(sw);
                let mut acc = [0u32; 3];
                for y in y0..y1 {
                    for x in x0..x1 {
                        let p = (y * sw + x) * 3;
                        for c in 0..3 {
                            acc[c] += u32::from(src[p + c]);
                        }
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as u32;
                let o = (v * w as usize + u) * 3;
                for c in 0..3 {
                    rgb[o + c] = (acc[c] / n) as u8;
                }
            }
        }
        let (sx, sy) = (f64::from(w) / f64::from(image.width), f64::from(h) / f64::from(image.height));
        let scale = Matrix3::new(sx, 0.0, 0.0, 0.0, sy, 0.0, 0.0, 0.0, 1.0);
        let camera = CameraModel { width: w, height: h, k: scale * camera.k, distortion: camera.distortion };
        Ok(Self { width: w, height: h, rgb, camera, camera_from_base_link: *camera_from_base_link, labels: Vec::new() })
    }

    /// Sets [`Self::labels`] from a full-size per-pixel label image (`src_size = [w, h]`, e.g.
    /// classes looked up from the simulator's instance mask): each view pixel takes the label at
    /// the centre of the area it was averaged from. A label image of the wrong length is refused.
    pub fn with_labels(mut self, src: &[u8], src_size: [u32; 2]) -> Result<Self> {
        let (sw, sh) = (src_size[0] as usize, src_size[1] as usize);
        if src.len() != sw * sh || sw == 0 || sh == 0 {
            return Err(DetectError::Input(format!("label image of {} pixels for {sw} × {sh}", src.len())));
        }
        let (w, h) = (self.width as usize, self.height as usize);
        self.labels = (0..h)
            .flat_map(|v| (0..w).map(move |u| (u, v)))
            .map(|(u, v)| src[((2 * v + 1) * sh / (2 * h)).min(sh - 1) * sw + ((2 * u + 1) * sw / (2 * w)).min(sw - 1)])
            .collect();
        Ok(self)
    }

    /// Pixel `(u, v)` (column, row, integer pixel whose area holds the projection) of a point in
    /// `base_link`, `None` when it does not land on the image.
    pub fn pixel_of(&self, point_in_base_link: &Point3<f64>) -> Option<(u32, u32)> {
        let point_in_camera = self.camera_from_base_link * point_in_base_link;
        let px = self.camera.project(&point_in_camera)?;
        self.camera.contains(&px).then(|| (px.x.floor() as u32, px.y.floor() as u32))
    }
}

/// One ground-truth object of a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct GtBox {
    /// Class.
    pub class: ObjectClass,
    /// Box in `base_link` (at the scan stamp), the object posed where the lidar swept it
    /// ([`fusor_sim::Drive::ground_truth_as_swept`]): where its points are.
    pub bbox: Box3,
    /// Lidar points of the scan on the object (0: invisible to the lidar).
    pub lidar_points: u32,
}

/// One lidar scan with its camera views and ground truth, everything in `base_link`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seed of the simulated drive (0 for hand-made samples).
    pub seed: u64,
    /// Scan index within the drive.
    pub scan: u64,
    /// Points `[x, y, z, intensity]`, metres in `base_link` (deskewed to the scan stamp).
    pub points: Vec<[f32; 4]>,
    /// The camera views taken with the scan (front camera first), empty when there is none
    /// (blackout, no camera).
    pub cameras: Vec<CameraView>,
    /// Ground-truth objects in `base_link`.
    pub boxes: Vec<GtBox>,
}

/// Forward band (m, `base_link`) of points kept in generated samples: the grids we train cover
/// less, and the cache stays small.
pub const CACHE_X_M: std::ops::Range<f32> = -10.0..50.0;
/// Lateral half-width (m) of points kept in generated samples.
pub const CACHE_Y_M: f32 = 30.0;

/// Minimum lidar points for an object to be a training target and a scored evaluation object;
/// objects with fewer points are ignored (neither found nor missed).
pub const MIN_LIDAR_POINTS: u32 = 5;

/// Points of `cloud` (frame `base_link`) as `[x, y, z, intensity]`, dropping non-finite points.
pub fn points_of(cloud: &PointCloud) -> Vec<[f32; 4]> {
    let n = cloud.x.len().min(cloud.y.len()).min(cloud.z.len());
    (0..n)
        .map(|i| [cloud.x[i], cloud.y[i], cloud.z[i], cloud.intensity.get(i).copied().unwrap_or(0.0)])
        .filter(|p| p.iter().all(|v| v.is_finite()))
        .collect()
}

/// Which cameras of the simulated car a data set's samples carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CameraSet {
    /// The front camera alone (KITTI's rig).
    #[default]
    Front,
    /// The front camera and two side cameras turned 60° left and right
    /// ([`fusor_sim::rig::SimRig::surround_cameras`]): every place of the grid is in a camera's view.
    Surround,
}

impl CameraSet {
    /// Name on the command line and in cache file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Front => "front",
            Self::Surround => "surround",
        }
    }
}

impl std::str::FromStr for CameraSet {
    type Err = DetectError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "front" => Ok(Self::Front),
            "surround" => Ok(Self::Surround),
            _ => Err(DetectError::Input(format!("camera set `{s}`: expected `front` or `surround`"))),
        }
    }
}

/// Which scans of which simulated drives make a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct DriveSpec {
    /// Scenario (seeded) of the drive.
    pub scenario: Scenario,
    /// Use every `stride`-th lidar scan (consecutive scans are nearly identical).
    pub stride: u64,
    /// The cameras whose views the samples carry.
    pub cameras: CameraSet,
}

/// Street clutter ([`fusor_sim::world::street_clutter`]) in the towns of the detector's drives:
/// person-sized bins, pay stations and shrubs that a lidar-only detector can take for pedestrians.
pub const DETECTOR_STREET_CLUTTER: f64 = 1.0;

impl DriveSpec {
    /// A default scenario from `seed` with [`DETECTOR_STREET_CLUTTER`], `duration_s` long, every
    /// `stride`-th scan.
    pub fn from_seed(seed: u64, duration_s: f64, stride: u64) -> Self {
        let mut scenario = Scenario::new(seed, duration_s);
        scenario.world.street_clutter = DETECTOR_STREET_CLUTTER;
        Self { scenario, stride: stride.max(1), cameras: CameraSet::Front }
    }

    /// This spec with the views of `cameras`.
    pub fn with_cameras(mut self, cameras: CameraSet) -> Self {
        self.cameras = cameras;
        self
    }
}

/// Samples of a simulated drive, read from `cache_dir` when there, generated (and written there)
/// otherwise. `image_size` is the network's camera input size.
pub fn drive_samples(spec: &DriveSpec, image_size: [u32; 2], cache_dir: Option<&Path>) -> Result<Vec<Sample>> {
    let s = &spec.scenario;
    let rate_hz = s.rig_config.lidar_model.rate_hz.unwrap_or(s.lidar.rate_hz);
    let scans = (s.duration_s * rate_hz).floor() as u64;
    let wanted: Vec<u64> = (0..scans).step_by(spec.stride as usize).collect();
    // The file name carries a hash of the whole scenario, so a drive with other sensors or faults
    // (32 beams, a turned camera) never reads the samples of another.
    let tag = scenario_hash(s);
    let rig_tag = match spec.cameras {
        CameraSet::Front => String::new(),
        set => format!("_{}", set.as_str()),
    };
    let key = |i: u64| {
        cache_dir.map(|d| {
            d.join(format!(
                "seed{}_d{}_{tag:016x}_scan{i:05}_{}x{}{rig_tag}.safetensors",
                s.seed, s.duration_s, image_size[0], image_size[1]
            ))
        })
    };
    let cached = |i: u64| key(i).filter(|p| p.exists()).and_then(|p| load_current(&p));
    // The cached prefix of the drive, each file read once; the simulator starts only for a miss.
    let mut out = Vec::with_capacity(wanted.len());
    for &i in &wanted {
        match cached(i) {
            Some(sample) => out.push(sample),
            None => break,
        }
    }
    if out.len() == wanted.len() {
        return Ok(out);
    }
    let mut drive = Drive::new(s).map_err(|e| DetectError::Data(format!("scenario seed {}: {e}", s.seed)))?;
    let rig = drive.rig().to_rig("sim");
    let camera = rig
        .camera(fusor_sim::rig::CAMERA_FRAME)
        .cloned()
        .ok_or_else(|| DetectError::Data("sim rig has no front camera".into()))?;
    // The nominal calibration of every camera: a scenario's camera fault turns the real mounts.
    let mounts: Vec<Isometry3<f64>> = match spec.cameras {
        CameraSet::Front => vec![drive.rig().base_link_from_camera(0.0)],
        CameraSet::Surround => drive.rig().surround_cameras().into_iter().map(|(_, m)| m).collect(),
    };
    let base_link_from_lidar = drive.rig().base_link_from_lidar();
    // Pixel labels: the class (1 + index in CLASSES) of the object id the camera saw.
    let class_of: HashMap<u32, u8> = drive
        .world()
        .actors()
        .iter()
        .filter_map(|a| {
            let k = crate::config::CLASSES.iter().position(|c| *c == a.class)?;
            Some((a.id, k as u8 + 1))
        })
        .collect();
    // A cache that cannot be written (disk full, read-only folder) costs speed, not the run: the
    // samples are in memory. Warn once and stop writing for this drive.
    let mut cache_ok = true;
    for &i in &wanted[out.len()..] {
        if let Some(sample) = cached(i) {
            out.push(sample);
            continue;
        }
        let path = key(i);
        let gt = drive.ground_truth_as_swept(i);
        let t0 = drive.time_of(gt.stamp);
        let base_link_from_map = gt.map_from_base_link.inverse();
        let offsets = drive.lidar_scan(i).cloud.time_offset_s.clone().unwrap_or_default();
        let n = drive.lidar_scan(i).cloud.x.len();
        // Deskew: each point at its firing time, into base_link at the scan stamp. Firings share
        // time offsets, so poses are cached per offset.
        let ego = drive.ego();
        let mut poses: HashMap<u32, Isometry3<f64>> = HashMap::new();
        let base_link_at: Vec<Isometry3<f64>> = (0..n)
            .map(|k| {
                let dt = offsets.get(k).copied().unwrap_or(0.0);
                *poses.entry(dt.to_bits()).or_insert_with(|| {
                    base_link_from_map * ego.map_from_base_link(t0 + f64::from(dt)) * base_link_from_lidar
                })
            })
            .collect();
        let cloud = &drive.lidar_scan(i).cloud;
        let mut points = Vec::with_capacity(cloud.x.len());
        for (k, pose) in base_link_at.iter().enumerate() {
            let p = pose * Point3::new(f64::from(cloud.x[k]), f64::from(cloud.y[k]), f64::from(cloud.z[k]));
            let q = [p.x as f32, p.y as f32, p.z as f32, cloud.intensity.get(k).copied().unwrap_or(0.0)];
            if q.iter().all(|v| v.is_finite()) && CACHE_X_M.contains(&q[0]) && q[1].abs() <= CACHE_Y_M {
                points.push(q);
            }
        }
        let mut cameras = Vec::with_capacity(mounts.len());
        for (k, base_link_from_camera) in mounts.iter().enumerate() {
            // Camera 0 on noise stream 0 is the front camera's own frame.
            let (image, ids) = drive.camera_frame_from(base_link_from_camera, k as u64, t0, gt.stamp, i, true);
            let pixel_class: Vec<u8> = ids.iter().map(|id| class_of.get(id).copied().unwrap_or(0)).collect();
            let view = CameraView::from_image(&image, &camera, &base_link_from_camera.inverse(), image_size)?
                .with_labels(&pixel_class, [image.width, image.height])?;
            cameras.push(view);
        }
        let ego_yaw = yaw_of(&gt.map_from_base_link);
        let boxes = gt
            .objects
            .iter()
            .filter(|r| crate::config::CLASSES.contains(&r.object.class))
            .map(|r| {
                let b = &r.object.bbox;
                GtBox {
                    class: r.object.class,
                    bbox: Box3 {
                        frame_id: "base_link".into(),
                        center: base_link_from_map * b.center,
                        size: b.size,
                        yaw_rad: wrap_angle(b.yaw_rad - ego_yaw),
                    },
                    lidar_points: r.lidar_points,
                }
            })
            .collect();
        let sample = Sample { seed: s.seed, scan: i, points, cameras, boxes };
        if let Some(p) = path.as_ref().filter(|_| cache_ok) {
            if let Err(e) = save_sample(&sample, p) {
                tracing::warn!(seed = s.seed, "sample cache not written, going on without it: {e}");
                cache_ok = false;
            }
        }
        out.push(sample);
    }
    Ok(out)
}

/// A cached sample, unless it cannot be read or predates pixel labels (then it is made again).
/// A sample read is marked as just used (its modification time), so that [`prune_cache`] removes
/// the samples used longest ago.
fn load_current(path: &Path) -> Option<Sample> {
    let sample = load_sample(path).ok().filter(|s| s.cameras.iter().all(|c| !c.labels.is_empty()))?;
    // Best effort: a cache that cannot be touched only loses its use order.
    if let Ok(file) = std::fs::File::options().write(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
    Some(sample)
}

/// FNV-1a hash of a scenario's full description (stable for a given build of the simulator) and
/// of [`LABELS`]. Settings added to the scenario after samples were first cached are left out at
/// their default, so that those samples stay valid; the side cameras the samples carry are named
/// by the file's [`CameraSet`] suffix, not by the scenario's recording setting.
fn scenario_hash(s: &Scenario) -> u64 {
    let text =
        format!("{s:?}{LABELS}").replace(", surround: false", "").replace(", imu_mount_error_deg: [0.0, 0.0, 0.0]", "");
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// How the samples' ground truth is labelled, part of the cache key: each object posed when the
/// lidar swept it ([`fusor_sim::Drive::ground_truth_as_swept`]; samples cached before 2026-12-07
/// had every object at the scan stamp and are made again).
const LABELS: &str = " labels: as swept";

/// Heading (rad) of an isometry's x axis in its parent's xy plane.
fn yaw_of(iso: &Isometry3<f64>) -> f64 {
    let fwd = iso.rotation * Vector3::x();
    fwd.y.atan2(fwd.x)
}

/// `a` wrapped to (-π, π].
pub fn wrap_angle(a: f64) -> f64 {
    let mut a = a % std::f64::consts::TAU;
    if a > std::f64::consts::PI {
        a -= std::f64::consts::TAU;
    } else if a <= -std::f64::consts::PI {
        a += std::f64::consts::TAU;
    }
    a
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> DetectError {
    DetectError::Data(format!("{}: {e}", path.display()))
}

/// Writes a sample as safetensors (points, image, calibration, boxes): to `<path>.<pid>.partial`,
/// then renamed to `path`.
pub fn save_sample(sample: &Sample, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let flat: Vec<f32> = sample.points.iter().flatten().copied().collect();
    let points = Tensor::from_slice(&flat).reshape([sample.points.len() as i64, 4]);
    let boxes: Vec<f64> = sample
        .boxes
        .iter()
        .flat_map(|b| {
            let c = match b.class {
                ObjectClass::Car => 0.0,
                ObjectClass::Pedestrian => 1.0,
                ObjectClass::Cyclist => 2.0,
                ObjectClass::Other => 3.0,
            };
            let (p, s) = (b.bbox.center, b.bbox.size);
            [c, p.x, p.y, p.z, s.x, s.y, s.z, b.bbox.yaw_rad, f64::from(b.lidar_points)]
        })
        .collect();
    let boxes = Tensor::from_slice(&boxes).reshape([sample.boxes.len() as i64, 9]);
    let meta = Tensor::from_slice(&[sample.seed as i64, sample.scan as i64]);
    let names: Vec<[String; 3]> = (0..sample.cameras.len()).map(camera_tensor_names).collect();
    let mut named: Vec<(&str, Tensor)> = vec![("points", points), ("boxes", boxes), ("meta", meta)];
    for (v, [rgb, calib_name, labels]) in sample.cameras.iter().zip(&names) {
        let k = &v.camera.k;
        let m = v.camera_from_base_link.to_homogeneous();
        let calib: Vec<f64> =
            [k[(0, 0)], k[(0, 1)], k[(0, 2)], k[(1, 1)], k[(1, 2)]].into_iter().chain(m.iter().copied()).collect();
        named.push((rgb.as_str(), Tensor::from_slice(&v.rgb).reshape([i64::from(v.height), i64::from(v.width), 3])));
        named.push((calib_name.as_str(), Tensor::from_slice(&calib)));
        if !v.labels.is_empty() {
            named.push((
                labels.as_str(),
                Tensor::from_slice(&v.labels).reshape([i64::from(v.height), i64::from(v.width)]),
            ));
        }
    }
    // Written beside and renamed into place, so that a write cut short (a full disk) never leaves
    // a truncated file under the final name; the process id keeps two runs that make the same
    // sample at once out of each other's partial file.
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let partial = PathBuf::from(partial);
    let written = Tensor::write_safetensors(&named, &partial)
        .map_err(|e| io_err(path, e))
        .and_then(|()| std::fs::rename(&partial, path).map_err(|e| io_err(path, e)));
    if written.is_err() {
        // Best effort: the error that matters is the write's.
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Reads a sample written by [`save_sample`].
pub fn load_sample(path: &Path) -> Result<Sample> {
    let named = Tensor::read_safetensors(path).map_err(|e| io_err(path, e))?;
    let get = |n: &str| named.iter().find(|(k, _)| k == n).map(|(_, t)| t);
    let need = |n: &str| get(n).ok_or_else(|| io_err(path, format!("no tensor `{n}`")));
    let to_f32 = |t: &Tensor| -> Result<Vec<f32>> {
        Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).map_err(|e| io_err(path, e))
    };
    let to_f64 = |t: &Tensor| -> Result<Vec<f64>> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).map_err(|e| io_err(path, e))
    };
    let points: Vec<[f32; 4]> = to_f32(need("points")?)?.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
    let boxes = to_f64(need("boxes")?)?
        .chunks_exact(9)
        .map(|c| GtBox {
            class: match c[0] as i64 {
                0 => ObjectClass::Car,
                1 => ObjectClass::Pedestrian,
                2 => ObjectClass::Cyclist,
                _ => ObjectClass::Other,
            },
            bbox: Box3 {
                frame_id: "base_link".into(),
                center: Point3::new(c[1], c[2], c[3]),
                size: Vector3::new(c[4], c[5], c[6]),
                yaw_rad: c[7],
            },
            lidar_points: c[8] as u32,
        })
        .collect();
    let meta = Vec::<i64>::try_from(need("meta")?.flatten(0, -1)).map_err(|e| io_err(path, e))?;
    let mut cameras = Vec::new();
    for [rgb_name, calib_name, labels_name] in (0..MAX_CAMERAS).map(camera_tensor_names) {
        let (Some(rgb), Some(calib)) = (get(&rgb_name), get(&calib_name)) else { break };
        let size = rgb.size();
        if size.len() != 3 || size[2] != 3 {
            return Err(io_err(path, format!("{rgb_name} has shape {size:?}, expected [h, w, 3]")));
        }
        let c = to_f64(calib)?;
        if c.len() != 21 {
            return Err(io_err(path, format!("{calib_name} has {} values, expected 21", c.len())));
        }
        let m = Matrix4::from_column_slice(&c[5..21]);
        let rot = nalgebra::Rotation3::from_matrix_unchecked(m.fixed_view::<3, 3>(0, 0).into_owned());
        let iso = Isometry3::from_parts(
            nalgebra::Translation3::new(m[(0, 3)], m[(1, 3)], m[(2, 3)]),
            nalgebra::UnitQuaternion::from_rotation_matrix(&rot),
        );
        let (h, w) = (size[0] as u32, size[1] as u32);
        let labels = match get(&labels_name) {
            Some(t) if t.size() == [size[0], size[1]] => {
                Vec::<u8>::try_from(t.flatten(0, -1)).map_err(|e| io_err(path, e))?
            }
            Some(t) => {
                return Err(io_err(path, format!("{labels_name} have shape {:?}, expected [{h}, {w}]", t.size())))
            }
            None => Vec::new(),
        };
        cameras.push(CameraView {
            width: w,
            height: h,
            rgb: Vec::<u8>::try_from(rgb.flatten(0, -1)).map_err(|e| io_err(path, e))?,
            camera: CameraModel {
                width: w,
                height: h,
                k: Matrix3::new(c[0], c[1], c[2], 0.0, c[3], c[4], 0.0, 0.0, 1.0),
                distortion: fusor_core::calib::Distortion::None,
            },
            camera_from_base_link: iso,
            labels,
        });
    }
    Ok(Sample {
        seed: meta.first().copied().unwrap_or(0) as u64,
        scan: meta.get(1).copied().unwrap_or(0) as u64,
        points,
        cameras,
        boxes,
    })
}

/// Most camera views a sample file is read with (a guard against absurd files, not a rig limit
/// anyone meets).
const MAX_CAMERAS: usize = 16;

/// Tensor names of camera `k`'s image, calibration and pixel labels in a sample file: `rgb`,
/// `calib`, `labels` for the first (the front camera, as in files from before surround rigs),
/// then `rgb1`, `calib1`, `labels1`, ...
fn camera_tensor_names(k: usize) -> [String; 3] {
    let suffix = if k == 0 { String::new() } else { k.to_string() };
    ["rgb", "calib", "labels"].map(|n| format!("{n}{suffix}"))
}

/// Default cache folder for generated samples (git-ignored).
pub fn default_cache_dir() -> PathBuf {
    PathBuf::from("recordings/cache/detect")
}

/// What [`prune_cache`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CachePrune {
    /// Sample files removed.
    pub files_removed: usize,
    /// Bytes they held.
    pub bytes_removed: u64,
    /// Bytes of sample files left.
    pub bytes_kept: u64,
}

/// Keeps the sample cache in `dir` under `max_bytes` by removing the sample files used longest
/// ago (by modification time, which [`drive_samples`] refreshes on every read). Only files this
/// module writes are touched (`seed*.safetensors`, and `*.partial` left by an interrupted write);
/// a missing folder is an empty cache. A sample removed here is simply made again when needed.
pub fn prune_cache(dir: &Path, max_bytes: u64) -> Result<CachePrune> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CachePrune::default()),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = (name.starts_with("seed") && name.ends_with(".safetensors")) || name.ends_with(".partial");
        // A file removed by another run between listing and `metadata` is simply not counted.
        let Ok(meta) = entry.metadata() else { continue };
        if ours && meta.is_file() {
            let modified = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
            files.push((modified, meta.len(), entry.path()));
        }
    }
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    let mut report = CachePrune::default();
    files.sort();
    for (_, len, path) in files {
        if total <= max_bytes {
            break;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, e)),
        }
        total -= len;
        report.files_removed += 1;
        report.bytes_removed += len;
    }
    report.bytes_kept = total;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_ignores_settings_at_their_late_added_defaults_and_sees_them_otherwise() {
        let level = Scenario::new(7, 30.0);
        let text = format!("{level:?}");
        assert!(text.contains(", imu_mount_error_deg: [0.0, 0.0, 0.0]"), "the replaced text must match the Debug form");
        let mut tilted = level.clone();
        tilted.faults.imu_mount_error_deg = [0.0, 3.0, 0.0];
        assert_ne!(scenario_hash(&level), scenario_hash(&tilted));
    }
}
