//! `fusor train`: train the fused detector on simulated drives; `fusor detect-eval`: score
//! weights on held-out simulated drives.
//!
//! Seeds: training drives use seeds 1..=N (or the scenario files given), validation drives
//! 10 001.., held-out test drives 20 001.. — never the same drive twice.

use anyhow::{bail, Context, Result};
use clap::Args;
use fusor_core::ObjectClass;
use fusor_detect::eval::{bev_ap, detect_frames, evaluate, score};
use fusor_detect::sample::{drive_samples, prune_cache, CameraSet, DriveSpec};
use fusor_detect::{AugmentConfig, Detector, FusionMode, ImageBranch, ModelConfig, Sample, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// First seed of validation drives.
pub const VALIDATION_SEED: u64 = 10_001;
/// First seed of held-out test drives.
pub const TEST_SEED: u64 = 20_001;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training drives: a count N (default scenarios, seeds 1..=N) or comma-separated scenario
    /// TOML files.
    #[arg(long, default_value = "8")]
    drives: String,
    /// Length of each generated drive in seconds (count form of --drives).
    #[arg(long, default_value_t = 30.0)]
    duration_s: f64,
    /// Use every n-th lidar scan of a drive.
    #[arg(long, default_value_t = 5)]
    stride: u64,
    /// Validation drives (seeds from 10 001), scored after every epoch.
    #[arg(long, default_value_t = 2)]
    val_drives: u64,
    /// Fusion mode: lidar, early, intermediate, late.
    #[arg(long, default_value = "intermediate")]
    mode: FusionMode,
    /// Intermediate fusion's image branch: `pixels` (a dense image net's features painted onto
    /// every point) or `crops` (crop features of the lidar branch's best pedestrian / cyclist
    /// cells painted onto those BEV cells and fused before the heads).
    #[arg(long, default_value = "pixels")]
    image_branch: ImageBranch,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Weights file (.safetensors); curves and the log are written next to it.
    #[arg(short, long)]
    output: PathBuf,
    /// Frames per step.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Adam learning rate of the first epoch; it decays along a cosine to 1/50 of this at the last
    /// epoch (or at the end of --max-minutes, when that comes first).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Probability of blanking a frame's camera during training.
    #[arg(long, default_value_t = 0.2)]
    camera_dropout: f64,
    /// Probability of thinning a frame's lidar during training to a random 20–100 % of its
    /// points (objects the lidar barely sees stay targets: the camera has to find them).
    #[arg(long, default_value_t = 0.0)]
    lidar_thinning: f64,
    /// Weight of the image net's pixel-classification loss against the simulator's pixel labels
    /// (intermediate; PointPainting-style). 0: image features learn from detection alone.
    #[arg(long, default_value_t = TrainConfig::default().segmentation_weight)]
    segmentation_weight: f64,
    /// Weight of late fusion's crop loss: the crop net's class-balanced classification (other /
    /// pedestrian / cyclist) of the cells it looked at (`fusor_detect::train::crop_loss`).
    #[arg(long, default_value_t = TrainConfig::default().crop_weight)]
    crop_weight: f64,
    /// Largest random error of the camera's extrinsic calibration during training, degrees: each
    /// frame's camera is turned about its three axes by up to ± this (0: none).
    #[arg(long, default_value_t = 0.0)]
    camera_jitter_deg: f64,
    /// Train on the frames as they are: no random mirror, turn or scale.
    #[arg(long)]
    no_augment: bool,
    /// Largest random turn of a training frame about z, radians.
    #[arg(long, default_value_t = AugmentConfig::default().max_yaw_rad)]
    augment_turn_rad: f32,
    /// Largest random relative scale change of a training frame (0.05: scales of 0.95–1.05).
    #[arg(long, default_value_t = 0.0)]
    augment_scale: f32,
    /// Seed of initialisation, order and dropout.
    #[arg(long, default_value_t = 6)]
    seed: u64,
    /// Start from these weights (a trained model of the same grid, usually lidar-only) instead
    /// of random ones: matching tensors are copied, the pillar net's painted inputs start at zero
    /// weight, the image net starts fresh.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Before the detection epochs, train the image net alone on the simulator's pixel classes
    /// for this many passes (intermediate; PointPainting's separately trained
    /// segmentation network), at --image-lr falling along a cosine.
    #[arg(long, default_value_t = 0)]
    image_epochs: usize,
    /// Adam learning rate of the first --image-epochs pass.
    #[arg(long, default_value_t = 2e-3)]
    image_lr: f64,
    /// Keep the tensors copied from --init fixed and train only what they lack (late fusion:
    /// the crop net on a finished lidar detector).
    #[arg(long, requires = "init")]
    freeze_init: bool,
    /// Camera input size `WIDTHxHEIGHT` (default: the mode's, 320x96). Late fusion crops its
    /// cells from this image, so a larger one shows the crop net more of a distant pedestrian;
    /// it is stored in the weights and every later user of the model resizes to it.
    #[arg(long, value_parser = crate::import::parse_size)]
    image_size: Option<[u32; 2]>,
    /// Cameras of the simulated car whose views the samples carry: `front` (KITTI's one camera)
    /// or `surround` (front plus two turned 60° left and right, every place of the grid seen).
    #[arg(long, default_value = "front")]
    cameras: CameraSet,
    #[command(flatten)]
    cache: SampleCache,
    /// Stop starting new epochs after this many minutes (the last finished epoch's weights stay).
    #[arg(long)]
    max_minutes: Option<f64>,
    /// A tiny network (tests and smoke runs).
    #[arg(long)]
    tiny: bool,
    /// libtorch intra-op threads (default: libtorch's choice, the core count).
    #[arg(long)]
    threads: Option<i32>,
    /// Train nothing: redraw the curves (PNG and Rerun) from the `<output>.log.json` of an
    /// earlier run.
    #[arg(long)]
    redraw: bool,
}

