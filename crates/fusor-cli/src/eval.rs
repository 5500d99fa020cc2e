//! `fusor eval`: turn detector output into numbers (KITTI AP in BEV and 3D, centre-distance AP,
//! recall), with a Markdown table, a JSON report and precision–recall PNGs.

use anyhow::{bail, Context, Result};
use clap::Args;
use fusor_core::calib::kitti::{import_kitti_object_calib, parse_kitti_labels};
use fusor_core::{Image, ObjectClass, PixelFormat, PointCloud, Stamp};
use fusor_eval::kitti::{ground_truth_from_kitti, image_from_frame, kitti_dont_care_regions};
use fusor_eval::{evaluate_detections, DetectionConfig, FrameEval};
use fusor_perception::recall::{match_labels, recall, RecallRule};
use fusor_perception::{CameraInput, Perception, PerceptionParams};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A KITTI object `training/` folder (velodyne/, image_2/, calib/, label_2/): runs the geometric
    /// detector on every frame and scores it against the labels.
    #[arg(long)]
    kitti: PathBuf,
    /// Folder for report.md, report.json and the precision–recall PNGs.
    #[arg(short, long, default_value = "recordings/out/eval")]
    output: PathBuf,
    /// Score at most this many frames (in file-name order).
    #[arg(long)]
    max_frames: Option<usize>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let velodyne = args.kitti.join("velodyne");
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
        let frame = load_frame(&args.kitti, id)?;
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
