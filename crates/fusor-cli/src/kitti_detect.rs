//! `fusor detect-kitti`: the detector trained on simulated drives, run on real KITTI object
//! frames, with the labels matched to its boxes and the input statistics that explain what
//! transfers (point counts on the grid, intensity, points on an object at a given range), set side
//! by side with the same statistics on simulated frames.
//!
//! Frames: KITTI's Velodyne (x forward, y left, z up) is moved into the detector's `base_link`
//! by [`base_link_from_velodyne`], the one place that says where `base_link` is. Labels
//! (rectified cam-0 frame) go through fusor-core's KITTI rig into the Velodyne frame and then the
//! same transform; the camera is placed by `camera_from_base_link = camera_front_from_velodyne ·
//! velodyne_from_base_link` with the rectified cam-2 intrinsics.
//!
//! Outputs in `--out`: one BEV PNG per frame, `report.md` and `frames.json` (the figures of the
//! report, for tests and later comparison).

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use fusor_core::calib::kitti::{load_kitti_labels, KittiCalib, CAMERA_FRONT, LIDAR};
use fusor_core::calib::CameraModel;
use fusor_core::{Box3, FrameId, Image, ObjectClass, PixelFormat, PointCloud, Stamp};
use fusor_detect::sample::{drive_samples, DriveSpec};
use fusor_detect::target::DecodedBox;
use fusor_detect::{CameraView, Detector, FrameInput, ModelConfig, Sample};
use fusor_eval::geometry::iou_bev;
use nalgebra::{Isometry3, Point3, Translation3};
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `fusor detect-kitti`.
#[derive(Debug, Args)]
pub struct KittiDetectArgs {
    /// Detector weights (safetensors written by `fusor train`).
    #[arg(long)]
    pub weights: PathBuf,
    /// KITTI object `training` folder (holding velodyne/, image_2/, calib/, label_2/).
    #[arg(long, default_value = "../shared/data/kitti_object/training")]
    pub data: PathBuf,
    /// Frames to run, comma separated.
    #[arg(long, default_value = "000000,000001,000002", value_delimiter = ',')]
    pub frames: Vec<String>,
    /// Run without the camera (fused models then see a blacked-out camera, as in training's
    /// camera dropout).
    #[arg(long)]
    pub no_camera: bool,
    /// Output folder for the PNGs, `report.md` and `frames.json`.
    #[arg(long, default_value = "docs/kitti_transfer")]
    pub out: PathBuf,
    /// Detections at or above this score that match no label are listed as false positives.
    #[arg(long, default_value_t = 0.3)]
    pub fp_score: f32,
    /// Multiplies KITTI's reflectance before the detector sees it (a diagnostic: the simulator's
    /// intensities are about a quarter of KITTI's, see the report). The statistics stay raw.
    #[arg(long, default_value_t = 1.0)]
    pub intensity_scale: f32,
    /// Simulated frames to compute the comparison statistics on (0: skip the simulator).
    #[arg(long, default_value_t = 30)]
    pub sim_frames: u64,
    /// Seed of the simulated drive for the comparison (20 001 is the first held-out test seed).
    #[arg(long, default_value_t = 20_001)]
    pub sim_seed: u64,
    /// Cache of simulated samples (as `fusor train`).
    #[command(flatten)]
    pub cache: crate::train::SampleCache,
}

/// Where the Velodyne sits in the detector's `base_link`, metres.
///
/// The detector was trained on fusor-sim's rig (`calibration/sim-rig.toml`): `base_link` on the
/// ground, the lidar 0.8 m ahead of it and 1.73 m up, level. KITTI's HDL-64E is 1.73 m above the
/// road (setup sheet), and its OXTS IMU, under which fusor-core's KITTI rig puts `base_link`, is
/// 0.81 m behind it, so this is both the simulator's mount and KITTI's own `base_link` (up to the
/// IMU's 0.32 m lateral offset). The 0.8 m matters: the network's range feature and the grid
/// `x ∈ [0, 40)` are measured from `base_link`, not from the lidar. The Velodyne is taken as level
/// (the test checks that the ground then lies at z ≈ 0).
pub const VELODYNE_IN_BASE_LINK_M: [f64; 3] = [0.8, 0.0, 1.73];

/// `base_link_from_velodyne`: see [`VELODYNE_IN_BASE_LINK_M`].
pub fn base_link_from_velodyne() -> Isometry3<f64> {
    let [x, y, z] = VELODYNE_IN_BASE_LINK_M;
    Isometry3::from_parts(Translation3::new(x, y, z), nalgebra::UnitQuaternion::identity())
}

/// Largest distance (m) between a label's and a detection's BEV centres for a match.
pub const MATCH_DISTANCE_M: f64 = 2.0;

/// Largest offset of the principal point from the image centre, as a fraction of the image side,
/// for an image to be taken as belonging to its calibration (KITTI: ≤ 4 %).
const PRINCIPAL_POINT_TOLERANCE: f64 = 0.1;

/// One KITTI frame, everything in the detector's `base_link`.
struct KittiFrame {
    /// Points `[x, y, z, reflectance]` in `base_link`, finite only.
    points: Vec<[f32; 4]>,
    image: Image,
    camera: CameraModel,
    camera_from_base_link: Isometry3<f64>,
    labels: Vec<Label>,
    /// `DontCare` regions of the label file, `[x1, y1, x2, y2]` px in `image_2`.
    dont_care: Vec<[f64; 4]>,
}