#[derive(Debug, Args)]
pub struct DetectEvalArgs {
    /// Weights written by `fusor train`.
    #[arg(long)]
    weights: PathBuf,
    /// Held-out drives (seeds from 20 001).
    #[arg(long, default_value_t = 3)]
    drives: u64,
    /// Length of each drive in seconds.
    #[arg(long, default_value_t = 30.0)]
    duration_s: f64,
    /// Use every n-th lidar scan.
    #[arg(long, default_value_t = 5)]
    stride: u64,
    /// Run with the camera blacked out.
    #[arg(long)]
    no_camera: bool,
    /// Cameras of the simulated car whose views the samples carry: `front` (KITTI's one camera)
    /// or `surround` (front plus two turned 60° left and right, every place of the grid seen).
    #[arg(long, default_value = "front")]
    cameras: CameraSet,
    #[command(flatten)]
    cache: SampleCache,
    /// Also write the Markdown report here.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn model_config(mode: FusionMode, tiny: bool) -> ModelConfig {
    if tiny {
        ModelConfig::tiny(mode)
    } else {
        ModelConfig::new(mode)
    }
}

/// Where simulated samples are cached, and how much of them to keep (`fusor train`, `detect-eval`,
/// `detect-ablation`, `detect-kitti`).
#[derive(Debug, Clone, Args)]
pub struct SampleCache {
    /// Sample cache folder.
    #[arg(long = "cache", default_value = "recordings/cache/detect")]
    pub dir: PathBuf,
    /// Size cap of the sample cache, GB: after the drives are loaded, the samples used longest ago
    /// are removed down to it (and simulated again when next needed). A 640x192 sample is ~2 MB.
    #[arg(long, default_value_t = 24.0, value_parser = parse_gb)]
    pub cache_max_gb: f64,
}

/// A size in GB: finite and at least 0.
fn parse_gb(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(gb) if gb.is_finite() && gb >= 0.0 => Ok(gb),
        _ => Err(format!("`{text}` is not a size in GB (a number, at least 0)")),
    }
}

