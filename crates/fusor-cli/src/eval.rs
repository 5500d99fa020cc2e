//! `fusor eval`: turn detector output into numbers (KITTI AP in BEV and 3D, centre-distance AP,
//! recall, and for drives MOTA/MOTP/IDF1), with Markdown tables, JSON reports and
//! precision–recall PNGs.
//!
//! `--kitti DIR` runs the geometric detector on KITTI object frames. `--drive drive.mcap` replays
//! the drive through the pipeline graph (same graph as `fusor replay --max`, which must hold
//! `perceive` and `track` stages feeding a `summary_sink`) and scores each frame's detections
//! (`base_link`) and confirmed tracks (moved from `map` back to `base_link` with the frame's
//! estimated pose) against the ground truth recorded in the drive.
//!
//! Evaluation region for drives: ground-truth objects farther than [`DRIVE_MAX_RANGE_M`] (BEV,
//! from `base_link`) or hit by fewer than [`DRIVE_MIN_LIDAR_POINTS`] lidar points (the
//! simulator's `lidar_points` attribute) are *ignored*: not false negatives, and a detection or
//! track matching one is not a false positive. Detections and tracks beyond the range are left
//! out. When the pipeline detects with the network (a `detect` stage), whose BEV grid covers only
//! part of that disc, objects outside the grid are ignored too and tracks outside it left out, as
//! KITTI scores only what lies in its camera's view. Frames without ground truth are not scored.

use crate::replay::perceive::{transform_box, SharedFrameLog};
use crate::replay::ReplayArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use fusor_core::calib::kitti::{import_kitti_object_calib, parse_kitti_labels};
use fusor_core::{Box3, Detection, Image, ObjectClass, PixelFormat, PointCloud, Stamp, Track};
use fusor_eval::kitti::{ground_truth_from_kitti, image_from_frame, kitti_dont_care_regions};
use fusor_eval::{
    error_breakdowns, evaluate_detections, evaluate_tracking, BoxMetric, DetectionConfig, ErrorBreakdown, FrameEval,
    GroundTruthBox, TrackingConfig, TrackingFrameEval,
};
use fusor_msgs::{convert, vision_msgs};
use fusor_perception::recall::{match_labels, recall, RecallRule};
use fusor_perception::{CameraInput, Perception, PerceptionParams};
use fusor_sim::record::ground_truth_from_msg;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Ground-truth objects farther than this from `base_link` (BEV, metres) are ignored in drives.
pub const DRIVE_MAX_RANGE_M: f64 = 40.0;
/// Ground-truth objects with fewer lidar points than this are ignored in drives.
pub const DRIVE_MIN_LIDAR_POINTS: u32 = 5;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A KITTI object `training/` folder (velodyne/, image_2/, calib/, label_2/): runs the geometric
    /// detector on every frame and scores it against the labels.
    #[arg(long, conflicts_with = "drive", required_unless_present = "drive")]
    kitti: Option<PathBuf>,
    /// A drive (MCAP) with ground truth on `/ground_truth/objects`: replays it through the
    /// pipeline (perceive + track) and scores detections and tracks.
    #[arg(long)]
    drive: Option<PathBuf>,
    /// Pipeline file for `--drive` (default: the built-in `launch/pipeline.toml`).
    #[arg(long, requires = "drive")]
    pipeline: Option<PathBuf>,
    /// Folder for report.md, report.json and the precision–recall PNGs.
    #[arg(short, long, default_value = "recordings/out/eval")]
    output: PathBuf,
    /// Score at most this many frames (in file-name order).
    #[arg(long)]
    max_frames: Option<usize>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    match (&args.kitti, &args.drive) {
        (Some(kitti), None) => run_kitti(kitti, &args),
        (None, Some(drive)) => run_drive(drive, &args),
        _ => bail!("give exactly one of --kitti and --drive"),
    }
}

