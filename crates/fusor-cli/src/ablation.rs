//! `fusor detect-ablation`: every fusion mode on the same held-out simulated drives, clean and
//! under sensor faults, into one table (Markdown, JSON, PNG).
//!
//! Conditions change the *drive*, not the network: the 32-beam lidar and the camera turned by 1°
//! are simulated (the detector still paints with the nominal calibration), the GNSS outage removes
//! every fix. Camera blackout runs the clean drive with no camera frames. Where a condition cannot
//! change a model's input (a camera fault for the lidar-only model, or a GNSS outage for any
//! model, checked frame by frame) the clean result is reused and the table says so.
//!
//! The pedestrian and car gains of every fused mode over lidar-only come with a paired bootstrap
//! over frames (95 % interval), so a gain can be told from the noise of a small test set. AP is
//! also broken down by range (near / mid / far), where a camera is expected to matter most.

use crate::train::{load_drives, SampleCache, TEST_SEED};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use fusor_core::ObjectClass;
use fusor_detect::eval::frame_eval;
use fusor_detect::sample::{CameraSet, DriveSpec};
use fusor_detect::{Detector, FusionMode, Sample};
use fusor_eval::{
    error_breakdown, evaluate_detections, BoxMetric, DetectionConfig, ErrorBreakdown, FrameEval, GroundTruthBox,
};
use plotters::prelude::*;
use plotters::style::FontStyle;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A test condition of the ablation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// The detector's default drive (a town with street clutter).
    Clean,
    /// No camera frames at all.
    CameraBlackout,
    /// A 32-beam lidar over the same vertical field of view instead of 64 beams.
    Beams32,
    /// The 32-beam lidar and no camera: what the camera adds when the lidar is sparse.
    Beams32NoCamera,
    /// A 16-beam lidar over the same field of view: half as dense again.
    Beams16,
    /// The 16-beam lidar and no camera.
    Beams16NoCamera,
    /// The real camera turned 1° to the left of its calibration.
    CameraYaw1deg,
    /// No GNSS fix for the whole drive.
    GnssOutage,
    /// A town without street clutter (no person-sized bins, pay stations or shrubs).
    NoClutter,
}

impl Condition {
    const ALL: [Self; 9] = [
        Self::Clean,
        Self::CameraBlackout,
        Self::Beams32,
        Self::Beams32NoCamera,
        Self::Beams16,
        Self::Beams16NoCamera,
        Self::CameraYaw1deg,
        Self::GnssOutage,
        Self::NoClutter,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::CameraBlackout => "camera blackout",
            Self::Beams32 => "32 beams",
            Self::Beams32NoCamera => "32 beams, no camera",
            Self::Beams16 => "16 beams",
            Self::Beams16NoCamera => "16 beams, no camera",
            Self::CameraYaw1deg => "camera yaw 1°",
            Self::GnssOutage => "GNSS outage",
            Self::NoClutter => "no street clutter",
        }
    }

    /// The drive of `seed` under this condition.
    fn spec(self, seed: u64, duration_s: f64, stride: u64) -> DriveSpec {
        let mut spec = DriveSpec::from_seed(seed, duration_s, stride);
        let s = &mut spec.scenario;
        match self {
            Self::Clean | Self::CameraBlackout => {}
            Self::Beams32 | Self::Beams32NoCamera => s.lidar.beams = 32,
            Self::Beams16 | Self::Beams16NoCamera => s.lidar.beams = 16,
            Self::CameraYaw1deg => s.faults.camera_yaw_offset_deg = 1.0,
            Self::GnssOutage => s.faults.gnss_outages_s = vec![[0.0, duration_s + 1.0]],
            Self::NoClutter => s.world.street_clutter = 0.0,
        }
        spec
    }

    /// True when the condition only touches the camera.
    fn camera_only(self) -> bool {
        matches!(self, Self::CameraBlackout | Self::CameraYaw1deg)
    }

    /// True when the camera frames reach the network.
    fn camera_on(self) -> bool {
        !matches!(self, Self::CameraBlackout | Self::Beams32NoCamera | Self::Beams16NoCamera)
    }
}