impl SampleCache {
    /// Removes the samples used longest ago beyond `--cache-max-gb`, saying so when it does.
    pub fn prune(&self) -> Result<()> {
        let gb = self.cache_max_gb;
        // `as` saturates: a cap past u64::MAX bytes is no cap.
        let max_bytes = (gb * 1e9) as u64;
        let done = prune_cache(&self.dir, max_bytes).with_context(|| format!("pruning {}", self.dir.display()))?;
        if done.files_removed > 0 {
            tracing::info!(
                "sample cache {} over {gb} GB: removed the {} samples used longest ago ({:.2} GB), {:.2} GB kept",
                self.dir.display(),
                done.files_removed,
                done.bytes_removed as f64 / 1e9,
                done.bytes_kept as f64 / 1e9
            );
        }
        Ok(())
    }
}

/// Samples of every drive in `specs` (from the cache or simulated), with a progress bar; then the
/// cache is pruned to its cap.
pub(crate) fn load_drives(
    specs: &[DriveSpec],
    image_size: [u32; 2],
    cache: &SampleCache,
    what: &str,
) -> Result<Vec<Sample>> {
    let pb = ProgressBar::new(specs.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} drives {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_owned());
    let mut out = Vec::new();
    for spec in specs {
        out.extend(
            drive_samples(spec, image_size, Some(&cache.dir))
                .with_context(|| format!("{what} drive seed {}", spec.scenario.seed))?,
        );
        pb.inc(1);
    }
    pb.finish();
    cache.prune()?;
    Ok(out)
}

fn train_specs(args: &TrainArgs) -> Result<Vec<DriveSpec>> {
    if let Ok(n) = args.drives.parse::<u64>() {
        return Ok((1..=n)
            .map(|s| DriveSpec::from_seed(s, args.duration_s, args.stride).with_cameras(args.cameras))
            .collect());
    }
    args.drives
        .split(',')
        .map(|p| {
            let scenario = fusor_sim::Scenario::load(p.trim()).with_context(|| format!("scenario {p}"))?;
            if scenario.seed >= VALIDATION_SEED {
                bail!("scenario {p} has seed {} reserved for validation/test drives", scenario.seed);
            }
            Ok(DriveSpec { scenario, stride: args.stride.max(1), cameras: args.cameras })
        })
        .collect()
}

/// Learning rate at training progress `t` ∈ [0, 1]: a cosine from `lr` down to `lr / 50`.
fn cosine_lr(lr: f64, t: f64) -> f64 {
    let floor = lr / 50.0;
    floor + 0.5 * (lr - floor) * (1.0 + (std::f64::consts::PI * t.clamp(0.0, 1.0)).cos())
}

/// One epoch's record.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct EpochLog {
    epoch: usize,
    seconds: f64,
    loss: f64,
    heatmap_loss: f64,
    regression_loss: f64,
    #[serde(default)]
    segmentation_loss: f64,
    #[serde(default)]
    crop_loss: f64,
    val_bev_ap: Vec<(String, Option<f64>)>,
}