/// A label in `base_link`.
#[derive(Debug, Clone, Serialize)]
struct Label {
    type_name: String,
    /// The detector class it is scored as, `None` for types the detector does not predict.
    class: Option<&'static str>,
    #[serde(skip)]
    class_value: Option<ObjectClass>,
    #[serde(skip)]
    bbox: Box3,
    center_m: [f64; 3],
    size_lwh_m: [f64; 3],
    yaw_rad: f64,
    /// BEV distance from `base_link`, metres.
    range_m: f64,
    on_grid: bool,
    /// Detector class and centre on the grid: counted as found or missed.
    scored: bool,
    /// Lidar points inside the box.
    points_inside: usize,
    /// The label's 2D box in `image_2`, `[x1, y1, x2, y2]` px.
    bbox_2d: [f64; 4],
    /// The box centre projected through `camera_from_base_link` (px), `None` behind the camera.
    center_px: Option<[f64; 2]>,
    center_px_in_bbox_2d: bool,
    /// The detection matched to it.
    matched: Option<Match>,
    /// Missed labels: the nearest detection of any class within 2 × [`MATCH_DISTANCE_M`].
    nearest_other: Option<Nearby>,
}

#[derive(Debug, Clone, Serialize)]
struct Match {
    detection: usize,
    score: f32,
    centre_error_m: f64,
    iou_bev: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Nearby {
    class: &'static str,
    score: f32,
    distance_m: f64,
}

#[derive(Debug, Clone, Serialize)]
struct DetectionOut {
    class: &'static str,
    score: f32,
    center_m: [f64; 3],
    size_lwh_m: [f64; 3],
    yaw_rad: f64,
    range_m: f64,
    matched_label: Option<usize>,
    /// Unmatched: the unscored label (off grid or another type) whose BEV box it overlaps.
    on_unscored_label: Option<String>,
    /// The box centre projects into `image_2` (KITTI labels only objects seen by the camera).
    in_camera_view: bool,
    /// The box centre projects into a `DontCare` region of the label file.
    in_dont_care: bool,
}

impl DetectionOut {
    /// Unmatched, and somewhere KITTI would have labelled an object of the detector's classes.
    fn is_false_positive(&self, min_score: f32) -> bool {
        self.matched_label.is_none()
            && self.on_unscored_label.is_none()
            && self.in_camera_view
            && !self.in_dont_care
            && self.score >= min_score
    }
}

#[derive(Debug, Clone, Default, Serialize)]
struct Quantiles {
    n: usize,
    mean: f64,
    p10: f64,
    p50: f64,
    p90: f64,
}

impl Quantiles {
    fn of(mut v: Vec<f64>) -> Self {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
        Self { n: v.len(), mean: v.iter().sum::<f64>() / v.len() as f64, p10: q(0.1), p50: q(0.5), p90: q(0.9) }
    }
}

/// Input statistics of one frame (KITTI or simulated).
#[derive(Debug, Clone, Default, Serialize)]
struct InputStats {
    points_total: usize,
    /// Points on the BEV grid and in the height band (before the `max_points` cap).
    points_on_grid: usize,
    /// Median over 1 m cells (x ∈ [2, 30), |y| < 15) of the lowest point's z, metres.
    ground_z_median_m: f64,
    intensity_on_grid: Quantiles,
    /// Points with z < 0.25 m (mostly road).
    intensity_ground: Quantiles,
    /// Points inside car boxes.
    intensity_cars: Quantiles,
    /// Mean RGB (0–255) of the camera view at the network's input size.
    image_mean_rgb: [f64; 3],
}

#[derive(Debug, Clone, Serialize)]
struct FrameOut {
    id: String,
    image_size: [u32; 2],
    camera_used: bool,
    stats: InputStats,
    labels: Vec<Label>,
    detections: Vec<DetectionOut>,
    false_positives: usize,
    bev_png: String,
}

/// Points per object in simulated frames, for comparison with one KITTI label.
#[derive(Debug, Clone, Serialize)]
struct SimDensity {
    frame: String,
    label: String,
    range_m: f64,
    kitti_points: usize,
    sim_objects: usize,
    sim_range_window_m: f64,
    sim_points: Quantiles,
}

#[derive(Debug, Clone, Serialize)]
struct RunOut {
    weights: String,
    mode: String,
    camera: bool,
    score_threshold: f32,
    fp_score: f32,
    match_distance_m: f64,
    velodyne_in_base_link_m: [f64; 3],
    intensity_scale: f32,
    frames: Vec<FrameOut>,
    sim_seed: u64,
    sim_frames: usize,
    sim_stats: Option<InputStats>,
    sim_density: Vec<SimDensity>,
}

pub fn run(args: KittiDetectArgs) -> Result<()> {
    let detector = Detector::load(&args.weights, tch::Device::Cpu)?;
    let cfg = detector.config().clone();
    let use_camera = !args.no_camera && cfg.mode.uses_camera();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let font = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok();

    let mut frames_out = Vec::new();
    for id in &args.frames {
        let frame = load_frame(&args.data, id, &cfg)?;
        let view = if use_camera {
            let v = CameraView::from_image(&frame.image, &frame.camera, &frame.camera_from_base_link, cfg.image_size)
                .map_err(|e| anyhow!("frame {id}: camera view: {e}"))?;
            Some(v)
        } else {
            None
        };
        let scaled: Vec<[f32; 4]>;
        let points = if args.intensity_scale == 1.0 {
            &frame.points
        } else {
            scaled = frame.points.iter().map(|p| [p[0], p[1], p[2], p[3] * args.intensity_scale]).collect();
            &scaled
        };
        let cameras = view.as_slice();
        let boxes = detector.detect_frames(&[FrameInput { points, cameras }]).pop().unwrap_or_default();
        if let Some(b) = boxes.iter().find(|b| !box_is_finite(&b.bbox) || !b.score.is_finite()) {
            bail!("frame {id}: the detector returned a non-finite box {b:?}");
        }
        let image_view = match &view {
            Some(v) => Some(v.clone()),
            // Statistics only: the image as the network would have seen it.
            None => {
                CameraView::from_image(&frame.image, &frame.camera, &frame.camera_from_base_link, cfg.image_size).ok()
            }
        };
        let car_boxes: Vec<&Box3> =
            frame.labels.iter().filter(|l| l.class_value == Some(ObjectClass::Car)).map(|l| &l.bbox).collect();
        let stats = input_stats(&cfg, &frame.points, &car_boxes, image_view.as_ref());
        let (labels, mut detections) = match_frame(frame.labels.clone(), &boxes);
        for (d, b) in detections.iter_mut().zip(&boxes) {
            let px = frame.camera.project(&(frame.camera_from_base_link * b.bbox.center));
            d.in_camera_view = px.is_some_and(|p| frame.camera.contains(&p));
            d.in_dont_care = px.is_some_and(|p| {
                frame.dont_care.iter().any(|[x1, y1, x2, y2]| p.x >= *x1 && p.x <= *x2 && p.y >= *y1 && p.y <= *y2)
            });
        }
        let false_positives = detections.iter().filter(|d| d.is_false_positive(args.fp_score)).count();
        let png = format!("{id}.png");
        draw_bev(&args.out.join(&png), &cfg, &frame, &labels, &detections, font, &title(&args, &cfg, id, use_camera))?;
        frames_out.push(FrameOut {
            id: id.clone(),
            image_size: [frame.image.width, frame.image.height],
            camera_used: view.is_some(),
            stats,
            labels,
            detections,
            false_positives,
            bev_png: png,
        });
    }

    let (sim_stats, sim_density, sim_n) = if args.sim_frames > 0 {
        let samples = sim_samples(&args, &cfg)?;
        let stats = sim_input_stats(&cfg, &samples);
        let density = sim_density(&frames_out, &samples);
        (Some(stats), density, samples.len())
    } else {
        (None, Vec::new(), 0)
    };

    let run = RunOut {
        weights: args.weights.display().to_string(),
        mode: cfg.mode.to_string(),
        camera: use_camera,
        score_threshold: detector.score_threshold,
        fp_score: args.fp_score,
        match_distance_m: MATCH_DISTANCE_M,
        velodyne_in_base_link_m: VELODYNE_IN_BASE_LINK_M,
        intensity_scale: args.intensity_scale,
        frames: frames_out,
        sim_seed: args.sim_seed,
        sim_frames: sim_n,
        sim_stats,
        sim_density,
    };
    let table = frame_tables(&run);
    print!("{table}");
    let md = report(&args, &cfg, &run, &table);
    let report_path = args.out.join("report.md");
    std::fs::write(&report_path, md).with_context(|| format!("writing {}", report_path.display()))?;
    let json_path = args.out.join("frames.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&run)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!("wrote {} and {} BEV PNGs in {}", report_path.display(), run.frames.len(), args.out.display());
    Ok(())
}

fn title(args: &KittiDetectArgs, cfg: &ModelConfig, id: &str, camera: bool) -> String {
    let name = args.weights.file_stem().and_then(|s| s.to_str()).unwrap_or("weights");
    let scale =
        if args.intensity_scale == 1.0 { String::new() } else { format!(", intensity × {}", args.intensity_scale) };
    format!("KITTI {id}: {name} ({}, camera {}{scale})", cfg.mode, if camera { "on" } else { "off" })
}

/// Reads one frame: image (its size sets the camera model's), calibration, Velodyne scan, labels.
fn load_frame(data: &Path, id: &str, cfg: &ModelConfig) -> Result<KittiFrame> {
    let image_path = data.join("image_2").join(format!("{id}.png"));
    let calib_path = data.join("calib").join(format!("{id}.txt"));
    let velo_path = data.join("velodyne").join(format!("{id}.bin"));
    let label_path = data.join("label_2").join(format!("{id}.txt"));

    let image = read_png(&image_path)?;
    let calib = KittiCalib::load_object(&calib_path, [image.width, image.height])
        .with_context(|| format!("frame {id}: calibration"))?;
    check_image_fits_calib(&calib, &image_path, [image.width, image.height])?;
    let rig = calib.to_rig(format!("kitti-object-{id}")).with_context(|| format!("frame {id}: calibration"))?;
    let camera = rig
        .camera(CAMERA_FRONT)
        .cloned()
        .ok_or_else(|| anyhow!("frame {id}: the KITTI rig has no `{CAMERA_FRONT}` camera"))?;
    let camera_front_from_velodyne = rig.transform(CAMERA_FRONT, LIDAR)?.target_from_source;
    let base_link_from_velodyne = base_link_from_velodyne();
    let camera_from_base_link = camera_front_from_velodyne * base_link_from_velodyne.inverse();

    let bytes = std::fs::read(&velo_path).with_context(|| format!("reading {}", velo_path.display()))?;
    let cloud = PointCloud::from_f32_records(&bytes, 4, Stamp::default(), LIDAR)
        .with_context(|| format!("{}: not a KITTI Velodyne scan", velo_path.display()))?;
    let points = points_in_base_link(&cloud, &base_link_from_velodyne);

    let kitti_labels = load_kitti_labels(&label_path).with_context(|| format!("frame {id}: labels"))?;
    let mut labels = Vec::new();
    for object in &kitti_labels.objects {
        let in_velodyne =
            object.box_in(&rig, LIDAR).with_context(|| format!("frame {id}: label {}", object.type_name))?;
        let bbox = Box3 {
            frame_id: FrameId::new("base_link"),
            center: base_link_from_velodyne * in_velodyne.center,
            size: in_velodyne.size,
            yaw_rad: in_velodyne.yaw_rad,
        };
        let class_value = object.class.filter(|c| fusor_detect::CLASSES.contains(c));
        let on_grid = cfg.cell_of(bbox.center.x as f32, bbox.center.y as f32).is_some();
        let center_px = camera
            .project(&(camera_from_base_link * bbox.center))
            .map(|p| [p.x, p.y])
            .filter(|p| p.iter().all(|v| v.is_finite()));
        let [x1, y1, x2, y2] = object.bbox_2d;
        let center_px_in_bbox_2d = center_px.is_some_and(|[u, v]| u >= x1 && u <= x2 && v >= y1 && v <= y2);
        labels.push(Label {
            type_name: object.type_name.clone(),
            class: class_value.map(|c| c.as_str()),
            class_value,
            center_m: [bbox.center.x, bbox.center.y, bbox.center.z],
            size_lwh_m: [bbox.size.x, bbox.size.y, bbox.size.z],
            yaw_rad: bbox.yaw_rad,
            range_m: bbox.center.x.hypot(bbox.center.y),
            on_grid,
            scored: on_grid && class_value.is_some(),
            points_inside: points_in_box(&points, &bbox),
            bbox_2d: object.bbox_2d,
            center_px,
            center_px_in_bbox_2d,
            matched: None,
            nearest_other: None,
            bbox,
        });
    }
    let label_text =
        std::fs::read_to_string(&label_path).with_context(|| format!("reading {}", label_path.display()))?;
    let dont_care = dont_care_regions(&label_text);
    Ok(KittiFrame { points, image, camera, camera_from_base_link, labels, dont_care })
}

/// The 2D boxes of `DontCare` lines (fusor-core's parser counts them only). Lines that do not
/// parse are skipped: the parser has already accepted the file.
fn dont_care_regions(label_text: &str) -> Vec<[f64; 4]> {
    label_text
        .lines()
        .filter(|l| l.starts_with("DontCare"))
        .filter_map(|l| {
            let v: Vec<f64> = l.split_whitespace().skip(4).take(4).filter_map(|t| t.parse().ok()).collect();
            match v[..] {
                [x1, y1, x2, y2] => Some([x1, y1, x2, y2]),
                _ => None,
            }
        })
        .collect()
}

fn read_png(path: &Path) -> Result<Image> {
    let decoded = image::open(path).with_context(|| format!("reading image {}", path.display()))?.into_rgb8();
    let (width, height) = decoded.dimensions();
    Image::new(Stamp::default(), CAMERA_FRONT, width, height, PixelFormat::Rgb8, width as usize * 3, decoded.into_raw())
        .with_context(|| format!("image {}", path.display()))
}

/// The calibration holds no image size, so the PNG's is used; an image of another size (resized,
/// another camera) would silently get wrong intrinsics. Its principal point must lie near the
/// image centre, as it does for every KITTI camera.
fn check_image_fits_calib(calib: &KittiCalib, image_path: &Path, [w, h]: [u32; 2]) -> Result<()> {
    let (cx, cy) = (calib.p2[(0, 2)], calib.p2[(1, 2)]);
    let (w, h) = (f64::from(w), f64::from(h));
    if (cx - w / 2.0).abs() > PRINCIPAL_POINT_TOLERANCE * w || (cy - h / 2.0).abs() > PRINCIPAL_POINT_TOLERANCE * h {
        bail!(
            "{} is {w} × {h} px, but P2 in {} puts the principal point at ({cx:.1}, {cy:.1}), not near the image \
             centre: the image does not belong to this calibration (KITTI image_2 is about 1242 × 375)",
            image_path.display(),
            calib.source.display()
        );
    }
    Ok(())
}

fn points_in_base_link(cloud: &PointCloud, base_link_from_velodyne: &Isometry3<f64>) -> Vec<[f32; 4]> {
    (0..cloud.len())
        .filter_map(|i| {
            let p = Point3::new(f64::from(cloud.x[i]), f64::from(cloud.y[i]), f64::from(cloud.z[i]));
            let q = base_link_from_velodyne * p;
            let out = [q.x as f32, q.y as f32, q.z as f32, cloud.intensity.get(i).copied().unwrap_or(0.0)];
            out.iter().all(|v| v.is_finite()).then_some(out)
        })
        .collect()
}

fn box_is_finite(b: &Box3) -> bool {
    b.center.iter().chain(b.size.iter()).all(|v| v.is_finite()) && b.yaw_rad.is_finite()
}

/// Whether `p` (base_link) lies in the upright box `b` (base_link).
fn inside(b: &Box3, p: &[f32; 4]) -> bool {
    let (dx, dy, dz) = (f64::from(p[0]) - b.center.x, f64::from(p[1]) - b.center.y, f64::from(p[2]) - b.center.z);
    let (s, c) = b.yaw_rad.sin_cos();
    let (lx, ly) = (c * dx + s * dy, -s * dx + c * dy);
    lx.abs() <= b.size.x / 2.0 && ly.abs() <= b.size.y / 2.0 && dz.abs() <= b.size.z / 2.0
}

fn points_in_box(points: &[[f32; 4]], b: &Box3) -> usize {
    points.iter().filter(|p| inside(b, p)).count()
}

fn bev_distance(a: &Box3, b: &Box3) -> f64 {
    (a.center.x - b.center.x).hypot(a.center.y - b.center.y)
}

/// Greedy matching, nearest labels first: each scored label takes the nearest unmatched detection
/// of its class within [`MATCH_DISTANCE_M`].
fn match_frame(mut labels: Vec<Label>, boxes: &[DecodedBox]) -> (Vec<Label>, Vec<DetectionOut>) {
    let mut taken: Vec<Option<usize>> = vec![None; boxes.len()];
    let mut order: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].scored).collect();
    order.sort_by(|&a, &b| labels[a].range_m.total_cmp(&labels[b].range_m));
    for li in order {
        let label = &labels[li];
        let best = boxes
            .iter()
            .enumerate()
            .filter(|(k, d)| taken[*k].is_none() && Some(d.class) == label.class_value)
            .map(|(k, d)| (k, bev_distance(&d.bbox, &label.bbox)))
            .filter(|(_, dist)| *dist <= MATCH_DISTANCE_M)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((k, dist)) => {
                taken[k] = Some(li);
                let d = &boxes[k];
                labels[li].matched = Some(Match {
                    detection: k,
                    score: d.score,
                    centre_error_m: dist,
                    iou_bev: iou_bev(&d.bbox, &label.bbox),
                });
            }
            None => {
                labels[li].nearest_other = boxes
                    .iter()
                    .map(|d| (d, bev_distance(&d.bbox, &label.bbox)))
                    .filter(|(_, dist)| *dist <= 2.0 * MATCH_DISTANCE_M)
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(d, dist)| Nearby { class: d.class.as_str(), score: d.score, distance_m: dist });
            }
        }
    }
    let detections = boxes
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let on_unscored_label = taken[k].is_none().then(|| {
                labels
                    .iter()
                    .filter(|l| !l.scored)
                    .find(|l| iou_bev(&l.bbox, &d.bbox) > 0.0 || bev_distance(&l.bbox, &d.bbox) <= MATCH_DISTANCE_M)
                    .map(|l| l.type_name.clone())
            });
            DetectionOut {
                class: d.class.as_str(),
                score: d.score,
                center_m: [d.bbox.center.x, d.bbox.center.y, d.bbox.center.z],
                size_lwh_m: [d.bbox.size.x, d.bbox.size.y, d.bbox.size.z],
                yaw_rad: d.bbox.yaw_rad,
                range_m: d.bbox.center.x.hypot(d.bbox.center.y),
                matched_label: taken[k],
                on_unscored_label: on_unscored_label.flatten(),
                in_camera_view: false,
                in_dont_care: false,
            }
        })
        .collect();
    (labels, detections)
}