#[derive(Debug, Args)]
pub struct AblationArgs {
    /// Weights files (comma-separated), one per mode. Default: the longer budget's models, the
    /// README's table (the stage-2 models: `models/{lidar,early,intermediate,late}.safetensors`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "models/lidar-long.safetensors,models/early-long.safetensors,models/intermediate-long.safetensors,\
                         models/intermediate-crops.safetensors,models/late-long.safetensors"
    )]
    weights: Vec<PathBuf>,
    /// Conditions (comma-separated); all by default.
    #[arg(long, value_delimiter = ',')]
    conditions: Vec<Condition>,
    /// Held-out drives (seeds from 20 001).
    #[arg(long, default_value_t = 16)]
    drives: u64,
    /// Length of each drive in seconds.
    #[arg(long, default_value_t = 30.0)]
    duration_s: f64,
    /// Use every n-th lidar scan.
    #[arg(long, default_value_t = 5)]
    stride: u64,
    /// Cameras of the simulated car whose views the samples carry: `front` (KITTI's one camera)
    /// or `surround` (front plus two turned 60° left and right, every place of the grid seen).
    #[arg(long, default_value = "front")]
    cameras: CameraSet,
    /// Bootstrap resamples for the gain intervals (0: none).
    #[arg(long, default_value_t = 200)]
    bootstrap: usize,
    #[command(flatten)]
    cache: SampleCache,
    /// Output stem: writes `<stem>.md`, `<stem>.json`, `<stem>.png`.
    #[arg(short, long, default_value = "models/ablation-long")]
    output: PathBuf,
}

/// One (model, condition) cell of the table.
#[derive(Debug, Clone, Serialize)]
struct Cell {
    mode: String,
    condition: Condition,
    /// BEV AP R40 of car, pedestrian, cyclist (`None`: no scored object).
    bev_ap: [Option<f64>; 3],
    /// Scored ground truth per class.
    gt: [usize; 3],
    /// BEV AP R40 of car, pedestrian, cyclist per range bin of [`RANGE_BINS_M`].
    bev_ap_by_range: Vec<[Option<f64>; 3]>,
    /// Scored ground truth per range bin and class.
    gt_by_range: Vec<[usize; 3]>,
    /// Milliseconds per frame (features + network + decoding); `None` when reused.
    ms_per_frame: Option<f64>,
    /// Why the clean result stands for this condition, when it does.
    reused: Option<String>,
    #[serde(skip)]
    frames: Vec<FrameEval>,
}

