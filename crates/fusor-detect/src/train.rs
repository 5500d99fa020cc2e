//! Losses and the training loop (Adam, deterministic order, camera dropout, augmentation).

use crate::augment::{Augment, AugmentConfig};
use crate::config::{ModelConfig, CLASSES, REG_CHANNELS};
use crate::detector::Detector;
use crate::features::{Batch, FrameInput};
use crate::model::{CropCells, Output, LATE_CHANNELS, LATE_CHANNEL_COUNT};
use crate::sample::{CameraView, GtBox, Sample};
use crate::target::frame_targets;
use crate::Result;
use nalgebra::{Isometry3, Translation3, UnitQuaternion};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

/// Training hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Frames per optimiser step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Probability that a frame's camera is blanked during training (modality dropout).
    pub camera_dropout: f64,
    /// Probability that a frame's lidar is thinned during training: it keeps a random 20–100 %
    /// of its points (drawn per frame, then per point), so that objects the lidar barely sees
    /// remain targets and the network learns to take them from the camera.
    pub lidar_thinning: f64,
    /// Weight of the regression loss against the heatmap loss.
    pub regression_weight: f64,
    /// Weight of the image net's pixel-classification loss (modes with an image net, frames
    /// with pixel labels); 0 trains the image features through the detection loss alone.
    pub segmentation_weight: f64,
    /// Weight of the crop loss (late fusion, intermediate with crops): the crop net's
    /// class-balanced classification of the cells it looked at ([`crop_loss`]); 0 trains it
    /// through the detection loss alone.
    pub crop_weight: f64,
    /// Largest random error of the camera's extrinsic calibration during training, radians: each
    /// frame's `camera_from_base_link` is turned about the camera's three axes by angles drawn
    /// uniformly in ±this (0: none), so that the camera branch learns not to rely on a pixel-exact
    /// calibration.
    pub camera_jitter_rad: f64,
    /// Seed of weight initialisation, data order, dropout and augmentation.
    pub seed: u64,
    /// Random mirror / turn / scale of each training frame ([`AugmentConfig::NONE`] for none).
    pub augment: AugmentConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 4,
            learning_rate: 2e-3,
            camera_dropout: 0.2,
            lidar_thinning: 0.0,
            regression_weight: 0.5,
            segmentation_weight: 0.5,
            crop_weight: 1.0,
            camera_jitter_rad: 0.0,
            seed: 6,
            augment: AugmentConfig::default(),
        }
    }
}

/// `camera` with its `camera_from_base_link` turned about the camera's own x, y and z axes by
/// angles drawn uniformly in `±max_rad` (a miscalibrated extrinsic; the pixels stay as they are).
pub fn jitter_camera(camera: &CameraView, max_rad: f64, rng: &mut impl Rng) -> CameraView {
    let mut draw = || if max_rad > 0.0 { rng.gen_range(-max_rad..=max_rad) } else { 0.0 };
    let (rx, ry, rz) = (draw(), draw(), draw());
    let turn = UnitQuaternion::from_euler_angles(rx, ry, rz);
    let mut out = camera.clone();
    out.camera_from_base_link = Isometry3::from_parts(Translation3::identity(), turn) * camera.camera_from_base_link;
    out
}

/// Targets of a batch as tensors.
#[derive(Debug)]
pub struct BatchTargets {
    /// `[B, classes, nx, ny]`.
    pub heatmap: Tensor,
    /// Flattened cell index (`b * nx * ny + ix * ny + iy`) of each regressed box, `[M]`.
    pub index: Tensor,
    /// `[M, 8]`.
    pub regression: Tensor,
}

impl BatchTargets {
    /// Targets of `samples` for `cfg` on `device`.
    pub fn new(cfg: &ModelConfig, samples: &[&Sample], device: Device) -> Self {
        Self::augmented(cfg, samples, &[], device)
    }