fn on_grid_points<'a>(cfg: &'a ModelConfig, points: &'a [[f32; 4]]) -> impl Iterator<Item = &'a [f32; 4]> + 'a {
    points.iter().filter(|p| p[2] >= cfg.z_range_m[0] && p[2] < cfg.z_range_m[1] && cfg.cell_of(p[0], p[1]).is_some())
}

/// Median over 1 m cells (x ∈ [2, 30), |y| < 15) holding ≥ 3 points of the lowest z: the ground
/// height seen by the detector, robust to cars and walls (their cells' lowest points are still
/// near the ground or few).
fn ground_z_median(points: &[[f32; 4]]) -> f64 {
    let mut lowest: std::collections::HashMap<(i32, i32), (f32, u32)> = std::collections::HashMap::new();
    for p in points.iter().filter(|p| (2.0..30.0).contains(&p[0]) && p[1].abs() < 15.0 && p[2] < 3.0) {
        let e = lowest.entry((p[0].floor() as i32, p[1].floor() as i32)).or_insert((f32::INFINITY, 0));
        e.0 = e.0.min(p[2]);
        e.1 += 1;
    }
    Quantiles::of(lowest.values().filter(|(_, n)| *n >= 3).map(|(z, _)| f64::from(*z)).collect()).p50
}