pub fn run_train(args: TrainArgs) -> Result<()> {
    if args.redraw {
        let path = args.output.with_extension("log.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let log: Vec<EpochLog> =
            serde_json::from_str(&text).with_context(|| format!("{} is not a training log", path.display()))?;
        write_curves(&args.output, &log)?;
        println!("redrew the curves of {} epochs next to {}", log.len(), args.output.display());
        return Ok(());
    }
    for (flag, v, max) in [
        ("--camera-dropout", args.camera_dropout, 1.0),
        ("--lidar-thinning", args.lidar_thinning, 1.0),
        ("--segmentation-weight", args.segmentation_weight, 100.0),
        ("--crop-weight", args.crop_weight, 100.0),
        ("--camera-jitter-deg", args.camera_jitter_deg, 10.0),
    ] {
        if !(0.0..=max).contains(&v) {
            bail!("{flag} must be within [0, {max}], got {v}");
        }
    }
    if let Some(n) = args.threads {
        tch::set_num_threads(n);
    }
    if args.image_branch != ImageBranch::Pixels && args.mode != FusionMode::Intermediate {
        bail!("--image-branch {} is intermediate fusion's, not {}'s", args.image_branch, args.mode);
    }
    let mut cfg = model_config(args.mode, args.tiny);
    cfg.image_branch = args.image_branch;
    if let Some(size) = args.image_size {
        cfg.image_size = size;
        cfg.validate().context("--image-size")?;
    }
    let train = load_drives(&train_specs(&args)?, cfg.image_size, &args.cache, "training")?;
    let val_specs: Vec<DriveSpec> = (0..args.val_drives)
        .map(|k| DriveSpec::from_seed(VALIDATION_SEED + k, args.duration_s, args.stride).with_cameras(args.cameras))
        .collect();
    let val = load_drives(&val_specs, cfg.image_size, &args.cache, "validation")?;
    if train.is_empty() {
        bail!("no training samples");
    }
    tracing::info!(train = train.len(), val = val.len(), mode = %args.mode, "samples");
    if args.epochs == 0 && args.image_epochs == 0 {
        println!("{} training and {} validation samples ready (--epochs 0: nothing trained)", train.len(), val.len());
        return Ok(());
    }
    let tc = TrainConfig {
        batch_size: args.batch_size,
        learning_rate: args.lr,
        camera_dropout: args.camera_dropout,
        lidar_thinning: args.lidar_thinning,
        segmentation_weight: args.segmentation_weight,
        crop_weight: args.crop_weight,
        camera_jitter_rad: args.camera_jitter_deg.to_radians(),
        seed: args.seed,
        augment: if args.no_augment {
            AugmentConfig::NONE
        } else {
            let k = args.augment_scale.clamp(0.0, 0.5);
            AugmentConfig {
                max_yaw_rad: args.augment_turn_rad.abs(),
                scale: [1.0 - k, 1.0 + k],
                ..AugmentConfig::default()
            }
        },
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&cfg, tc, tch::Device::cuda_if_available())?;
    if let Some(init) = &args.init {
        let ws = trainer.detector().warm_start(init)?;
        println!(
            "warm start from {} ({} model): {} tensors copied, {} widened ({}), {} fresh",
            init.display(),
            ws.source_mode.map_or("?", |m| m.as_str()),
            ws.copied.len(),
            ws.widened.len(),
            ws.widened.join(", "),
            ws.fresh.len()
        );
        if args.freeze_init {
            println!("{} copied tensors frozen", trainer.freeze(&ws.copied));
        }
    }
    let steps = train.len().div_ceil(args.batch_size.max(1)) as u64;
    if args.image_epochs > 0 {
        pretrain_image_net(&mut trainer, &args, &train, &val, steps)?;
        trainer.detector().save(&args.output)?;
    }
    let started = Instant::now();
    let mut log: Vec<EpochLog> = Vec::new();
    let budget_s = args.max_minutes.map(|m| m * 60.0);
    let mut last_epoch_s = 0.0;
    for epoch in 1..=args.epochs {
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(b) = budget_s {
            // Stop before an epoch that would not end within the budget.
            if elapsed + last_epoch_s > b {
                tracing::warn!(epoch, "time budget of {:.1} min would be exceeded: stopping", b / 60.0);
                break;
            }
        }
        // The schedule follows whichever runs out first, the epochs or the time budget, so a
        // time-limited run still ends at the low learning rate.
        let by_epoch = epoch.saturating_sub(1) as f64 / (args.epochs.max(2) - 1) as f64;
        let by_time = budget_s.map_or(0.0, |b| (elapsed + last_epoch_s) / b);
        trainer.set_learning_rate(cosine_lr(args.lr, by_epoch.max(by_time).min(1.0)));
        let pb = ProgressBar::new(steps).with_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} {elapsed}<{eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_prefix(format!("{epoch}/{}", args.epochs));
        let t = Instant::now();
        let l = trainer.epoch(&train, |_, l| {
            pb.set_message(format!("loss {:.3}", l.total));
            pb.inc(1);
        });
        pb.finish_and_clear();
        let seconds = t.elapsed().as_secs_f64();
        let report = evaluate(trainer.detector(), &val, true)?;
        let aps: Vec<(String, Option<f64>)> =
            ObjectClass::SCORED.iter().map(|c| (c.as_str().to_owned(), bev_ap(&report, *c))).collect();
        let ap_text: Vec<String> =
            aps.iter().map(|(c, a)| format!("{c} {}", a.map_or("-".into(), |a| format!("{a:.3}")))).collect();
        println!(
            "epoch {epoch}: {seconds:.0} s, loss {:.3} (heatmap {:.3}, regression {:.3}{}{}), val BEV AP R40: {}{}",
            l.total,
            l.heatmap,
            l.regression,
            if l.segmentation > 0.0 { format!(", segmentation {:.3}", l.segmentation) } else { String::new() },
            if l.crop > 0.0 { format!(", crop {:.3}", l.crop) } else { String::new() },
            ap_text.join(", "),
            iou_text(trainer.detector(), &val)
        );
        log.push(EpochLog {
            epoch,
            seconds,
            loss: l.total,
            heatmap_loss: l.heatmap,
            regression_loss: l.regression,
            segmentation_loss: l.segmentation,
            crop_loss: l.crop,
            val_bev_ap: aps,
        });
        trainer.detector().save(&args.output)?;
        write_curves(&args.output, &log)?;
        last_epoch_s = started.elapsed().as_secs_f64() - elapsed;
    }
    println!("weights: {} ({:.1} min)", args.output.display(), started.elapsed().as_secs_f64() / 60.0);
    Ok(())
}

/// `--image-epochs`: the image net alone on pixel classes, with the validation pixel IoU after
/// every pass.
fn pretrain_image_net(
    trainer: &mut Trainer,
    args: &TrainArgs,
    train: &[Sample],
    val: &[Sample],
    steps: u64,
) -> Result<()> {
    if !trainer.detector().config().has_pixel_net() {
        bail!(
            "--image-epochs needs a dense image net (intermediate with pixels), not {}",
            trainer.detector().config().label()
        );
    }
    for epoch in 1..=args.image_epochs {
        trainer.set_learning_rate(cosine_lr(
            args.image_lr,
            epoch.saturating_sub(1) as f64 / (args.image_epochs.max(2) - 1) as f64,
        ));
        let pb = ProgressBar::new(steps).with_style(
            ProgressStyle::with_template("image net {prefix} [{bar:30}] {pos}/{len} {elapsed}<{eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_prefix(format!("{epoch}/{}", args.image_epochs));
        let t = Instant::now();
        let loss = trainer.image_epoch(train, || pb.inc(1)).context("no training frame has a labelled camera")?;
        pb.finish_and_clear();
        println!(
            "image net epoch {epoch}: {:.0} s, segmentation {loss:.3}{}",
            t.elapsed().as_secs_f64(),
            iou_text(trainer.detector(), val)
        );
    }
    Ok(())
}

/// `", val pixel IoU car …"` for modes with an image net, empty otherwise.
fn iou_text(detector: &Detector, val: &[Sample]) -> String {
    if !detector.config().has_pixel_net() {
        return String::new();
    }
    let iou = fusor_detect::train::pixel_iou(detector, val);
    let parts: Vec<String> = fusor_detect::CLASSES
        .iter()
        .zip(iou)
        .map(|(c, v)| format!("{} {}", c.as_str(), v.map_or("-".into(), |v| format!("{v:.3}"))))
        .collect();
    format!(", val pixel IoU {}", parts.join(", "))
}

const FONT: &str = "fusor-train-sans";

fn write_curves(weights: &Path, log: &[EpochLog]) -> Result<()> {
    let stem = weights.with_extension("");
    let json = serde_json::to_string_pretty(log)?;
    std::fs::write(stem.with_extension("log.json"), json)?;
    let text = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok();
    let n = log.len().max(2) as f64;
    let plot = |path: PathBuf, title: &str, series: Vec<(String, Vec<(f64, f64)>)>, y_max: f64| -> Result<()> {
        let root = BitMapBackend::new(&path, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut b = ChartBuilder::on(&root);
        b.margin(20).x_label_area_size(40).y_label_area_size(50);
        if text {
            b.caption(title, (FONT, 22));
        }
        let mut chart =
            b.build_cartesian_2d(1.0..n, 0.0..y_max).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("epoch").label_style((FONT, 14));
        }
        mesh.draw().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (i, (label, pts)) in series.into_iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let s = chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if text {
                s.label(label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
        }
        if text {
            chart
                .configure_series_labels()
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        root.present().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(())
    };
    let pts = |f: &dyn Fn(&EpochLog) -> f64| log.iter().map(|e| (e.epoch as f64, f(e))).collect::<Vec<_>>();
    let max_loss = log.iter().map(|e| e.loss).fold(0.0, f64::max).max(1e-3) * 1.1;
    plot(
        stem.with_extension("loss.png"),
        "training loss",
        vec![
            ("total".into(), pts(&|e| e.loss)),
            ("heatmap".into(), pts(&|e| e.heatmap_loss)),
            ("regression".into(), pts(&|e| e.regression_loss)),
            ("segmentation".into(), pts(&|e| e.segmentation_loss)),
            ("crop".into(), pts(&|e| e.crop_loss)),
        ],
        max_loss,
    )?;
    let ap_series = ObjectClass::SCORED
        .iter()
        .enumerate()
        .map(|(k, c)| {
            (
                format!("{} BEV AP R40", c.as_str()),
                pts(&|e: &EpochLog| e.val_bev_ap.get(k).and_then(|a| a.1).unwrap_or(0.0)),
            )
        })
        .collect();
    plot(stem.with_extension("ap.png"), "validation BEV AP R40", ap_series, 1.0)?;
    write_curves_rrd(&stem.with_extension("curves.rrd"), log)
}

/// The same curves as a Rerun recording (`loss/*` and `val_bev_ap/*` on the `epoch` timeline),
/// rewritten whole after every epoch.
fn write_curves_rrd(path: &Path, log: &[EpochLog]) -> Result<()> {
    use rerun::blueprint::{Blueprint, BlueprintActivation, TimeSeriesView, Vertical};
    let rec = rerun::RecordingStreamBuilder::new("fusor-train").save(path)?;
    let loss = TimeSeriesView::new("training loss").with_origin("loss");
    let ap = TimeSeriesView::new("validation BEV AP R40").with_origin("val_bev_ap");
    Blueprint::new(Vertical::new([loss.into(), ap.into()])).send(&rec, BlueprintActivation::default())?;
    for e in log {
        rec.set_time_sequence("epoch", e.epoch as i64);
        for (name, v) in [
            ("total", e.loss),
            ("heatmap", e.heatmap_loss),
            ("regression", e.regression_loss),
            ("segmentation", e.segmentation_loss),
            ("crop", e.crop_loss),
        ] {
            rec.log(format!("loss/{name}"), &rerun::Scalars::single(v))?;
        }
        for (class, ap) in &e.val_bev_ap {
            if let Some(ap) = ap {
                rec.log(format!("val_bev_ap/{class}"), &rerun::Scalars::single(*ap))?;
            }
        }
    }
    rec.flush_blocking().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub fn run_detect_eval(args: DetectEvalArgs) -> Result<()> {
    let device = tch::Device::cuda_if_available();
    let detector = Detector::load(&args.weights, device)?;
    let cfg = detector.config().clone();
    let specs: Vec<DriveSpec> = (0..args.drives)
        .map(|k| DriveSpec::from_seed(TEST_SEED + k, args.duration_s, args.stride).with_cameras(args.cameras))
        .collect();
    let samples = load_drives(&specs, cfg.image_size, &args.cache, "test")?;
    detector.warm_up(3);
    let t = Instant::now();
    let frames = detect_frames(&detector, &samples, !args.no_camera);
    let ms = t.elapsed().as_secs_f64() * 1e3 / samples.len().max(1) as f64;
    let mut md = format!(
        "weights {} (mode {}), {} held-out frames from seeds {}..{}, camera {}; {ms:.1} ms per frame on {device:?} \
         (features + network + decoding, {} threads)\n\n| class | BEV AP R40 |\n|---|---|\n",
        args.weights.display(),
        cfg.mode,
        samples.len(),
        TEST_SEED,
        TEST_SEED + args.drives.saturating_sub(1),
        if args.no_camera { "blacked out" } else { "on" },
        tch::get_num_threads(),
    );
    let report = score(&frames)?;
    for c in ObjectClass::SCORED {
        md.push_str(&format!(
            "| {} | {} |\n",
            c.as_str(),
            bev_ap(&report, c).map_or("-".into(), |a| format!("{a:.3}"))
        ));
    }
    md.push('\n');
    md.push_str(&report.to_markdown());
    let errors =
        fusor_eval::error_breakdowns(&frames, &fusor_eval::DetectionConfig::default(), fusor_eval::BoxMetric::Bev)?;
    md.push_str(&fusor_eval::ErrorBreakdown::markdown_section(errors.iter().map(|b| ("", b))));
    println!("{md}");
    if let Some(p) = &args.report {
        std::fs::write(p, &md).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// `fusor export`: the network as a TorchScript module.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write a TorchScript module (the only format so far).
    #[arg(long, required = true)]
    torchscript: bool,
    /// Weights written by `fusor train` (default: the pipelines' model).
    #[arg(long, default_value = "models/late-long.safetensors")]
    weights: std::path::PathBuf,
    /// Output file (`.pt`).
    #[arg(short, long)]
    output: std::path::PathBuf,
    /// Seed of the simulated frame the network is traced on.
    #[arg(long, default_value_t = 20_001)]
    seed: u64,
}

/// Traces the network on one simulated frame and writes the module; prints its inputs.
pub fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.torchscript, "pass --torchscript");
    let mut detector = fusor_detect::Detector::load(&args.weights, tch::Device::Cpu)?;
    let spec = fusor_detect::DriveSpec::from_seed(args.seed, 0.2, 1);
    let samples = fusor_detect::sample::drive_samples(&spec, detector.config().image_size, None)?;
    let sample = samples.first().ok_or_else(|| anyhow::anyhow!("the simulated drive gave no frame"))?;
    let frame = fusor_detect::FrameInput { points: &sample.points, cameras: &sample.cameras };
    let (inputs, reference) = detector.export_torchscript(frame, &args.output)?;
    println!("wrote {} ({} mode, traced on seed {})", args.output.display(), detector.config().mode, args.seed);
    // The traced frame and the network's own output on it, for `scripts/torchscript_timing.py`
    // (CPU here, CUDA on a GPU machine): inputs in the module's argument order.
    let example = args.output.with_extension("inputs.safetensors");
    let output = tch::Tensor::cat(&[reference.heatmap_logits, reference.regression], 1);
    let mut named: Vec<(String, tch::Tensor)> =
        inputs.iter().enumerate().map(|(i, (name, t))| (format!("input{i}_{name}"), t.shallow_clone())).collect();
    named.push(("output".into(), output));
    tch::Tensor::write_safetensors(&named, &example)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", example.display()))?;
    println!("wrote {} (the traced frame's inputs and the network's output)", example.display());
    for (name, t) in &inputs {
        println!("  input {name:<18} {:?} {:?}", t.size(), t.kind());
    }
    let c = detector.config();
    match c.mode {
        _ if c.has_crop_net() => println!(
            "  grid {} x {} cells; cell_rect: each cell's crop [u0, v0, u1, v1] in grid_sample coordinates (-1, 1: image edges)",
            c.nx(),
            c.ny()
        ),
        fusor_detect::FusionMode::Intermediate => {
            let [fw, fh] = c.image_feature_size();
            println!("  grid {} x {} cells; image features {fw} x {fh} (off-image pixel index {})", c.nx(), c.ny(), fw * fh)
        }
        _ => println!("  grid {} x {} cells", c.nx(), c.ny()),
    }
    println!("  output: [1, 3 + 8, nx, ny]: class heatmap logits, then regression channels");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cosine_lr;

    #[test]
    fn the_learning_rate_falls_from_the_start_value_to_a_fiftieth_without_rising() {
        let lrs: Vec<f64> = (0..16).map(|e| cosine_lr(2e-3, e as f64 / 15.0)).collect();
        assert!((lrs[0] - 2e-3).abs() < 1e-12);
        assert!((lrs[15] - 4e-5).abs() < 1e-12);
        assert!(lrs.windows(2).all(|w| w[1] < w[0]), "{lrs:?}");
        assert_eq!(cosine_lr(1e-3, 7.0), cosine_lr(1e-3, 1.0), "progress is clamped");
    }
}