impl Cell {
    /// The scored cell of `frames` run under `condition`.
    fn scored(mode: &str, condition: Condition, frames: Vec<FrameEval>, ms_per_frame: f64) -> Result<Self> {
        let (bev_ap, gt) = score(&frames)?;
        let (bev_ap_by_range, gt_by_range) = RANGE_BINS_M
            .iter()
            .map(|&bin| score(&in_range(&frames, bin)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        Ok(Self {
            mode: mode.to_owned(),
            condition,
            bev_ap,
            gt,
            bev_ap_by_range,
            gt_by_range,
            ms_per_frame: Some(ms_per_frame),
            reused: None,
            frames,
        })
    }
}

const CLASSES: [ObjectClass; 3] = [ObjectClass::Car, ObjectClass::Pedestrian, ObjectClass::Cyclist];

fn score(frames: &[FrameEval]) -> Result<([Option<f64>; 3], [usize; 3])> {
    let report = evaluate_detections(frames, &DetectionConfig::default()).context("evaluation")?;
    let ap = CLASSES.map(|c| report.class(c).and_then(|r| r.kitti_ap(BoxMetric::Bev, None)));
    let gt = CLASSES.map(|c| frames.iter().flat_map(|f| &f.gt).filter(|g| g.class == c && !g.ignore).count());
    Ok((ap, gt))
}

/// Range bins of the breakdown, in metres of BEV distance from `base_link`.
const RANGE_BINS_M: [[f64; 2]; 3] = [[0.0, 15.0], [15.0, 30.0], [30.0, f64::INFINITY]];

/// How far outside a range bin a detection may lie and still be scored with it, so that a box of
/// an object just inside the bin is not lost to a centre error across the edge.
const RANGE_MARGIN_M: f64 = 1.0;

/// `frames` scored only within the range bin `[near, far)`: ground truth outside it becomes ignored
/// (a detection of it is neither a true nor a false positive) and detections more than
/// [`RANGE_MARGIN_M`] outside it are dropped.
fn in_range(frames: &[FrameEval], [near, far]: [f64; 2]) -> Vec<FrameEval> {
    let range = |b: &fusor_core::Box3| b.center.x.hypot(b.center.y);
    frames
        .iter()
        .map(|f| FrameEval {
            gt: f
                .gt
                .iter()
                .map(|g| {
                    let r = range(&g.bbox);
                    GroundTruthBox { ignore: g.ignore || r < near || r >= far, ..g.clone() }
                })
                .collect(),
            dets: f
                .dets
                .iter()
                .filter(|d| (near - RANGE_MARGIN_M..far + RANGE_MARGIN_M).contains(&range(&d.bbox)))
                .cloned()
                .collect(),
            dont_care: f.dont_care.clone(),
        })
        .collect()
}

/// Whether a `base_link` point lands on a camera image of `sample` (their nominal calibration).
fn seen(sample: &Sample, p: nalgebra::Point3<f64>) -> bool {
    sample.cameras.iter().any(|c| c.pixel_of(&p).is_some())
}

/// `frames` scored only inside (`inside`) or only outside the camera's field of view, taken
/// from the nominal calibration of the matching clean `samples`: ground truth whose centre lies
/// on the other side becomes ignored, and a detection is kept when any corner of its box lies on
/// this side, so that a box straddling the edge still finds its object.
fn in_camera_view(frames: &[FrameEval], samples: &[Sample], inside: bool) -> Vec<FrameEval> {
    frames
        .iter()
        .zip(samples)
        .map(|(f, s)| FrameEval {
            gt: f
                .gt
                .iter()
                .map(|g| GroundTruthBox { ignore: g.ignore || seen(s, g.bbox.center) != inside, ..g.clone() })
                .collect(),
            dets: f
                .dets
                .iter()
                .filter(|d| d.bbox.corners().into_iter().any(|p| seen(s, p) == inside))
                .cloned()
                .collect(),
            dont_care: f.dont_care.clone(),
        })
        .collect()
}

/// AP and each fused mode's gain over lidar-only inside and outside the camera's field of view,
/// for the conditions of [`VIEW_CONDITIONS`]: only inside can a camera add anything.
fn view_table(cells: &[Cell], clean: &[Sample], bootstrap: usize) -> Result<String> {
    let mut md = String::from(
        "\nBEV AP R40 inside and outside the camera's field of view (its nominal calibration; ground truth whose \
         centre lies on the other side ignored, a detection kept when a corner of its box lies on this side), and \
         the pedestrian gain over lidar-only in the same condition (AP points, as above):\n\n| mode | condition | car \
         in view | car out of view | pedestrian in view | pedestrian out of view | pedestrian gain in view | \
         pedestrian gain out of view |\n|---|---|---|---|---|---|---|---|\n",
    );
    let sides = [true, false];
    for condition in VIEW_CONDITIONS {
        let of_condition: Vec<&Cell> = cells.iter().filter(|c| c.condition == condition).collect();
        let Some(lidar) = of_condition.iter().find(|c| c.mode == FusionMode::Lidar.to_string()) else {
            continue;
        };
        let base = sides.map(|inside| in_camera_view(&lidar.frames, clean, inside));
        for c in &of_condition {
            let parts = sides.map(|inside| in_camera_view(&c.frames, clean, inside));
            let ap = [score(&parts[0])?.0, score(&parts[1])?.0];
            let gain = |k: usize| -> Result<String> {
                Ok(if c.mode == lidar.mode {
                    "–".into()
                } else {
                    fmt_gain(paired_gain(&base[k], &parts[k], 1, bootstrap)?)
                })
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.mode,
                condition.label(),
                fmt_ap(ap[0][0]),
                fmt_ap(ap[1][0]),
                fmt_ap(ap[0][1]),
                fmt_ap(ap[1][1]),
                gain(0)?,
                gain(1)?
            ));
        }
        if condition == Condition::Clean {
            let [inn, out] = base.each_ref().map(|frames| score(frames).map_or([0; 3], |(_, gt)| gt));
            md.push_str(&format!(
                "| | scored ground truth (clean) | {} cars | {} cars | {} pedestrians | {} pedestrians | | |\n",
                inn[0], out[0], inn[1], out[1]
            ));
        }
    }
    Ok(md)
}

/// Where each model's AP goes (TIDE-style error breakdown, BEV): pedestrians on the clean drives,
/// in the camera's view, without street clutter and with 16 beams, then cars on the clean drives.
/// What a camera can mend shows up as background and confusion errors; localisation and missed
/// objects are the lidar's.
fn error_rows(cells: &[Cell], clean: &[Sample]) -> Result<Vec<(String, ErrorBreakdown)>> {
    let config = DetectionConfig::default();
    let breakdown = |frames: &[FrameEval], class: ObjectClass| -> Result<ErrorBreakdown> {
        error_breakdown(frames, &config, class, BoxMetric::Bev).context("error breakdown")
    };
    let of = |condition: Condition| cells.iter().filter(move |c| c.condition == condition);
    let mut rows: Vec<(String, ErrorBreakdown)> = Vec::new();
    for c in of(Condition::Clean) {
        rows.push((format!("{}, clean", c.mode), breakdown(&c.frames, ObjectClass::Pedestrian)?));
    }
    for c in of(Condition::Clean) {
        let in_view = in_camera_view(&c.frames, clean, true);
        rows.push((format!("{}, clean, in view", c.mode), breakdown(&in_view, ObjectClass::Pedestrian)?));
    }
    for condition in [Condition::NoClutter, Condition::Beams16] {
        for c in of(condition) {
            rows.push((format!("{}, {}", c.mode, condition.label()), breakdown(&c.frames, ObjectClass::Pedestrian)?));
        }
    }
    for c in of(Condition::Clean) {
        rows.push((format!("{}, clean", c.mode), breakdown(&c.frames, ObjectClass::Car)?));
    }
    Ok(rows)
}

/// Conditions split by the camera's field of view in the report: the clean drives, the camera
/// blacked out (is what a fused model does in view only its camera's doing?), and no street
/// clutter (how much of what the camera could veto is in view).
const VIEW_CONDITIONS: [Condition; 3] = [Condition::Clean, Condition::CameraBlackout, Condition::NoClutter];

fn run_model(detector: &Detector, samples: &[Sample], camera: bool) -> (Vec<FrameEval>, f64) {
    let t = Instant::now();
    let frames: Vec<FrameEval> =
        samples.iter().map(|s| frame_eval(detector.config(), s, detector.detect_sample(s, camera))).collect();
    (frames, t.elapsed().as_secs_f64() * 1e3 / samples.len().max(1) as f64)
}

/// Gain of `b` over `a` in BEV AP of `class` with a paired bootstrap over frames: (gain, 2.5 %,
/// 97.5 %).
fn paired_gain(a: &[FrameEval], b: &[FrameEval], class: usize, resamples: usize) -> Result<(f64, f64, f64)> {
    let ap = |frames: &[FrameEval]| -> Result<f64> { Ok(score(frames)?.0[class].unwrap_or(0.0)) };
    let gain = ap(b)? - ap(a)?;
    if resamples == 0 || a.len() != b.len() || a.is_empty() {
        return Ok((gain, f64::NAN, f64::NAN));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut gains = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let idx: Vec<usize> = (0..a.len()).map(|_| rng.gen_range(0..a.len())).collect();
        let pick = |f: &[FrameEval]| idx.iter().filter_map(|&i| f.get(i).cloned()).collect::<Vec<_>>();
        gains.push(ap(&pick(b))? - ap(&pick(a))?);
    }
    gains.sort_by(f64::total_cmp);
    let q = |p: f64| gains[((p * (gains.len() - 1) as f64).round() as usize).min(gains.len() - 1)];
    Ok((gain, q(0.025), q(0.975)))
}

pub fn run(args: AblationArgs) -> Result<()> {
    let device = tch::Device::cuda_if_available();
    let detectors: Vec<Detector> = args
        .weights
        .iter()
        .map(|w| Detector::load(w, device).with_context(|| format!("weights {}", w.display())))
        .collect::<Result<_>>()?;
    anyhow::ensure!(!detectors.is_empty(), "no weights given");
    let kinds: Vec<String> = detectors.iter().map(|d| d.config().label()).collect();
    let labels = model_labels(&args.weights, &kinds);
    // Each model that reads the camera reads it at its own input size (stored in its weights); the
    // drives are loaded once per size. A model without a camera reads any.
    let mut sizes: Vec<[u32; 2]> =
        detectors.iter().filter(|d| d.config().mode.uses_camera()).map(|d| d.config().image_size).collect();
    if sizes.is_empty() {
        sizes.extend(detectors.first().map(|d| d.config().image_size));
    }
    sizes.sort_unstable();
    sizes.dedup();
    for d in &detectors {
        d.warm_up(3);
    }
    let conditions = if args.conditions.is_empty() { Condition::ALL.to_vec() } else { args.conditions.clone() };
    let seeds: Vec<u64> = (0..args.drives).map(|k| TEST_SEED + k).collect();
    let specs = |c: Condition| -> Vec<DriveSpec> {
        seeds.iter().map(|&s| c.spec(s, args.duration_s, args.stride).with_cameras(args.cameras)).collect()
    };
    let load = |c: Condition| -> Result<Vec<([u32; 2], Vec<Sample>)>> {
        sizes
            .iter()
            .map(|&size| {
                let what = if c == Condition::Clean { "clean drives" } else { c.label() };
                let what = if sizes.len() > 1 { format!("{what} ({}x{})", size[0], size[1]) } else { what.to_owned() };
                Ok((size, load_drives(&specs(c), size, &args.cache, &what)?))
            })
            .collect()
    };
    let at = |loaded: &'_ [([u32; 2], Vec<Sample>)], d: &Detector| -> Result<usize> {
        if !d.config().mode.uses_camera() {
            return Ok(0);
        }
        loaded.iter().position(|(size, _)| *size == d.config().image_size).context("no drives at the model's size")
    };
    let clean = load(Condition::Clean)?;
    // The clean cells come first, one per detector, in the detectors' order.
    let mut cells: Vec<Cell> = Vec::new();
    for (d, label) in detectors.iter().zip(&labels) {
        let (frames, ms) = run_model(d, &clean[at(&clean, d)?].1, true);
        let cell = Cell::scored(label, Condition::Clean, frames, ms)?;
        println!("{:>12} clean: car {:?} ped {:?} ({ms:.1} ms/frame)", cell.mode, cell.bev_ap[0], cell.bev_ap[1]);
        cells.push(cell);
    }
    for &c in conditions.iter().filter(|c| **c != Condition::Clean) {
        let samples = match c {
            Condition::CameraBlackout => None,
            _ => Some(load(c)?),
        };
        for (k, d) in detectors.iter().enumerate() {
            let mode = d.config().mode;
            let i = at(&clean, d)?;
            let own = samples.as_deref().map(|loaded| at(loaded, d).map(|j| &loaded[j].1)).transpose()?;
            let identical = own.is_some_and(|s| *s == clean[i].1);
            let reuse = if identical {
                Some(format!("inputs identical to the clean drives ({} frames compared)", clean[i].1.len()))
            } else if c.camera_only() && !mode.uses_camera() {
                Some("no camera input".to_owned())
            } else {
                None
            };
            let cell = match reuse {
                Some(why) => Cell { condition: c, ms_per_frame: None, reused: Some(why), ..cells[k].clone() },
                None => {
                    let (frames, ms) = run_model(d, own.unwrap_or(&clean[i].1), c.camera_on());
                    Cell::scored(&labels[k], c, frames, ms)?
                }
            };
            println!("{:>12} {}: car {:?} ped {:?}", cell.mode, c.label(), cell.bev_ap[0], cell.bev_ap[1]);
            cells.push(cell);
        }
    }
    // Which ground truth lies in the camera's view does not depend on the image size.
    let clean = &clean[0].1;
    let mut md = report(&args, &cells, &detectors, &labels)?;
    md.push_str(&view_table(&cells, clean, args.bootstrap)?);
    let errors = error_rows(&cells, clean)?;
    md.push_str(&ErrorBreakdown::markdown_section(errors.iter().map(|(label, b)| (label.as_str(), b))));
    println!("{md}");
    let stem = &args.output;
    if let Some(dir) = stem.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(stem.with_extension("md"), &md).with_context(|| format!("writing {}", stem.display()))?;
    std::fs::write(stem.with_extension("json"), serde_json::to_string_pretty(&cells)?)?;
    plot(&stem.with_extension("png"), &cells, &conditions)?;
    let labelled: Vec<serde_json::Value> =
        errors.iter().map(|(label, b)| serde_json::json!({ "label": label, "breakdown": b })).collect();
    std::fs::write(stem.with_extension("errors.json"), serde_json::to_string_pretty(&labelled)?)?;
    ErrorBreakdown::write_plot(stem.with_extension("errors.png"), &errors)?;
    Ok(())
}