fn input_stats(cfg: &ModelConfig, points: &[[f32; 4]], cars: &[&Box3], view: Option<&CameraView>) -> InputStats {
    let grid: Vec<&[f32; 4]> = on_grid_points(cfg, points).collect();
    let image_mean_rgb = view
        .map(|v| {
            let n = (v.rgb.len() / 3).max(1) as f64;
            let mut acc = [0.0; 3];
            for px in v.rgb.chunks_exact(3) {
                for c in 0..3 {
                    acc[c] += f64::from(px[c]);
                }
            }
            acc.map(|a| a / n)
        })
        .unwrap_or_default();
    InputStats {
        points_total: points.len(),
        points_on_grid: grid.len(),
        ground_z_median_m: ground_z_median(points),
        intensity_on_grid: Quantiles::of(grid.iter().map(|p| f64::from(p[3])).collect()),
        intensity_ground: Quantiles::of(grid.iter().filter(|p| p[2] < 0.25).map(|p| f64::from(p[3])).collect()),
        intensity_cars: Quantiles::of(
            grid.iter().filter(|p| cars.iter().any(|b| inside(b, p))).map(|p| f64::from(p[3])).collect(),
        ),
        image_mean_rgb,
    }
}

/// Simulated frames spread over a drive of the held-out seed.
fn sim_samples(args: &KittiDetectArgs, cfg: &ModelConfig) -> Result<Vec<Sample>> {
    // 1 s between frames: different traffic in each.
    let stride = 10;
    let duration_s = (args.sim_frames * stride) as f64 / 10.0;
    let spec = DriveSpec::from_seed(args.sim_seed, duration_s, stride);
    let samples = drive_samples(&spec, cfg.image_size, Some(&args.cache.dir))
        .with_context(|| format!("simulated drive of seed {}", args.sim_seed))?;
    args.cache.prune()?;
    Ok(samples)
}