fn run_kitti(kitti: &Path, args: &EvalArgs) -> Result<()> {
    let velodyne = kitti.join("velodyne");
    let mut ids: Vec<String> = std::fs::read_dir(&velodyne)
        .with_context(|| format!("reading {}", velodyne.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    ids.sort();
    ids.truncate(args.max_frames.unwrap_or(usize::MAX));
    if ids.is_empty() {
        bail!("no frames in {}", velodyne.display());
    }

    let mut perception = Perception::new(PerceptionParams::default())?;
    let rule = RecallRule::default();
    let bar = indicatif::ProgressBar::new(ids.len() as u64);
    let mut frames = Vec::with_capacity(ids.len());
    let mut matches = Vec::new();
    for id in &ids {
        let frame = load_frame(kitti, id)?;
        let camera = CameraInput::from_rig(&frame.rig, "camera_front", "lidar", Some(&frame.image))?;
        let out = perception.process(&frame.cloud, Some(&camera))?;
        let image_from_lidar = image_from_frame(&frame.rig, "lidar")?;
        let mut gt = Vec::new();
        let mut labels = Vec::new();
        for object in &frame.labels.objects {
            let truth = ground_truth_from_kitti(object, &frame.rig, "lidar")?;
            if ObjectClass::SCORED.contains(&truth.class) {
                labels.push((truth.class, truth.bbox.clone()));
            }
            gt.push(truth);
        }
        matches.extend(match_labels(&labels, &out.detections, &rule));
        frames.push(FrameEval {
            gt,
            dets: out.detections,
            dont_care: kitti_dont_care_regions(&frame.label_text, image_from_lidar),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();

    let report = evaluate_detections(&frames, &DetectionConfig::default())?;
    std::fs::create_dir_all(&args.output).with_context(|| format!("creating {}", args.output.display()))?;
    let mut markdown = report.to_markdown();
    let errors = error_breakdowns(&frames, &DetectionConfig::default(), BoxMetric::Bev)?;
    markdown.push_str(&ErrorBreakdown::markdown_section(errors.iter().map(|b| ("", b))));
    let found = matches.iter().filter(|m| m.found).count();
    markdown.push_str(&format!(
        "\nGeometric detector recall of labelled cars, pedestrians and cyclists within {:.0} m: {:.2} ({found}/{})\n",
        rule.max_range_m,
        recall(&matches),
        matches.len()
    ));
    std::fs::write(args.output.join("report.md"), &markdown)?;
    report.write_json(args.output.join("report.json"))?;
    let plots = report.write_pr_plots(&args.output)?;
    println!("{markdown}");
    println!("wrote {} (report.md, report.json, {} PR plots)", args.output.display(), plots.len());
    Ok(())
}

struct KittiFrame {
    rig: fusor_core::calib::Rig,
    cloud: PointCloud,
    image: Image,
    labels: fusor_core::calib::kitti::KittiLabels,
    label_text: String,
}

fn load_frame(root: &Path, id: &str) -> Result<KittiFrame> {
    let image_path = root.join("image_2").join(format!("{id}.png"));
    let decoded = image::open(&image_path).with_context(|| format!("reading {}", image_path.display()))?.to_rgb8();
    let (width, height) = decoded.dimensions();
    let image = Image::new(
        Stamp::ZERO,
        "camera_front",
        width,
        height,
        PixelFormat::Rgb8,
        width as usize * 3,
        decoded.into_raw(),
    )?;
    let rig = import_kitti_object_calib(root.join("calib").join(format!("{id}.txt")), [width, height])?;
    let bin = root.join("velodyne").join(format!("{id}.bin"));
    let bytes = std::fs::read(&bin).with_context(|| format!("reading {}", bin.display()))?;
    let cloud = PointCloud::from_f32_records(&bytes, 4, Stamp::ZERO, "lidar")
        .with_context(|| format!("parsing {}", bin.display()))?;
    let label_path = root.join("label_2").join(format!("{id}.txt"));
    let label_text =
        std::fs::read_to_string(&label_path).with_context(|| format!("reading {}", label_path.display()))?;
    let labels = parse_kitti_labels(&label_text, &label_path)?;
    Ok(KittiFrame { rig, cloud, image, labels, label_text })
}

/// Lidar points per ground-truth object, keyed by (message stamp ns, object id), read from the
/// drive's ground-truth topic.
fn ground_truth_lidar_points(drive: &Path, topic: &str) -> Result<HashMap<(i64, String), u32>> {
    let reader = fusor_record::McapReader::open(drive).with_context(|| format!("opening {}", drive.display()))?;
    let mut points = HashMap::new();
    for raw in reader.messages()? {
        let raw = raw.with_context(|| format!("reading {}", drive.display()))?;
        if raw.topic != topic {
            continue;
        }
        let msg: vision_msgs::Detection3DArray = raw.decode().with_context(|| format!("decoding {topic}"))?;
        let stamp = convert::stamp_from_time(msg.header.stamp)?;
        for d in ground_truth_from_msg(&msg).with_context(|| format!("decoding {topic}"))? {
            points.insert((stamp.nanos(), d.id.to_string()), d.lidar_points);
        }
    }
    Ok(points)
}

fn bev_range_m(b: &Box3) -> f64 {
    b.center.x.hypot(b.center.y)
}

fn run_drive(drive: &Path, args: &EvalArgs) -> Result<()> {
    let log: SharedFrameLog = Arc::new(Mutex::new(Some(Vec::new())));
    let replay_args = ReplayArgs::max_speed(drive.to_path_buf(), args.pipeline.clone());
    let replayed = crate::replay::replay(&replay_args, Some(Arc::clone(&log)))?;
    replayed.print();
    replayed.check()?;
    let records = log.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or_default();
    if records.is_empty() {
        bail!("no frame reached a summary_sink fed by `perceive`/`track`: the pipeline needs those stages");
    }
    let lidar_points = ground_truth_lidar_points(drive, "/ground_truth/objects")?;
    let field = crate::replay::detector_field(args.pipeline.as_deref())?;
    let in_field = |b: &Box3| {
        field.is_none_or(|([x0, x1], [y0, y1])| (x0..x1).contains(&b.center.x) && (y0..y1).contains(&b.center.y))
    };

    let mut det_frames = Vec::new();
    let mut track_frames = Vec::new();
    for r in records.iter().take(args.max_frames.unwrap_or(usize::MAX)) {
        let Some(truth) = &r.ground_truth else { continue };
        let mut gt = Vec::new();
        for o in truth.objects.iter().filter(|o| ObjectClass::SCORED.contains(&o.class)) {
            let id: u64 = o.id.parse().with_context(|| format!("ground-truth id {:?} is not a number", o.id))?;
            // An object the drive gives no point count for is scored (never silently ignored).
            let points = lidar_points.get(&(truth.stamp.nanos(), o.id.clone())).copied().unwrap_or(u32::MAX);
            let ignore =
                points < DRIVE_MIN_LIDAR_POINTS || bev_range_m(&o.bbox) > DRIVE_MAX_RANGE_M || !in_field(&o.bbox);
            gt.push(GroundTruthBox { ignore, ..GroundTruthBox::new(o.bbox.clone(), o.class).with_track_id(id) });
        }
        let frame_id = gt.first().map_or_else(|| "base_link".to_owned(), |g| g.bbox.frame_id.as_str().to_owned());
        let dets: Vec<Detection> =
            r.detections.iter().filter(|d| bev_range_m(&d.bbox) <= DRIVE_MAX_RANGE_M).cloned().collect();
        let tracks: Vec<Track> = match (&r.tracks, &r.map_from_base_link) {
            (Some(tracks), Some(map_from_base_link)) => {
                let base_link_from_map = map_from_base_link.inverse();
                tracks
                    .iter()
                    .map(|t| Track { bbox: transform_box(&base_link_from_map, &t.bbox, &frame_id), ..t.clone() })
                    .filter(|t| bev_range_m(&t.bbox) <= DRIVE_MAX_RANGE_M && in_field(&t.bbox))
                    .collect()
            }
            _ => Vec::new(),
        };
        det_frames.push(FrameEval { gt: gt.clone(), dets, dont_care: Vec::new() });
        track_frames.push(TrackingFrameEval { gt, tracks, dont_care: Vec::new() });
    }
    if det_frames.is_empty() {
        bail!("{} has no ground truth on /ground_truth/objects: nothing to score", drive.display());
    }

    let detection = evaluate_detections(&det_frames, &DetectionConfig::default())?;
    let tracking = evaluate_tracking(&track_frames, &TrackingConfig::default())?;
    std::fs::create_dir_all(&args.output).with_context(|| format!("creating {}", args.output.display()))?;
    let field_text = match field {
        Some(([x0, x1], [y0, y1])) => format!(" or outside the network's grid (x ∈ [{x0}, {x1}), y ∈ [{y0}, {y1}) m)"),
        None => String::new(),
    };
    let mut markdown = format!(
        "# {}\n\n{} frames scored; ground truth beyond {DRIVE_MAX_RANGE_M} m{field_text} or with fewer than \
         {DRIVE_MIN_LIDAR_POINTS} lidar points ignored; replay {:.1} frames/s with perceive + track.\n\n",
        drive.display(),
        det_frames.len(),
        replayed.frames_per_s()
    );
    markdown.push_str(&detection.to_markdown());
    let errors = error_breakdowns(&det_frames, &DetectionConfig::default(), BoxMetric::Bev)?;
    markdown.push_str(&ErrorBreakdown::markdown_section(errors.iter().map(|b| ("", b))));
    markdown.push_str("\n## Tracking\n\n");
    markdown.push_str(&tracking.to_markdown());
    std::fs::write(args.output.join("report.md"), &markdown)?;
    detection.write_json(args.output.join("report.json"))?;
    tracking.write_json(args.output.join("tracking.json"))?;
    let plots = detection.write_pr_plots(&args.output)?;
    println!("{markdown}");
    println!("wrote {} (report.md, report.json, tracking.json, {} PR plots)", args.output.display(), plots.len());
    Ok(())
}