    /// [`Self::new`] with the boxes of sample `i` moved by `augments[i]` (identity where
    /// `augments` is shorter), to go with [`Batch::augmented`].
    pub fn augmented(cfg: &ModelConfig, samples: &[&Sample], augments: &[Augment], device: Device) -> Self {
        let (nx, ny) = (cfg.nx(), cfg.ny());
        let (mut hm, mut idx, mut reg) = (Vec::new(), Vec::new(), Vec::new());
        for (b, s) in samples.iter().enumerate() {
            let augment = augments.get(b).copied().unwrap_or_default();
            let moved: Vec<GtBox> =
                s.boxes.iter().map(|g| GtBox { bbox: augment.apply_box(&g.bbox), ..g.clone() }).collect();
            let t = frame_targets(cfg, &moved);
            hm.extend_from_slice(&t.heatmap);
            for (cell, r) in t.regression {
                idx.push(b as i64 * nx * ny + cell);
                reg.extend_from_slice(&r);
            }
        }
        let b = samples.len() as i64;
        Self {
            heatmap: Tensor::from_slice(&hm).reshape([b, CLASSES.len() as i64, nx, ny]).to_device(device),
            index: Tensor::from_slice(&idx).to_device(device),
            regression: Tensor::from_slice(&reg).reshape([idx.len() as i64, REG_CHANNELS as i64]).to_device(device),
        }
    }
}

/// Loss terms of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Losses {
    /// Focal loss of the heatmap per object.
    pub heatmap: f64,
    /// L1 regression loss per object (summed over channels).
    pub regression: f64,
    /// Class-weighted cross-entropy of the image net's pixel classes (0 when there is none).
    pub segmentation: f64,
    /// The crop loss (0 for models without a crop net and for batches with no cell on an image).
    pub crop: f64,
    /// `heatmap + regression_weight * regression + segmentation_weight * segmentation +
    /// crop_weight * crop`.
    pub total: f64,
}

/// CenterNet focal loss (α = 2, β = 4) on Gaussian targets, normalised by the number of centres.
pub fn focal_loss(logits: &Tensor, target: &Tensor) -> Tensor {
    let p = logits.sigmoid().clamp(1e-4, 1.0 - 1e-4);
    let pos = target.eq(1.0).to_kind(Kind::Float);
    let neg: Tensor = 1.0 - &pos;
    let one_minus_p: Tensor = 1.0 - &p;
    let pos_loss = p.log() * one_minus_p.pow_tensor_scalar(2.0) * &pos;
    let one_minus_t: Tensor = 1.0 - target;
    let neg_loss: Tensor = one_minus_p.log() * p.pow_tensor_scalar(2.0) * one_minus_t.pow_tensor_scalar(4.0) * neg;
    let n = pos.sum(Kind::Float).clamp_min(1.0);
    -(pos_loss.sum(Kind::Float) + neg_loss.sum(Kind::Float)) / n
}

/// L1 loss of the regression map at the target cells, per object.
pub fn regression_loss(regression: &Tensor, targets: &BatchTargets) -> Tensor {
    let m = targets.index.size()[0];
    if m == 0 {
        return regression.sum(Kind::Float) * 0.0;
    }
    let rows = regression.permute([0, 2, 3, 1]).reshape([-1, REG_CHANNELS as i64]).index_select(0, &targets.index);
    (rows - &targets.regression).abs().sum(Kind::Float) / m as f64
}

/// Weights of the pixel classes (background, car, pedestrian, cyclist) in the segmentation loss:
/// background fills most of the image, pedestrians a few pixels each.
const SEGMENTATION_CLASS_WEIGHTS: [f32; CLASSES.len() + 1] = [0.2, 1.0, 3.0, 3.0];

/// Cross-entropy of pixel-class logits `[B, 1 + classes, h, w]` against labels `[B, h, w]`
/// ([`crate::features::IGNORE_LABEL`] skipped), class-weighted; `None` when no pixel is labelled.
pub fn segmentation_loss(logits: &Tensor, labels: &Tensor) -> Option<Tensor> {
    let labelled = labels.ne(crate::features::IGNORE_LABEL).sum(Kind::Int64).int64_value(&[]);
    (labelled > 0).then(|| {
        let weight = Tensor::from_slice(&SEGMENTATION_CLASS_WEIGHTS).to_device(logits.device());
        logits.cross_entropy_loss(labels, Some(weight), tch::Reduction::Mean, crate::features::IGNORE_LABEL, 0.0)
    })
}

/// One frame per camera view of `samples` that has pixel labels, camera only (no points).
fn labelled_frames<'a>(samples: impl Iterator<Item = &'a Sample>) -> Vec<FrameInput<'a>> {
    samples
        .flat_map(|s| s.cameras.iter().filter(|c| !c.labels.is_empty()))
        .map(|c| FrameInput { points: &[], cameras: std::slice::from_ref(c) })
        .collect()
}