/// Statistics pooled over the simulated frames.
fn sim_input_stats(cfg: &ModelConfig, samples: &[Sample]) -> InputStats {
    let per: Vec<InputStats> = samples
        .iter()
        .map(|s| {
            let cars: Vec<&Box3> = s.boxes.iter().filter(|b| b.class == ObjectClass::Car).map(|b| &b.bbox).collect();
            input_stats(cfg, &s.points, &cars, s.cameras.first())
        })
        .collect();
    let n = per.len().max(1) as f64;
    let pooled = |f: &dyn Fn(&[f32; 4]) -> bool| {
        Quantiles::of(
            samples
                .iter()
                .flat_map(|s| on_grid_points(cfg, &s.points))
                .filter(|p| f(p))
                .map(|p| f64::from(p[3]))
                .collect(),
        )
    };
    let mut car_intensity = Vec::new();
    for s in samples {
        let cars: Vec<&Box3> = s.boxes.iter().filter(|b| b.class == ObjectClass::Car).map(|b| &b.bbox).collect();
        car_intensity.extend(
            on_grid_points(cfg, &s.points).filter(|p| cars.iter().any(|b| inside(b, p))).map(|p| f64::from(p[3])),
        );
    }
    InputStats {
        points_total: (per.iter().map(|s| s.points_total).sum::<usize>() as f64 / n).round() as usize,
        points_on_grid: (per.iter().map(|s| s.points_on_grid).sum::<usize>() as f64 / n).round() as usize,
        ground_z_median_m: Quantiles::of(per.iter().map(|s| s.ground_z_median_m).collect()).p50,
        intensity_on_grid: pooled(&|_| true),
        intensity_ground: pooled(&|p| p[2] < 0.25),
        intensity_cars: Quantiles::of(car_intensity),
        image_mean_rgb: [0, 1, 2].map(|c| per.iter().map(|s| s.image_mean_rgb[c]).sum::<f64>() / n),
    }
}