fn fmt_ap(a: Option<f64>) -> String {
    a.map_or("–".into(), |a| format!("{a:.3}"))
}

/// Each model's name in the tables: its kind ([`fusor_detect::ModelConfig::label`]: the mode,
/// `intermediate-crops` for intermediate fusion with crops), or where two models share a kind (a
/// front-camera and a surround-camera late model), its kind and file name.
fn model_labels(weights: &[PathBuf], kinds: &[String]) -> Vec<String> {
    kinds
        .iter()
        .zip(weights)
        .map(|(kind, path)| {
            if kinds.iter().filter(|k| *k == kind).count() == 1 {
                kind.clone()
            } else {
                let stem =
                    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
                format!("{kind} ({stem})")
            }
        })
        .collect()
}

fn report(args: &AblationArgs, cells: &[Cell], detectors: &[Detector], labels: &[String]) -> Result<String> {
    let frames = cells.first().map_or(0, |c| c.frames.len());
    let gt = cells.first().map_or([0; 3], |c| c.gt);
    let mut md = format!(
        "Held-out simulated drives: seeds {}..={}, {} s each, every {}th scan, {} cameras: {frames} frames; scored \
         ground truth (clean): {} cars, {} pedestrians, {} cyclists. BEV AP R40 (KITTI: car IoU 0.7, pedestrian and cyclist \
         IoU 0.5). Device {:?}, {} libtorch threads.\n\n",
        TEST_SEED,
        TEST_SEED + args.drives.saturating_sub(1),
        args.duration_s,
        args.stride,
        args.cameras.as_str(),
        gt[0],
        gt[1],
        gt[2],
        tch::Device::cuda_if_available(),
        tch::get_num_threads(),
    );
    md.push_str("| mode | condition | car | pedestrian | cyclist | ms/frame | note |\n|---|---|---|---|---|---|---|\n");
    for c in cells {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            c.mode,
            c.condition.label(),
            fmt_ap(c.bev_ap[0]),
            fmt_ap(c.bev_ap[1]),
            fmt_ap(c.bev_ap[2]),
            c.ms_per_frame.map_or("–".into(), |m| format!("{m:.0}")),
            c.reused.as_deref().map_or(String::new(), |r| format!("= clean: {r}")),
        ));
    }
    // Gains over lidar-only on the clean drives, paired by frame.
    let lidar = detectors.iter().position(|d| d.config().mode == FusionMode::Lidar);
    if let Some(l) = lidar {
        let how = if args.bootstrap == 0 {
            "no bootstrap (--bootstrap 0)".to_owned()
        } else {
            format!("paired bootstrap over frames ({} resamples, 95 % interval)", args.bootstrap)
        };
        md.push_str(&format!(
            "\nGain over lidar-only (clean drives), BEV AP, {how}:\n\n| mode | car gain | pedestrian gain \
             |\n|---|---|---|\n"
        ));
        let base = &cells[l].frames;
        for k in (0..detectors.len()).filter(|k| *k != l) {
            let (car, ped) = (
                paired_gain(base, &cells[k].frames, 0, args.bootstrap)?,
                paired_gain(base, &cells[k].frames, 1, args.bootstrap)?,
            );
            md.push_str(&format!("| {} | {} | {} |\n", labels[k], fmt_gain(car), fmt_gain(ped)));
        }
        md.push_str("\n(gains in AP points, ×100)\n");
    }
    md.push_str(&range_table(cells, args.bootstrap)?);
    Ok(md)
}