/// Pixel IoU of the image net's classes ([`CLASSES`] order, background left out) over the
/// labelled cameras of `samples`, at the image net's output resolution; `None` for a class that
/// neither the labels nor the predictions contain, and for every class in modes without an
/// image net.
pub fn pixel_iou(detector: &Detector, samples: &[Sample]) -> [Option<f64>; CLASSES.len()] {
    let cfg = detector.config();
    let (mut inter, mut union) = ([0i64; CLASSES.len()], [0i64; CLASSES.len()]);
    tch::no_grad(|| {
        for chunk in samples.chunks(8) {
            let frames = labelled_frames(chunk.iter());
            if frames.is_empty() {
                continue;
            }
            let batch = Batch::new(cfg, &frames, detector.device());
            let (Some(images), Some(labels)) = (&batch.images, &batch.image_labels) else { return };
            let Some((_, logits)) = detector.network().image_forward(images) else { return };
            let pred = logits.argmax(1, false);
            let known = labels.ne(crate::features::IGNORE_LABEL);
            for k in 0..CLASSES.len() {
                let c = k as i64 + 1;
                let (p, l) = (pred.eq(c).logical_and(&known), labels.eq(c));
                inter[k] += p.logical_and(&l).sum(Kind::Int64).int64_value(&[]);
                union[k] += p.logical_or(&l).sum(Kind::Int64).int64_value(&[]);
            }
        }
    });
    std::array::from_fn(|k| (union[k] > 0).then(|| inter[k] as f64 / union[k] as f64))
}

/// The crop loss (late fusion, intermediate with crops): cross-entropy of the crop net's own
/// class logits (other / pedestrian / cyclist: a class where its heatmap target is ≥ 0.5, other
/// where every target is < 0.1, the rest skipped) over the cells it looked at that lie on the
/// image, averaged per class and then over the classes present, so that the few crops of people
/// weigh as much as the many of road and walls. Without it the crop net learns a constant: the heatmap's focal loss, which
/// trains the logit corrections themselves (and keeps them on the same scale as the cells they do
/// not touch), gives it too little signal on its own. `None` when no cell is on an image or no
/// cell has a known class.
pub fn crop_loss(cells: &CropCells, heatmap_target: &Tensor) -> Option<Tensor> {
    let size = heatmap_target.size();
    let (b, nx, ny) = (size[0], size[2], size[3]);
    let n = LATE_CHANNEL_COUNT;
    let k = cells.index.size()[1];
    let target = heatmap_target
        .narrow(1, LATE_CHANNELS.start, n)
        .reshape([b, n, nx * ny])
        .gather(2, &cells.index.unsqueeze(1).expand([b, n, k], false), false)
        .permute([0, 2, 1]);
    let on = cells.on_image.flatten(0, -1);
    // Class of each cell for the auxiliary head: 0 other, 1 + c for channel c.
    let target = target.reshape([b * k, n]);
    let (best, channel) = target.max_dim(1, false);
    let class = (channel + 1) * best.ge(0.5).to_kind(Kind::Int64);
    let known = (best.ge(0.5).logical_or(&best.lt(0.1))).to_kind(Kind::Float) * &on;
    let ce = cells.class_logits.reshape([b * k, n + 1]).cross_entropy_loss::<Tensor>(
        &class,
        None,
        tch::Reduction::None,
        -100,
        0.0,
    );
    let mut per_class = Vec::new();
    for c in 0..=n {
        let w = class.eq(c).to_kind(Kind::Float) * &known;
        let total = w.sum(Kind::Float);
        if total.double_value(&[]) >= 1.0 {
            per_class.push((&ce * &w).sum(Kind::Float) / total);
        }
    }
    let classes = per_class.len() as f64;
    per_class.into_iter().reduce(|a, b| a + b).map(|s| s / classes)
}

/// All losses of a forward pass: heatmap, regression, where the batch has pixel labels the image
/// net's segmentation, and for late fusion its crop loss.
pub fn losses(out: &Output, batch: &Batch, targets: &BatchTargets, cfg: &TrainConfig) -> (Tensor, Losses) {
    let hm = focal_loss(&out.heatmap_logits, &targets.heatmap);
    let reg = regression_loss(&out.regression, targets);
    let mut total = &hm + &reg * cfg.regression_weight;
    let seg = match (&out.image_logits, &batch.image_labels) {
        (Some(logits), Some(labels)) if cfg.segmentation_weight > 0.0 => segmentation_loss(logits, labels),
        _ => None,
    };
    if let Some(seg) = &seg {
        total += seg * cfg.segmentation_weight;
    }
    let crop = match &out.crop_cells {
        Some(cells) if cfg.crop_weight > 0.0 => crop_loss(cells, &targets.heatmap),
        _ => None,
    };
    if let Some(crop) = &crop {
        total += crop * cfg.crop_weight;
    }
    let l = Losses {
        heatmap: hm.double_value(&[]),
        regression: reg.double_value(&[]),
        segmentation: seg.map_or(0.0, |s| s.double_value(&[])),
        crop: crop.map_or(0.0, |c| c.double_value(&[])),
        total: total.double_value(&[]),
    };
    (total, l)
}