/// For each scored KITTI label, the points inside simulated objects of its class at a similar range.
fn sim_density(frames: &[FrameOut], samples: &[Sample]) -> Vec<SimDensity> {
    let mut out = Vec::new();
    for f in frames {
        for l in f.labels.iter().filter(|l| l.scored) {
            let near = |window: f64| -> Vec<f64> {
                samples
                    .iter()
                    .flat_map(|s| s.boxes.iter().map(move |b| (s, b)))
                    .filter(|(_, b)| Some(b.class) == l.class_value)
                    .filter(|(_, b)| (b.bbox.center.x.hypot(b.bbox.center.y) - l.range_m).abs() <= window)
                    .map(|(s, b)| points_in_box(&s.points, &b.bbox) as f64)
                    .filter(|&n| n > 0.0)
                    .collect()
            };
            let (mut window, mut pts) = (3.0, near(3.0));
            if pts.len() < 3 {
                (window, pts) = (6.0, near(6.0));
            }
            out.push(SimDensity {
                frame: f.id.clone(),
                label: l.type_name.clone(),
                range_m: l.range_m,
                kitti_points: l.points_inside,
                sim_objects: pts.len(),
                sim_range_window_m: window,
                sim_points: Quantiles::of(pts),
            });
        }
    }
    out
}

fn frame_tables(run: &RunOut) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n| frame | scored labels | detected | missed | false positives (score ≥ {}) | other unmatched ≥ {} (outside camera view / DontCare / unscored label) |\n|---|---|---|---|---|---|",
        run.fp_score, run.fp_score
    );
    for f in &run.frames {
        let scored = f.labels.iter().filter(|l| l.scored).count();
        let found = f.labels.iter().filter(|l| l.matched.is_some()).count();
        let other = f.detections.iter().filter(|d| d.matched_label.is_none() && d.score >= run.fp_score).count()
            - f.false_positives;
        let _ = writeln!(s, "| {} | {scored} | {found} | {} | {} | {other} |", f.id, scored - found, f.false_positives);
    }
    for f in &run.frames {
        let _ = writeln!(
            s,
            "\n### frame {} ({} × {} px, camera {}; {} points, {} on the grid)\n",
            f.id,
            f.image_size[0],
            f.image_size[1],
            if f.camera_used { "on" } else { "off" },
            f.stats.points_total,
            f.stats.points_on_grid
        );
        s.push_str("| label | class | centre x, y (m) | range (m) | points in box | result | score | centre error (m) | BEV IoU |\n");
        s.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for l in &f.labels {
            let class = l.class.unwrap_or("–");
            let centre = format!("{:.1}, {:.1}", l.center_m[0], l.center_m[1]);
            let head = format!("| {} | {class} | {centre} | {:.1} | {} |", l.type_name, l.range_m, l.points_inside);
            let row = match (&l.matched, l.scored) {
                (Some(m), _) => {
                    format!("{head} detected | {:.2} | {:.2} | {:.2} |", m.score, m.centre_error_m, m.iou_bev)
                }
                (None, true) => {
                    let near = l
                        .nearest_other
                        .as_ref()
                        .map(|n| format!(" (nearest detection: {} {:.2} at {:.1} m)", n.class, n.score, n.distance_m))
                        .unwrap_or_default();
                    format!("{head} **missed**{near} | – | – | – |")
                }
                (None, false) => {
                    let why = if l.class.is_none() { "not a detector class" } else { "off the grid" };
                    format!("{head} not scored ({why}) | – | – | – |")
                }
            };
            s.push_str(&row);
            s.push('\n');
        }
        let fps: Vec<&DetectionOut> =
            f.detections.iter().filter(|d| d.matched_label.is_none() && d.score >= run.fp_score).collect();
        let _ = writeln!(
            s,
            "\nFalse positives (score ≥ {}, in the camera view, not on a DontCare region or an unscored label): {}.",
            run.fp_score, f.false_positives
        );
        if fps.is_empty() {
            let _ = writeln!(s, "\nUnmatched detections with score ≥ {}: none.", run.fp_score);
        } else {
            let _ = writeln!(s, "\nUnmatched detections with score ≥ {}:\n", run.fp_score);
            s.push_str("| class | score | centre x, y (m) | range (m) | size l × w × h (m) | note |\n|---|---|---|---|---|---|\n");
            for d in fps {
                let note = match &d.on_unscored_label {
                    Some(t) => format!("on the unscored `{t}` label"),
                    None if !d.in_camera_view => "outside the camera view (KITTI labels nothing there)".into(),
                    None if d.in_dont_care => "in a DontCare region".into(),
                    None => "**false positive**".into(),
                };
                let _ = writeln!(
                    s,
                    "| {} | {:.2} | {:.1}, {:.1} | {:.1} | {:.1} × {:.1} × {:.1} | {note} |",
                    d.class,
                    d.score,
                    d.center_m[0],
                    d.center_m[1],
                    d.range_m,
                    d.size_lwh_m[0],
                    d.size_lwh_m[1],
                    d.size_lwh_m[2]
                );
            }
        }
        let below = f.detections.iter().filter(|d| d.matched_label.is_none() && d.score < run.fp_score).count();
        let _ =
            writeln!(s, "({below} more unmatched detections between {} and {}.)", run.score_threshold, run.fp_score);
    }
    s
}