/// AP by range bin for the clean drives and the sparsest lidar, the two rows where a camera's
/// contribution differs most, and each fused mode's pedestrian gain over lidar-only per bin.
fn range_table(cells: &[Cell], bootstrap: usize) -> Result<String> {
    let bin = |[near, far]: [f64; 2]| {
        if far.is_finite() {
            format!("{near:.0}–{far:.0} m")
        } else {
            format!("≥ {near:.0} m")
        }
    };
    let mut md = format!(
        "\nBEV AP R40 by range from `base_link` (ground truth outside a bin ignored, detections more than {RANGE_MARGIN_M} \
         m outside it dropped):\n\n| mode | condition |"
    );
    for class in ["car", "pedestrian"] {
        for b in RANGE_BINS_M {
            md.push_str(&format!(" {class} {} |", bin(b)));
        }
    }
    md.push_str(&format!("\n|---|---|{}\n", "---|".repeat(2 * RANGE_BINS_M.len())));
    let shown = [Condition::Clean, Condition::Beams16, Condition::Beams16NoCamera];
    for c in cells.iter().filter(|c| shown.contains(&c.condition)) {
        md.push_str(&format!("| {} | {} |", c.mode, c.condition.label()));
        for class in [0, 1] {
            for ap in &c.bev_ap_by_range {
                md.push_str(&format!(" {} |", fmt_ap(ap[class])));
            }
        }
        md.push('\n');
    }
    if let Some(c) = cells.first() {
        let counts = |class: usize| c.gt_by_range.iter().map(|g| g[class].to_string()).collect::<Vec<_>>().join(" / ");
        md.push_str(&format!(
            "\nScored ground truth per bin (clean): cars {}, pedestrians {}.\n",
            counts(0),
            counts(1)
        ));
    }
    // Pedestrian gains per bin, paired by frame within one condition.
    let mut gains = String::new();
    for condition in [Condition::Clean, Condition::Beams16] {
        let Some(lidar) = cells.iter().find(|c| c.condition == condition && c.mode == FusionMode::Lidar.to_string())
        else {
            continue;
        };
        let base = RANGE_BINS_M.map(|bin| in_range(&lidar.frames, bin));
        for c in cells.iter().filter(|c| c.condition == condition && c.mode != lidar.mode) {
            gains.push_str(&format!("| {} | {} |", c.mode, condition.label()));
            for (bin, base) in RANGE_BINS_M.into_iter().zip(&base) {
                let g = paired_gain(base, &in_range(&c.frames, bin), 1, bootstrap)?;
                gains.push_str(&format!(" {} |", fmt_gain(g)));
            }
            gains.push('\n');
        }
    }
    if !gains.is_empty() {
        md.push_str(
            "\nPedestrian gain over lidar-only by range (same condition, AP points, as above):\n\n| mode | condition |",
        );
        for b in RANGE_BINS_M {
            md.push_str(&format!(" {} |", bin(b)));
        }
        md.push_str(&format!("\n|---|---|{}\n{gains}", "---|".repeat(RANGE_BINS_M.len())));
    }
    Ok(md)
}