/// Trains a [`Detector`] in place.
#[derive(Debug)]
pub struct Trainer {
    detector: Detector,
    opt: nn::Optimizer,
    cfg: TrainConfig,
    rng: ChaCha8Rng,
}

impl Trainer {
    /// A new detector for `model` on `device`, seeded by `train.seed` (`tch::manual_seed`).
    pub fn new(model: &ModelConfig, train: TrainConfig, device: Device) -> Result<Self> {
        tch::manual_seed(train.seed as i64);
        let detector = Detector::new(model, device)?;
        Self::from_detector(detector, train)
    }

    /// Continues training `detector`.
    pub fn from_detector(detector: Detector, train: TrainConfig) -> Result<Self> {
        let opt = nn::Adam::default().build(detector.var_store(), train.learning_rate)?;
        let rng = ChaCha8Rng::seed_from_u64(train.seed);
        Ok(Self { detector, opt, cfg: train, rng })
    }

    /// The detector being trained.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Ends training, returning the detector.
    pub fn into_detector(self) -> Detector {
        self.detector
    }

    /// Keeps the variables named in `names` fixed from now on (for example those that
    /// [`Detector::warm_start`] copied, so that late fusion trains only its camera branch on top
    /// of a finished lidar detector). Returns how many variables were frozen.
    pub fn freeze(&mut self, names: &[String]) -> usize {
        let vars = self.detector.var_store().variables();
        let mut n = 0;
        for name in names {
            if let Some(t) = vars.get(name) {
                let _ = t.set_requires_grad(false);
                n += 1;
            }
        }
        n
    }