fn q(q: &Quantiles) -> String {
    if q.n == 0 {
        return "–".into();
    }
    format!("{:.2} / {:.2} / {:.2} (mean {:.2}, n {})", q.p10, q.p50, q.p90, q.mean, q.n)
}

fn report(args: &KittiDetectArgs, cfg: &ModelConfig, run: &RunOut, tables: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# KITTI transfer: `{}` ({}, camera {})\n",
        run.weights,
        run.mode,
        if run.camera { "on" } else { "off" }
    );
    let _ = writeln!(
        s,
        "Generated by `fusor detect-kitti --weights {} --data {} --frames {}{}{} --out {}`.\n",
        args.weights.display(),
        args.data.display(),
        args.frames.join(","),
        if args.no_camera { " --no-camera" } else { "" },
        if args.intensity_scale == 1.0 {
            String::new()
        } else {
            format!(" --intensity-scale {}", args.intensity_scale)
        },
        args.out.display()
    );
    let [vx, vy, vz] = VELODYNE_IN_BASE_LINK_M;
    let _ = writeln!(
        s,
        "- Velodyne at ({vx}, {vy}, {vz}) m in `base_link` (the simulator's lidar mount), level. Labels through \
         `R0_rect`/`Tr_velo_to_cam`, camera `camera_from_base_link` = rectified cam 2 from the same chain.\n\
         - Grid x ∈ [{}, {}) m, y ∈ [{}, {}) m, z ∈ [{}, {}) m, at most {} points per scan (an even subsample beyond).\n\
         - A label is scored when it is a car (KITTI `Car`, `Van`), pedestrian (`Pedestrian`, `Person_sitting`) or \
         cyclist and its centre is on the grid. It is detected when a detection of its class has its BEV centre within \
         {} m (nearest first); BEV IoU is reported for information. Detections are peaks with score ≥ {}.\n",
        cfg.x_range_m[0],
        cfg.x_range_m[1],
        cfg.y_range_m[0],
        cfg.y_range_m[1],
        cfg.z_range_m[0],
        cfg.z_range_m[1],
        cfg.max_points,
        run.match_distance_m,
        run.score_threshold
    );
    s.push_str("## Per frame\n");
    s.push_str(tables);
    for f in &run.frames {
        let _ = writeln!(s, "\n![frame {}]({})", f.id, f.bev_png);
    }
    s.push_str("\n## Input statistics: KITTI vs the simulator\n\n");
    match &run.sim_stats {
        Some(sim) => {
            let _ = writeln!(
                s,
                "Simulated: {} frames of the held-out drive seed {} (the detector's drives: default scenario with street clutter), pooled. Intensity as \
                 p10 / p50 / p90.\n",
                run.sim_frames, run.sim_seed
            );
            s.push_str("| input | ");
            for f in &run.frames {
                let _ = write!(s, "KITTI {} | ", f.id);
            }
            s.push_str("sim |\n|---|");
            for _ in 0..=run.frames.len() {
                s.push_str("---|");
            }
            s.push('\n');
            let row = |s: &mut String, name: &str, f: &dyn Fn(&InputStats) -> String| {
                let _ = write!(s, "| {name} | ");
                for fr in &run.frames {
                    let _ = write!(s, "{} | ", f(&fr.stats));
                }
                let _ = writeln!(s, "{} |", f(sim));
            };
            row(&mut s, "points in scan", &|x| x.points_total.to_string());
            row(&mut s, "points on grid and in z band", &|x| x.points_on_grid.to_string());
            row(&mut s, "ground z (median lowest per 1 m cell, m)", &|x| format!("{:.2}", x.ground_z_median_m));
            row(&mut s, "intensity, all on grid", &|x| q(&x.intensity_on_grid));
            row(&mut s, "intensity, z < 0.25 m (road)", &|x| q(&x.intensity_ground));
            row(&mut s, "intensity, inside car boxes", &|x| q(&x.intensity_cars));
            row(&mut s, "camera mean RGB at network size", &|x| {
                let [r, g, b] = x.image_mean_rgb;
                format!("{r:.0}, {g:.0}, {b:.0}")
            });
            s.push_str("\nPoints on an object at a similar range (simulated objects of the same class within the \
                        window, p10 / p50 / p90):\n\n| KITTI frame | label | range (m) | KITTI points | sim objects (window) | sim points |\n|---|---|---|---|---|---|\n");
            for d in &run.sim_density {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.1} | {} | {} (± {} m) | {} |",
                    d.frame,
                    d.label,
                    d.range_m,
                    d.kitti_points,
                    d.sim_objects,
                    d.sim_range_window_m,
                    if d.sim_points.n == 0 {
                        "–".into()
                    } else {
                        format!("{:.0} / {:.0} / {:.0}", d.sim_points.p10, d.sim_points.p50, d.sim_points.p90)
                    }
                );
            }
        }
        None => {
            s.push_str("Simulator comparison skipped (`--sim-frames 0`). KITTI only:\n\n");
            for f in &run.frames {
                let _ = writeln!(
                    s,
                    "- {}: {} points, {} on the grid; ground z {:.2} m; intensity on grid {}; road {}; cars {}",
                    f.id,
                    f.stats.points_total,
                    f.stats.points_on_grid,
                    f.stats.ground_z_median_m,
                    q(&f.stats.intensity_on_grid),
                    q(&f.stats.intensity_ground),
                    q(&f.stats.intensity_cars)
                );
            }
        }
    }
    s
}