/// A gain and its interval in AP points; the interval is left out when there is none.
fn fmt_gain((g, lo, hi): (f64, f64, f64)) -> String {
    if lo.is_nan() || hi.is_nan() {
        format!("{:+.1}", g * 100.0)
    } else {
        format!("{:+.1} [{:+.1}, {:+.1}]", g * 100.0, lo * 100.0, hi * 100.0)
    }
}

const FONT: &str = "fusor-ablation-sans";

fn plot(path: &Path, cells: &[Cell], conditions: &[Condition]) -> Result<()> {
    let text = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok();
    let modes: Vec<String> = cells.iter().filter(|c| c.condition == Condition::Clean).map(|c| c.mode.clone()).collect();
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
    let root = BitMapBackend::new(path, (1650, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = root.split_evenly((2, 1));
    for (panel, (class, name)) in panels.iter().zip([(0usize, "car BEV AP R40"), (1, "pedestrian BEV AP R40")]) {
        // Dots on an axis that starts just below the lowest value: the modes differ by a few
        // points, which bars from zero would hide.
        let low = cells.iter().filter_map(|c| c.bev_ap[class]).fold(1.0, f64::min);
        let y0 = ((low - 0.03) * 20.0).floor().max(0.0) / 20.0;
        let n = conditions.len() as f64;
        let mut b = ChartBuilder::on(panel);
        b.margin(15).x_label_area_size(30).y_label_area_size(50);
        if text {
            b.caption(format!("{name} (axis from {y0:.2})"), (FONT, 20));
        }
        let mut chart = b.build_cartesian_2d(-0.5..n - 0.5, y0..1.0).map_err(|e| err(&e))?;
        let label_of = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 {
                conditions.get(i as usize).map_or(String::new(), |c| c.label().to_owned())
            } else {
                String::new()
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh().x_labels(conditions.len()).x_label_formatter(&label_of);
        if text {
            mesh.label_style((FONT, 14));
        }
        mesh.draw().map_err(|e| err(&e))?;
        let step = 0.6 / modes.len().max(1) as f64;
        for (m, mode) in modes.iter().enumerate() {
            let color = Palette99::pick(m).to_rgba();
            let dots = conditions.iter().enumerate().filter_map(|(ci, c)| {
                let cell = cells.iter().find(|x| x.mode == *mode && x.condition == *c)?;
                let x = ci as f64 - 0.3 + (m as f64 + 0.5) * step;
                Some(Circle::new((x, cell.bev_ap[class]?), 6, color.filled()))
            });
            let s = chart.draw_series(dots).map_err(|e| err(&e))?;
            if text {
                s.label(mode.clone()).legend(move |(x, y)| Circle::new((x + 6, y), 6, color.filled()));
            }
        }
        if text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerLeft)
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_core::{Box3, Detection, FrameId, Stamp};
    use fusor_detect::{ImageBranch, ModelConfig};
    use nalgebra::{Point3, Vector3};

    fn pedestrian_at(x: f64) -> Box3 {
        Box3 {
            frame_id: FrameId::from(FrameId::BASE_LINK),
            center: Point3::new(x, 0.0, 0.9),
            size: Vector3::new(0.6, 0.6, 1.8),
            yaw_rad: 0.0,
        }
    }

    fn det(x: f64, score: f32) -> Detection {
        Detection { stamp: Stamp::default(), bbox: pedestrian_at(x), class: ObjectClass::Pedestrian, score }
    }

    /// One frame: pedestrians at 10 m (found) and 35 m (missed), and a confident false positive at
    /// 20 m.
    fn frame() -> FrameEval {
        FrameEval {
            gt: [10.0, 35.0].map(|x| GroundTruthBox::new(pedestrian_at(x), ObjectClass::Pedestrian)).to_vec(),
            dets: vec![det(20.0, 0.9), det(10.05, 0.8)],
            dont_care: Vec::new(),
        }
    }

    #[test]
    fn a_range_bin_scores_only_its_own_objects_and_detections() {
        let ped = |frames: &[FrameEval]| score(frames).map(|(ap, gt)| (ap[1], gt[1])).unwrap();
        let (all, n_all) = ped(&[frame()]);
        assert_eq!(n_all, 2);
        let all = all.unwrap();
        assert!(all > 0.0 && all < 0.6, "one of two found, after a false positive: {all}");
        // Near: the 10 m pedestrian alone, found by the only detection left in [0, 16) m.
        let (near, n_near) = ped(&in_range(&[frame()], [0.0, 15.0]));
        assert_eq!((near, n_near), (Some(1.0), 1));
        // Mid: no scored pedestrian, so no AP, however many false positives.
        assert_eq!(ped(&in_range(&[frame()], [15.0, 30.0])), (None, 0));
        // Far: the missed 35 m pedestrian.
        assert_eq!(ped(&in_range(&[frame()], [30.0, f64::INFINITY])), (Some(0.0), 1));
        // A detection just across the bin's edge still finds an object just inside it.
        let edge = FrameEval {
            gt: vec![GroundTruthBox::new(pedestrian_at(14.95), ObjectClass::Pedestrian)],
            dets: vec![det(15.05, 0.7)],
            dont_care: Vec::new(),
        };
        assert_eq!(ped(&in_range(&[edge], [0.0, 15.0])), (Some(1.0), 1));
    }

    /// A clean sample whose camera looks forward along +x, 90° wide, with no pixels.
    fn forward_camera_sample() -> Sample {
        use fusor_core::calib::{CameraModel, Distortion};
        use nalgebra::{Isometry3, Matrix3, Translation3};
        let camera = CameraModel {
            width: 64,
            height: 32,
            k: Matrix3::new(32.0, 0.0, 32.0, 0.0, 32.0, 16.0, 0.0, 0.0, 1.0),
            distortion: Distortion::None,
        };
        let base_link_from_camera =
            Isometry3::from_parts(Translation3::new(0.0, 0.0, 1.5), fusor_sim::rig::body_from_optical());
        let view = fusor_detect::CameraView {
            width: 64,
            height: 32,
            rgb: vec![0; 64 * 32 * 3],
            camera,
            camera_from_base_link: base_link_from_camera.inverse(),
            labels: Vec::new(),
        };
        Sample { seed: 0, scan: 0, points: Vec::new(), cameras: vec![view], boxes: Vec::new() }
    }

    #[test]
    fn models_are_named_by_mode_and_by_file_where_two_share_a_mode() {
        let weights: Vec<PathBuf> =
            ["models/lidar.safetensors", "models/late.safetensors", "exp/late-surround.safetensors"]
                .map(PathBuf::from)
                .into();
        let kinds = [FusionMode::Lidar, FusionMode::Late, FusionMode::Late].map(|m| m.to_string());
        assert_eq!(model_labels(&weights, &kinds), ["lidar", "late (late)", "late (late-surround)"]);
        assert_eq!(model_labels(&weights[..2], &kinds[..2]), ["lidar", "late"]);
        let crops = ModelConfig { image_branch: ImageBranch::Crops, ..ModelConfig::new(FusionMode::Intermediate) };
        let kinds = [ModelConfig::new(FusionMode::Intermediate).label(), crops.label()];
        assert_eq!(model_labels(&weights[..2], &kinds), ["intermediate", "intermediate-crops"]);
    }

    #[test]
    fn the_field_of_view_split_scores_each_object_on_its_own_side() {
        let at = |x: f64, y: f64| Box3 { center: Point3::new(x, y, 0.9), ..pedestrian_at(0.0) };
        let det_at = |x: f64, y: f64, score: f32| Detection { bbox: at(x, y), ..det(0.0, score) };
        // In view: a pedestrian 10 m ahead, found. Out of view (73° to the left; the camera sees
        // ±45°): one missed, after a confident false positive beside it.
        let frame = FrameEval {
            gt: [at(10.0, 0.0), at(3.0, 10.0)].map(|b| GroundTruthBox::new(b, ObjectClass::Pedestrian)).to_vec(),
            dets: vec![det_at(4.0, 12.0, 0.9), det_at(10.05, 0.0, 0.8)],
            dont_care: Vec::new(),
        };
        let samples = [forward_camera_sample()];
        let ped = |frames: &[FrameEval]| score(frames).map(|(ap, gt)| (ap[1], gt[1])).unwrap();
        let frames = std::slice::from_ref(&frame);
        assert_eq!(ped(&in_camera_view(frames, &samples, true)), (Some(1.0), 1));
        assert_eq!(ped(&in_camera_view(frames, &samples, false)), (Some(0.0), 1));
        // Without a camera nothing is in view.
        let blind = [Sample { cameras: Vec::new(), ..forward_camera_sample() }];
        assert_eq!(ped(&in_camera_view(&[frame], &blind, true)), (None, 0));
    }
}