    /// Sets the learning rate.
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.opt.set_lr(lr);
    }

    /// One optimiser step on `samples`; each frame's camera is blanked with probability
    /// `camera_dropout`, its lidar thinned with probability `lidar_thinning`, and the frame is
    /// mirrored / turned / scaled as `augment` draws.
    pub fn step(&mut self, samples: &[&Sample]) -> Losses {
        let cfg = self.detector.config().clone();
        let device = self.detector.device();
        let thinned: Vec<Option<Vec<[f32; 4]>>> = samples
            .iter()
            .map(|s| {
                // No draw at all when thinning is off: runs without it stay reproducible.
                let thin = self.cfg.lidar_thinning > 0.0 && self.rng.gen_bool(self.cfg.lidar_thinning.min(1.0));
                thin.then(|| {
                    let keep = self.rng.gen_range(0.2..=1.0);
                    s.points.iter().filter(|_| self.rng.gen_bool(keep)).copied().collect()
                })
            })
            .collect();
        let jittered: Vec<Option<Vec<CameraView>>> = samples
            .iter()
            .map(|s| {
                // As for thinning: no draw when jitter is off. Each camera of a rig is off by its own error.
                let max = self.cfg.camera_jitter_rad;
                (max > 0.0 && !s.cameras.is_empty())
                    .then(|| s.cameras.iter().map(|c| jitter_camera(c, max, &mut self.rng)).collect())
            })
            .collect();
        let frames: Vec<FrameInput<'_>> = samples
            .iter()
            .zip(thinned.iter().zip(&jittered))
            .map(|(s, (thin, jittered))| {
                let blank = self.rng.gen_bool(self.cfg.camera_dropout.clamp(0.0, 1.0));
                let points = thin.as_deref().unwrap_or(&s.points);
                let cameras = jittered.as_deref().unwrap_or(&s.cameras);
                FrameInput { points, cameras: if blank { &[] } else { cameras } }
            })
            .collect();
        let augments: Vec<Augment> = samples.iter().map(|_| self.cfg.augment.sample(&mut self.rng)).collect();
        let batch = Batch::augmented(&cfg, &frames, &augments, device);
        let targets = BatchTargets::augmented(&cfg, samples, &augments, device);
        let out = self.detector.network().forward(&batch);
        let (loss, l) = losses(&out, &batch, &targets, &self.cfg);
        // With frozen variables a batch can reach no trainable one (late fusion's camera branch
        // on a batch whose cameras were all dropped): nothing to learn from it.
        if loss.requires_grad() {
            self.opt.zero_grad();
            loss.backward();
            self.opt.clip_grad_norm(10.0);
            self.opt.step();
        }
        l
    }

    /// One optimiser step of the image net alone on the pixel classes of `samples`
    /// (PointPainting's separately trained segmentation network, before it is trained with the
    /// detector). Frames without a labelled camera are skipped; the batch is mirrored left–right
    /// with probability ½. Returns the segmentation loss; `None` when the mode has no image net
    /// or no frame has labels.
    pub fn image_step(&mut self, samples: &[&Sample]) -> Option<f64> {
        let cfg = self.detector.config().clone();
        let frames = labelled_frames(samples.iter().copied());
        if !cfg.has_pixel_net() || frames.is_empty() {
            return None;
        }
        let batch = Batch::new(&cfg, &frames, self.detector.device());
        let (images, labels) = (batch.images?, batch.image_labels?);
        let (images, labels) =
            if self.rng.gen_bool(0.5) { (images.flip([3]), labels.flip([2])) } else { (images, labels) };
        let (_, logits) = self.detector.network().image_forward(&images)?;
        let loss = segmentation_loss(&logits, &labels)?;
        if loss.requires_grad() {
            self.opt.zero_grad();
            loss.backward();
            self.opt.clip_grad_norm(10.0);
            self.opt.step();
        }
        Some(loss.double_value(&[]))
    }

    /// One pass of [`Self::image_step`] over `samples` in a seeded random order; `on_step()`
    /// after each step. Returns the mean segmentation loss (`None`: nothing to learn from).
    pub fn image_epoch(&mut self, samples: &[Sample], mut on_step: impl FnMut()) -> Option<f64> {
        let mut order: Vec<usize> = (0..samples.len()).collect();
        order.shuffle(&mut self.rng);
        let (mut sum, mut steps) = (0.0, 0usize);
        for chunk in order.chunks(self.cfg.batch_size.max(1)) {
            let batch: Vec<&Sample> = chunk.iter().filter_map(|&i| samples.get(i)).collect();
            if let Some(l) = self.image_step(&batch) {
                sum += l;
                steps += 1;
            }
            on_step();
        }
        (steps > 0).then(|| sum / steps as f64)
    }

    /// One pass over `samples` in a seeded random order; `on_step(step, losses)` after each step.
    /// Returns the mean losses.
    pub fn epoch(&mut self, samples: &[Sample], mut on_step: impl FnMut(usize, &Losses)) -> Losses {
        let mut order: Vec<usize> = (0..samples.len()).collect();
        order.shuffle(&mut self.rng);
        let mut sum = Losses { heatmap: 0.0, regression: 0.0, segmentation: 0.0, crop: 0.0, total: 0.0 };
        let mut steps = 0;
        for chunk in order.chunks(self.cfg.batch_size.max(1)) {
            let batch: Vec<&Sample> = chunk.iter().filter_map(|&i| samples.get(i)).collect();
            let l = self.step(&batch);
            sum.heatmap += l.heatmap;
            sum.regression += l.regression;
            sum.segmentation += l.segmentation;
            sum.crop += l.crop;
            sum.total += l.total;
            steps += 1;
            on_step(steps, &l);
        }
        let n = steps.max(1) as f64;
        Losses {
            heatmap: sum.heatmap / n,
            regression: sum.regression / n,
            segmentation: sum.segmentation / n,
            crop: sum.crop / n,
            total: sum.total / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_core::calib::{CameraModel, Distortion};
    use nalgebra::{Matrix3, Point3};

    /// Four cells of a 2 × 2 grid: a pedestrian's centre, a pay station (target 0), an empty
    /// cell, and a cell off the image; the crop net's class logits (other, pedestrian, cyclist)
    /// are `ped` for the first, `other` for the next two and `off` for the last.
    fn cells(ped: [f32; 3], other: [f32; 3], off: [f32; 3]) -> (CropCells, Tensor) {
        let f = |v: &[f32], shape: &[i64]| Tensor::from_slice(v).reshape(shape);
        let cells = CropCells {
            index: Tensor::from_slice(&[0i64, 1, 2, 3]).reshape([1, 4]),
            on_image: f(&[1.0, 1.0, 1.0, 0.0], &[1, 4]),
            class_logits: Tensor::cat(
                &[f(&ped, &[1, 1, 3]), f(&other, &[1, 1, 3]).repeat([1, 2, 1]), f(&off, &[1, 1, 3])],
                1,
            ),
        };
        // Heatmap targets [1, 3 classes, 2, 2]: the pedestrian at cell 0.
        let mut target = vec![0f32; 12];
        target[4] = 1.0;
        (cells, f(&target, &[1, 3, 2, 2]))
    }

    #[test]
    fn the_crop_loss_rewards_crops_that_tell_people_from_clutter_and_ignores_cells_off_the_image() {
        let loss = |c: (CropCells, Tensor)| crop_loss(&c.0, &c.1).expect("cells on the image").double_value(&[]);
        let (person, clutter) = ([-2.0, 3.0, -2.0], [3.0, -2.0, -2.0]);
        let right = loss(cells(person, clutter, clutter));
        let wrong = loss(cells(clutter, person, clutter));
        assert!(right.is_finite() && right < 0.05 && wrong > 4.0, "{right} vs {wrong}");
        // A cell off the image counts for nothing, whatever its logits.
        assert_eq!(right, loss(cells(person, clutter, person)));
        // The one pedestrian weighs as much as the two other cells together.
        let ped_wrong = loss(cells(clutter, clutter, clutter));
        let others_wrong = loss(cells(person, person, clutter));
        assert!((ped_wrong - others_wrong).abs() < 1e-5, "{ped_wrong} vs {others_wrong}");
        // No cell on the image: no loss.
        let (mut c, t) = cells(person, clutter, clutter);
        c.on_image = Tensor::zeros([1, 4], (Kind::Float, Device::Cpu));
        assert!(crop_loss(&c, &t).is_none());
    }

    fn view() -> CameraView {
        let camera = CameraModel {
            width: 8,
            height: 4,
            k: Matrix3::new(4.0, 0.0, 4.0, 0.0, 4.0, 2.0, 0.0, 0.0, 1.0),
            distortion: Distortion::None,
        };
        let base_link_from_camera = Isometry3::from_parts(
            Translation3::new(1.2, -0.3, 1.6),
            UnitQuaternion::from_euler_angles(-std::f64::consts::FRAC_PI_2, 0.0, -std::f64::consts::FRAC_PI_2),
        );
        CameraView {
            width: 8,
            height: 4,
            rgb: (0..96).collect(),
            camera,
            camera_from_base_link: base_link_from_camera.inverse(),
            labels: vec![1; 32],
        }
    }

    #[test]
    fn camera_jitter_turns_the_camera_in_place_within_its_bound() {
        let original = view();
        let centre = |v: &CameraView| v.camera_from_base_link.inverse() * Point3::origin();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let max = 1f64.to_radians();
        let mut largest = 0f64;
        for _ in 0..200 {
            let jittered = jitter_camera(&original, max, &mut rng);
            // Only the extrinsic changes: same pixels, labels, intrinsics, same optical centre.
            assert_eq!(
                (&jittered.rgb, &jittered.labels, &jittered.camera),
                (&original.rgb, &original.labels, &original.camera)
            );
            assert!((centre(&jittered) - centre(&original)).norm() < 1e-12);
            let turn = jittered.camera_from_base_link.rotation * original.camera_from_base_link.rotation.inverse();
            // Three angles of at most 1° each turn the camera by at most √3 degrees.
            assert!(turn.angle() <= 3f64.sqrt() * max + 1e-12, "{}", turn.angle().to_degrees());
            largest = largest.max(turn.angle());
        }
        assert!(largest > 0.8 * max, "200 draws never came near the bound: {}°", largest.to_degrees());
        // The projection of a point ahead really changes.
        let ahead = Point3::new(20.0, 0.0, 1.0);
        let jittered = jitter_camera(&original, 5f64.to_radians(), &mut rng);
        let project = |v: &CameraView| v.camera.project(&(v.camera_from_base_link * ahead));
        assert_ne!(project(&jittered), project(&original));
        // No jitter: the camera as it was, and no draw from the generator.
        let (mut a, b) = (ChaCha8Rng::seed_from_u64(9), ChaCha8Rng::seed_from_u64(9));
        assert_eq!(jitter_camera(&original, 0.0, &mut a), original);
        assert_eq!(a, b);
    }
}