const FONT: &str = "fusor-kitti-sans";

fn corners(b: &Box3) -> Vec<(f64, f64)> {
    let (s, c) = b.yaw_rad.sin_cos();
    let (hl, hw) = (b.size.x / 2.0, b.size.y / 2.0);
    [(hl, hw), (hl, -hw), (-hl, -hw), (-hl, hw), (hl, hw)]
        .iter()
        .map(|&(lx, ly)| (b.center.x + c * lx - s * ly, b.center.y + s * lx + c * ly))
        .collect()
}

/// BEV picture of the grid: plot x = −y (right), plot y = x (forward).
fn draw_bev(
    path: &Path,
    cfg: &ModelConfig,
    frame: &KittiFrame,
    labels: &[Label],
    dets: &[DetectionOut],
    font: bool,
    title: &str,
) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("{}: {e}", path.display());
    let root = BitMapBackend::new(path, (640, 680)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (x0, x1) = (f64::from(cfg.x_range_m[0]), f64::from(cfg.x_range_m[1]));
    let (y0, y1) = (f64::from(cfg.y_range_m[0]), f64::from(cfg.y_range_m[1]));
    let mut b = ChartBuilder::on(&root);
    b.margin(10).x_label_area_size(if font { 30 } else { 0 }).y_label_area_size(if font { 40 } else { 0 });
    if font {
        b.caption(title, (FONT, 16));
    }
    let mut chart = b.build_cartesian_2d(-y1..-y0, x0..x1).map_err(|e| err(&e))?;
    if font {
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("y (m, left ←)")
            .y_desc("x (m, forward)")
            .x_label_formatter(&|v| format!("{:.0}", -v))
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| err(&e))?;
    }
    let grey = RGBColor(150, 150, 150);
    let to_plot = |x: f64, y: f64| (-y, x);
    chart
        .draw_series(
            frame
                .points
                .iter()
                .filter(|p| p[2] >= cfg.z_range_m[0] && p[2] < cfg.z_range_m[1] && cfg.cell_of(p[0], p[1]).is_some())
                .map(|p| Pixel::new(to_plot(f64::from(p[0]), f64::from(p[1])), grey)),
        )
        .map_err(|e| err(&e))?;
    let green = RGBColor(0, 160, 0);
    for l in labels {
        let pts: Vec<(f64, f64)> = corners(&l.bbox).into_iter().map(|(x, y)| to_plot(x, y)).collect();
        chart.draw_series(std::iter::once(PathElement::new(pts, green.stroke_width(2)))).map_err(|e| err(&e))?;
        if font {
            let (px, py) = to_plot(l.bbox.center.x, l.bbox.center.y);
            let text = format!("{} ({} pts)", l.type_name, l.points_inside);
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (px + 1.2, py - 0.6),
                    (FONT, 12).into_font().color(&green),
                )))
                .map_err(|e| err(&e))?;
        }
    }
    for d in dets {
        let bbox = Box3 {
            frame_id: FrameId::new("base_link"),
            center: Point3::from(d.center_m),
            size: nalgebra::Vector3::from(d.size_lwh_m),
            yaw_rad: d.yaw_rad,
        };
        let pts: Vec<(f64, f64)> = corners(&bbox).into_iter().map(|(x, y)| to_plot(x, y)).collect();
        let alpha = if d.score >= 0.3 { 1.0 } else { 0.45 };
        chart
            .draw_series(std::iter::once(PathElement::new(pts, RED.mix(alpha).stroke_width(1))))
            .map_err(|e| err(&e))?;
        if font && d.score >= 0.2 {
            let (px, py) = to_plot(d.center_m[0], d.center_m[1]);
            let text = format!("{} {:.2}", d.class, d.score);
            chart
                .draw_series(std::iter::once(Text::new(text, (px + 1.2, py + 0.8), (FONT, 11).into_font().color(&RED))))
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
