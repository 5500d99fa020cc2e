//! Specification tests of the detector pipeline on hand-made frames (tiny grid, few channels).

mod common;

use common::{frame, gt, handful};
use fusor_core::{ObjectClass, PointCloud, Stamp};
use fusor_detect::detector::Detector;
use fusor_detect::eval::{bev_ap, frame_eval};
use fusor_detect::features::Batch;
use fusor_detect::sample::{load_sample, save_sample};
use fusor_detect::target::{decode, frame_targets, regression_map};
use fusor_detect::train::BatchTargets;
use fusor_detect::{
    Augment, AugmentConfig, CameraView, FrameInput, FusionMode, ImageBranch, ModelConfig, TrainConfig, Trainer, CLASSES,
};
use nalgebra::Point3;
use tch::Device;

fn inputs(samples: &[fusor_detect::Sample]) -> Vec<FrameInput<'_>> {
    samples.iter().map(|s| FrameInput { points: &s.points, cameras: &s.cameras }).collect()
}

#[test]
fn a_mirrored_frame_keeps_its_paint_and_mirrors_its_geometry_and_targets() {
    use ObjectClass::{Car, Pedestrian};
    // Box centres off cell boundaries, so that the mirrored cell is exactly ny - 1 - iy.
    let samples = [frame(vec![gt(Car, 8.1, 2.2, 0.1), gt(Pedestrian, 5.1, -3.1, 0.0)])];
    let mirror = Augment { flip_y: true, yaw_rad: 0.0, scale: 1.0 };
    let floats = |t: &tch::Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).expect("floats");
    let cfg = ModelConfig::tiny(FusionMode::Early);
    let frames = inputs(&samples[..1]);
    let plain = Batch::new(&cfg, &frames, Device::Cpu);
    let mirrored = Batch::augmented(&cfg, &frames, &[mirror], Device::Cpu);
    assert_eq!(plain.num_points(), mirrored.num_points());
    // Paint and the on-image flag come from where the point really was.
    assert_eq!(floats(&plain.point_features.narrow(1, 7, 3)), floats(&mirrored.point_features.narrow(1, 7, 3)));
    assert_eq!(floats(&plain.point_on_image), floats(&mirrored.point_on_image));
    assert!(floats(&plain.point_on_image).contains(&1.0), "some points are painted");
    // Geometry is mirrored: y on the grid (column 1) becomes 1 − y, the offset in the cell
    // (column 5) changes sign, x (column 0) stays.
    let (y0, y1) = (floats(&plain.point_features.narrow(1, 1, 1)), floats(&mirrored.point_features.narrow(1, 1, 1)));
    assert!(y0.iter().zip(&y1).all(|(a, b)| (a + b - 1.0).abs() < 1e-5));
    let (d0, d1) = (floats(&plain.point_features.narrow(1, 5, 1)), floats(&mirrored.point_features.narrow(1, 5, 1)));
    // (A point exactly on a cell boundary has offset −0.5 on both sides.)
    assert!(d0.iter().zip(&d1).all(|(a, b)| (a + b).abs() < 1e-5 || (a.abs() - 0.5).abs() < 1e-4));
    assert_eq!(floats(&plain.point_features.narrow(1, 0, 1)), floats(&mirrored.point_features.narrow(1, 0, 1)));
    // Targets: the heatmap is the original's mirrored across y; the regression rows keep x, flip y.
    let refs: Vec<&fusor_detect::Sample> = samples[..1].iter().collect();
    let t0 = BatchTargets::new(&cfg, &refs, Device::Cpu);
    let t1 = BatchTargets::augmented(&cfg, &refs, &[mirror], Device::Cpu);
    assert!(floats(&t0.heatmap).contains(&1.0), "the frame has targets");
    assert_eq!(floats(&t0.heatmap.flip([3])), floats(&t1.heatmap));
    assert_eq!(t0.regression.size(), t1.regression.size());
    // Late fusion: a mirrored cell crops where the original cell cropped.
    let late = ModelConfig::tiny(FusionMode::Late);
    let (ny, nx) = (late.ny(), late.nx());
    let plain = Batch::new(&late, &frames, Device::Cpu);
    let mirrored = Batch::augmented(&late, &frames, &[mirror], Device::Cpu);
    let rects = |b: &Batch| b.cell_rect.as_ref().expect("late has cell crops").reshape([nx, ny, 4]);
    assert_eq!(floats(&rects(&plain).flip([1])), floats(&rects(&mirrored)));
    let on = |b: &Batch| b.cell_on_image.as_ref().expect("late has cell flags").reshape([nx, ny]);
    assert_eq!(floats(&on(&plain).flip([1])), floats(&on(&mirrored)));
    assert!(floats(&on(&plain)).contains(&1.0) && floats(&on(&plain)).contains(&0.0));
}

#[test]
fn every_stage_has_the_documented_shape_in_every_mode() {
    let samples = handful();
    let configs = FusionMode::ALL.map(ModelConfig::tiny).into_iter().chain([tiny_crops()]);
    for cfg in configs {
        let mode = cfg.label();
        let batch = Batch::new(&cfg, &inputs(&samples[..2]), Device::Cpu);
        let p = batch.num_points();
        assert!(p > 1000, "{mode}: {p} points on the grid");
        let painted = if cfg.mode == FusionMode::Early { 3 } else { 0 };
        assert_eq!(batch.point_features.size(), [p, 7 + painted], "{mode}");
        assert_eq!(batch.point_on_image.size(), [p, 1]);
        assert_eq!(batch.images.as_ref().map(|t| t.size()), cfg.mode.needs_images().then(|| vec![2, 3, 32, 64]));
        assert_eq!(batch.image_labels.as_ref().map(|t| t.size()), cfg.has_pixel_net().then(|| vec![2, 16, 32]));
        assert_eq!(batch.cell_rect.as_ref().map(|t| t.size()), cfg.has_crop_net().then(|| vec![2 * 32 * 32, 4]));
        let det = Detector::new(&cfg, Device::Cpu).expect("tiny config is valid");
        let out = det.forward(&inputs(&samples[..2]));
        assert_eq!(out.heatmap_logits.size(), [2, 3, 32, 32], "{mode}");
        assert_eq!(out.regression.size(), [2, 8, 32, 32], "{mode}");
    }
}

#[test]
fn painting_puts_the_pixel_colour_on_a_point_that_projects_there() {
    let mut s = frame(vec![]);
    let view = s.cameras.first_mut().expect("frame has a camera");
    let (u, v) = (40u32, 20u32);
    let o = ((v * view.width + u) * 3) as usize;
    view.rgb[o..o + 3].copy_from_slice(&[11, 222, 133]);
    // The ray through the centre of pixel (40, 20), 10 m deep, in base_link.
    let k = &view.camera.k;
    let in_camera = Point3::new((40.5 - k[(0, 2)]) / k[(0, 0)] * 10.0, (20.5 - k[(1, 2)]) / k[(1, 1)] * 10.0, 10.0);
    let p = view.camera_from_base_link.inverse() * in_camera;
    assert_eq!(view.pixel_of(&p), Some((u, v)));
    let behind = [-3.0f32, 0.0, 1.0, 0.5];
    s.points = vec![[p.x as f32, p.y as f32, p.z as f32, 0.5], [2.0, 7.9, 0.5, 0.5], behind];
    let cfg = ModelConfig::tiny(FusionMode::Early);
    let batch = Batch::new(&cfg, &[FrameInput { points: &s.points, cameras: &s.cameras }], Device::Cpu);
    // The point behind the ego is off the grid; the one at the far left edge is off the image.
    assert_eq!(batch.num_points(), 2);
    let f = Vec::<f32>::try_from(batch.point_features.get(0).narrow(0, 7, 3)).expect("3 floats");
    let expect = [11.0 / 255.0, 222.0 / 255.0, 133.0 / 255.0];
    assert!(f.iter().zip(expect).all(|(a, b)| (a - b).abs() < 1e-6), "painted {f:?}");
    let on = Vec::<f32>::try_from(batch.point_on_image.flatten(0, -1)).expect("flags");
    assert_eq!(on, [1.0, 0.0]);
    let off = Vec::<f32>::try_from(batch.point_features.get(1).narrow(0, 7, 3)).expect("3 floats");
    assert_eq!(off, [0.0; 3]);
}

#[test]
fn heatmap_target_peaks_at_box_centres_and_nowhere_else() {
    let cfg = ModelConfig::tiny(FusionMode::Lidar);
    let s = &handful()[1];
    let t = frame_targets(&cfg, &s.boxes);
    let (nx, ny) = (cfg.nx(), cfg.ny());
    let plane = (nx * ny) as usize;
    assert_eq!(t.heatmap.len(), 3 * plane);
    assert_eq!(t.heatmap.iter().filter(|v| **v == 1.0).count(), s.boxes.len());
    for b in &s.boxes {
        let ch = CLASSES.iter().position(|c| *c == b.class).expect("scored class");
        let (ix, iy) = cfg.cell_of(b.bbox.center.x as f32, b.bbox.center.y as f32).expect("on grid");
        assert_eq!(t.heatmap[ch * plane + (ix * ny + iy) as usize], 1.0, "{:?} at {ix},{iy}", b.class);
        let around = t.heatmap[ch * plane + ((ix + 1) * ny + iy) as usize];
        assert!(around > 0.0 && around < 1.0, "Gaussian falls off: {around}");
    }
    assert_eq!(t.regression.len(), s.boxes.len());
}

#[test]
fn a_box_with_too_few_lidar_points_or_off_the_grid_is_no_target() {
    let cfg = ModelConfig::tiny(FusionMode::Lidar);
    let mut hidden = gt(ObjectClass::Car, 8.0, 0.0, 0.0);
    hidden.lidar_points = 2;
    let outside = gt(ObjectClass::Car, 30.0, 0.0, 0.0);
    let t = frame_targets(&cfg, &[hidden, outside]);
    assert!(t.regression.is_empty());
    assert!(t.heatmap.iter().all(|v| *v == 0.0));
}

#[test]
fn decoding_a_perfect_target_map_recovers_the_boxes() {
    let cfg = ModelConfig::tiny(FusionMode::Lidar);
    for s in handful() {
        let t = frame_targets(&cfg, &s.boxes);
        let boxes = decode(&cfg, &t.heatmap, &regression_map(&cfg, &t), 0.5, 100);
        assert_eq!(boxes.len(), s.boxes.len());
        for g in &s.boxes {
            let d = boxes
                .iter()
                .find(|d| d.class == g.class && (d.bbox.center - g.bbox.center).norm() < 1e-3)
                .unwrap_or_else(|| panic!("{:?} at {} not recovered from {boxes:?}", g.class, g.bbox.center));
            assert!((d.bbox.size - g.bbox.size).norm() < 1e-4);
            assert!(fusor_detect::sample::wrap_angle(d.bbox.yaw_rad - g.bbox.yaw_rad).abs() < 1e-5);
            assert_eq!(d.score, 1.0);
            assert_eq!(d.bbox.frame_id.0, "base_link");
        }
    }
}

/// Training on a handful of frames as one batch, camera always on, no augmentation: the
/// overfitting tests ask for the training frames themselves.
fn overfit_config(frames: usize) -> TrainConfig {
    TrainConfig {
        batch_size: frames,
        learning_rate: 3e-3,
        camera_dropout: 0.0,
        augment: AugmentConfig::NONE,
        ..Default::default()
    }
}

#[allow(clippy::expect_used)] // a test helper: a tiny config that fails is a failed test
fn train_tiny(mode: FusionMode, samples: &[fusor_detect::Sample], steps: usize) -> (Trainer, f64, f64) {
    let mut trainer =
        Trainer::new(&ModelConfig::tiny(mode), overfit_config(samples.len()), Device::Cpu).expect("tiny config");
    let refs: Vec<&fusor_detect::Sample> = samples.iter().collect();
    let first = trainer.step(&refs).total;
    let mut last = first;
    for _ in 1..steps {
        last = trainer.step(&refs).total;
    }
    (trainer, first, last)
}

#[test]
fn a_tiny_fused_model_overfits_a_handful_of_frames() {
    let samples = handful();
    // 500 steps, not fewer: at 250 the last car box is still converging (BEV IoU 0.41 on one
    // CPU, above the 0.7 threshold on others, so the test passed or failed by machine); at
    // 500–600 steps every car box measured 0.80–0.97, a margin float rounding does not cross.
    let (trainer, first, last) = train_tiny(FusionMode::Intermediate, &samples, 500);
    assert!(first / last >= 5.0, "loss {first:.3} → {last:.3}");
    let det = trainer.detector();
    let frames: Vec<_> = samples.iter().map(|s| frame_eval(det.config(), s, det.detect_sample(s, true))).collect();
    let report = fusor_eval::evaluate_detections(&frames, &fusor_eval::DetectionConfig::default()).expect("report");
    for class in [ObjectClass::Car, ObjectClass::Pedestrian] {
        let ap = bev_ap(&report, class).expect("scored");
        assert!(ap > 0.9, "{class:?} BEV AP {ap:.3} on its own training frames\n{}", report.to_markdown());
    }
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let samples = &handful()[..2];
    let (_, a0, a1) = train_tiny(FusionMode::Early, samples, 3);
    let (_, b0, b1) = train_tiny(FusionMode::Early, samples, 3);
    assert_eq!((a0, a1), (b0, b1));
}

#[test]
fn lidar_thinning_changes_the_input_deterministically_and_only_when_asked() {
    let samples = handful();
    let refs: Vec<&fusor_detect::Sample> = samples.iter().collect();
    let first_loss = |thinning: f64| {
        let train = TrainConfig {
            batch_size: refs.len(),
            camera_dropout: 0.0,
            lidar_thinning: thinning,
            augment: AugmentConfig::NONE,
            ..Default::default()
        };
        let mut t = Trainer::new(&ModelConfig::tiny(FusionMode::Intermediate), train, Device::Cpu).expect("tiny");
        (t.step(&refs).total, t.step(&refs).total)
    };
    let plain = first_loss(0.0);
    let thinned = first_loss(1.0);
    assert!(thinned.0.is_finite() && thinned.1.is_finite());
    assert_ne!(plain.0, thinned.0, "every frame thinned: the network saw other points");
    assert_eq!(thinned, first_loss(1.0), "thinning is seeded");
    assert_eq!(plain, first_loss(0.0));
}

#[test]
fn save_then_load_gives_identical_outputs_and_mismatches_are_named() {
    let samples = handful();
    let (trainer, _, _) = train_tiny(FusionMode::Late, &samples[..2], 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("late.safetensors");
    trainer.detector().save(&path).expect("save");
    let loaded = Detector::load_mode(&path, FusionMode::Late, Device::Cpu).expect("load");
    let a = trainer.detector().forward(&inputs(&samples));
    let b = loaded.forward(&inputs(&samples));
    assert_eq!(a.heatmap_logits, b.heatmap_logits);
    assert_eq!(a.regression, b.regression);

    let err = Detector::load_mode(&path, FusionMode::Intermediate, Device::Cpu).expect_err("wrong mode").to_string();
    assert!(err.contains("late.safetensors") && err.contains("`late` model"), "{err}");
    let err = Detector::load(&dir.path().join("missing.safetensors"), Device::Cpu).expect_err("missing").to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
    // A file with one tensor of the wrong shape.
    let mut named = tch::Tensor::read_safetensors(&path).expect("read");
    for (name, t) in named.iter_mut() {
        if name == "head.regression.weight" {
            *t = tch::Tensor::zeros([3, 3], (tch::Kind::Float, Device::Cpu));
        }
    }
    let bad = dir.path().join("bad.safetensors");
    tch::Tensor::write_safetensors(&named, &bad).expect("write");
    let err = Detector::load(&bad, Device::Cpu).expect_err("bad shape").to_string();
    assert!(err.contains("bad.safetensors") && err.contains("head.regression.weight"), "{err}");
}

/// A tiny lidar model trained 3 steps on two of `samples`, saved as `lidar.safetensors` in a new
/// temporary folder (returned, with the path), and its outputs on all of `samples`.
#[allow(clippy::expect_used)] // a test helper: a failure here is a failed test
fn saved_tiny_lidar(
    samples: &[fusor_detect::Sample],
) -> (tempfile::TempDir, std::path::PathBuf, fusor_detect::model::Output) {
    let (lidar, _, _) = train_tiny(FusionMode::Lidar, &samples[..2], 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lidar.safetensors");
    lidar.detector().save(&path).expect("save");
    let reference = lidar.detector().forward(&inputs(samples));
    (dir, path, reference)
}

#[test]
fn a_fused_model_warm_started_from_lidar_computes_the_lidar_model_until_it_trains() {
    let samples = handful();
    let (_dir, path, reference) = saved_tiny_lidar(&samples);

    for mode in [FusionMode::Early, FusionMode::Intermediate, FusionMode::Late] {
        let train =
            TrainConfig { batch_size: 2, camera_dropout: 0.0, augment: AugmentConfig::NONE, ..Default::default() };
        let mut trainer = Trainer::new(&ModelConfig::tiny(mode), train, Device::Cpu).expect("tiny config");
        let before = trainer.detector().forward(&inputs(&samples));
        assert_ne!(before.heatmap_logits, reference.heatmap_logits, "{mode}: a fresh model is not the lidar one");
        let report = trainer.detector().warm_start(&path).expect("warm start");
        assert_eq!(report.source_mode, Some(FusionMode::Lidar));
        // Camera in: the paint has zero weight and late's crop corrections start at zero, so the
        // outputs are the lidar model's, to float precision.
        let out = trainer.detector().forward(&inputs(&samples));
        let close = |a: &tch::Tensor, b: &tch::Tensor| (a - b).abs().max().double_value(&[]);
        assert!(close(&out.heatmap_logits, &reference.heatmap_logits) < 1e-4, "{mode}");
        assert!(close(&out.regression, &reference.regression) < 1e-4, "{mode}");
        let widened: Vec<&str> = report.widened.iter().map(String::as_str).collect();
        match mode {
            FusionMode::Late => assert!(
                widened.is_empty() && !report.fresh.is_empty() && report.fresh.iter().all(|n| n.starts_with("crop.")),
                "{report:?}"
            ),
            _ => assert_eq!(widened, ["pillar.l1.weight"], "{report:?}"),
        }
        if mode == FusionMode::Intermediate {
            assert!(report.fresh.iter().all(|n| n.starts_with("image")) && !report.fresh.is_empty(), "{report:?}");
        }

        // Late fusion on a frozen lidar detector: only the camera branch moves.
        if mode == FusionMode::Late {
            assert_eq!(trainer.freeze(&report.copied), report.copied.len());
            let vars = trainer.detector().var_store().variables();
            let snapshot: Vec<(String, tch::Tensor)> = vars.iter().map(|(n, t)| (n.clone(), t.copy())).collect();
            let refs: Vec<&fusor_detect::Sample> = samples.iter().collect();
            for _ in 0..3 {
                trainer.step(&refs);
            }
            let vars = trainer.detector().var_store().variables();
            for (name, old) in snapshot.iter().filter(|(n, _)| n != "meta") {
                let moved = vars[name] != *old;
                assert_eq!(moved, !report.copied.contains(name), "{name}");
            }
        }
    }

    // Another grid cannot warm-start.
    let mut other = ModelConfig::tiny(FusionMode::Intermediate);
    other.cell_m = 1.0;
    let det = Detector::new(&other, Device::Cpu).expect("valid");
    let err = det.warm_start(&path).expect_err("other grid").to_string();
    assert!(err.contains("lidar.safetensors") && err.contains("grid"), "{err}");
}

fn tiny_crops() -> ModelConfig {
    ModelConfig { image_branch: ImageBranch::Crops, ..ModelConfig::tiny(FusionMode::Intermediate) }
}

#[test]
fn intermediate_with_crops_starts_as_lidar_fuses_only_near_its_crops_and_without_a_camera_is_its_lidar_path() {
    let samples = handful();
    let (dir, path, reference) = saved_tiny_lidar(&samples);
    let mut trainer = Trainer::new(&tiny_crops(), overfit_config(samples.len()), Device::Cpu).expect("tiny config");
    let report = trainer.detector().warm_start(&path).expect("warm start");
    // Every lidar tensor is copied whole (no painted point inputs); the crop net and the fusion
    // layers are new.
    assert!(report.widened.is_empty(), "{report:?}");
    assert!(report.fresh.iter().any(|n| n.starts_with("crop.")), "{report:?}");
    assert!(report.fresh.iter().all(|n| n.starts_with("crop.") || n.starts_with("fusion.")), "{report:?}");
    let close = |a: &tch::Tensor, b: &tch::Tensor| (a - b).abs().max().double_value(&[]);
    let out = trainer.detector().forward(&inputs(&samples));
    assert!(close(&out.heatmap_logits, &reference.heatmap_logits) < 1e-5);
    assert!(close(&out.regression, &reference.regression) < 1e-5);

    let refs: Vec<&fusor_detect::Sample> = samples.iter().collect();
    for _ in 0..20 {
        trainer.step(&refs);
    }
    let det = trainer.detector();
    let with = det.forward(&inputs(&samples));
    let blind: Vec<FrameInput<'_>> = samples.iter().map(|s| FrameInput { points: &s.points, cameras: &[] }).collect();
    let without = det.forward(&blind);
    // Without a camera it is exactly its own lidar path: a lidar model made of its tensors.
    let path = dir.path().join("crops.safetensors");
    det.save(&path).expect("save");
    let loaded = Detector::load(&path, Device::Cpu).expect("load");
    assert_eq!(loaded.config().image_branch, ImageBranch::Crops);
    assert_eq!(loaded.config().label(), "intermediate-crops");
    let own_lidar = Detector::new(&ModelConfig::tiny(FusionMode::Lidar), Device::Cpu).expect("tiny");
    let report = own_lidar.warm_start(&path).expect("warm start");
    assert!(report.fresh.is_empty() && report.widened.is_empty(), "{report:?}");
    let lidar_path = own_lidar.forward(&inputs(&samples));
    assert!(close(&without.heatmap_logits, &lidar_path.heatmap_logits) < 1e-5);
    assert!(close(&without.regression, &lidar_path.regression) < 1e-5);
    // With the camera the outputs move, and only at a candidate cell on the image or beside one.
    let cells = with.crop_cells.as_ref().expect("crop cells");
    let moved = (&with.heatmap_logits - &without.heatmap_logits).abs().amax([1], false).gt(1e-6);
    let moved = Vec::<bool>::try_from(moved.flatten(0, -1)).expect("flags");
    assert!(moved.iter().any(|m| *m), "the trained fusion changes the heatmap");
    let (nx, ny) = (tiny_crops().nx(), tiny_crops().ny());
    let index = Vec::<i64>::try_from(cells.index.flatten(0, -1)).expect("cells");
    let on = Vec::<f32>::try_from(cells.on_image.flatten(0, -1)).expect("flags");
    let k = cells.index.size()[1] as usize;
    for (at, _) in moved.iter().enumerate().filter(|(_, m)| **m) {
        let (b, cell) = (at / (nx * ny) as usize, at as i64 % (nx * ny));
        let near = (0..k).any(|j| {
            let c = index[b * k + j];
            on[b * k + j] == 1.0 && (c / ny - cell / ny).abs() <= 1 && (c % ny - cell % ny).abs() <= 1
        });
        assert!(near, "frame {b} cell {cell} moved away from every crop");
    }
}

#[test]
fn a_blank_or_unusable_camera_degrades_to_lidar_and_is_counted() {
    let samples = handful();
    let det = Detector::new(&ModelConfig::tiny(FusionMode::Intermediate), Device::Cpu).expect("valid");
    let no_camera = det.detect_sample(&samples[0], false);
    assert!(no_camera.len() <= 100);
    let mut cloud = PointCloud::with_capacity(Stamp::default(), "base_link", 0);
    for p in &samples[0].points {
        cloud.push(p[0], p[1], p[2], p[3]);
    }
    let (model, camera_from_base_link) = common::camera();
    let wrong =
        fusor_core::Image::new(Stamp::default(), "camera", 10, 10, fusor_core::PixelFormat::Rgb8, 30, vec![0; 300])
            .expect("valid image");
    let dets = det.detect(&cloud, &[(&wrong, &model, &camera_from_base_link)]).expect("runs without camera");
    assert_eq!(det.rejected_images(), 1);
    assert!(dets.iter().all(|d| d.bbox.frame_id.0 == "base_link"));

    // A cached sample whose view was made at another size than the model reads is not used
    // silently: the frame runs on lidar alone and the rejection is counted.
    let mut larger = ModelConfig::tiny(FusionMode::Late);
    larger.image_size = [96, 48];
    let det = Detector::new(&larger, Device::Cpu).expect("valid");
    let view = samples[0].cameras.first().expect("the sample has a camera");
    assert_ne!([view.width, view.height], larger.image_size);
    let lidar_only = det.detect_sample(&samples[0], false);
    assert_eq!(det.rejected_images(), 0, "no camera asked for, none rejected");
    let mismatched = det.detect_sample(&samples[0], true);
    assert_eq!(det.rejected_images(), 1);
    assert_eq!(format!("{mismatched:?}"), format!("{lidar_only:?}"));
}

#[test]
fn empty_and_nan_clouds_give_no_crash_and_wrong_frames_an_error() {
    let det = Detector::new(&ModelConfig::tiny(FusionMode::Lidar), Device::Cpu).expect("valid");
    let mut cloud = PointCloud::with_capacity(Stamp::default(), "base_link", 0);
    assert!(det.detect(&cloud, &[]).is_ok());
    cloud.push(f32::NAN, 1.0, 0.0, 0.0);
    cloud.push(5.0, f32::INFINITY, 0.0, 0.0);
    assert!(det.detect(&cloud, &[]).is_ok());
    cloud.frame_id = "lidar".into();
    let err = det.detect(&cloud, &[]).expect_err("wrong frame").to_string();
    assert!(err.contains("lidar"), "{err}");
}

#[test]
fn a_cached_sample_reads_back_equal() {
    let s = &handful()[1];
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.safetensors");
    save_sample(s, &path).expect("save");
    let back = load_sample(&path).expect("load");
    assert_eq!(back.points, s.points);
    assert_eq!(back.cameras.len(), s.cameras.len());
    for (a, b) in back.cameras.iter().zip(&s.cameras) {
        assert_eq!((&a.rgb, &a.labels, &a.camera.k), (&b.rgb, &b.labels, &b.camera.k));
        assert!((a.camera_from_base_link.to_homogeneous() - b.camera_from_base_link.to_homogeneous()).norm() < 1e-9);
    }
    assert_eq!(back.boxes, s.boxes);
    // Three views (a surround rig's) read back in order; a damaged second view is an error that
    // names its tensor, not a sample that silently lost a camera.
    let mut rig = s.clone();
    let front = rig.cameras[0].clone();
    rig.cameras =
        vec![front.clone(), CameraView { rgb: front.rgb.iter().map(|v| 255 - v).collect(), ..front.clone() }, front];
    save_sample(&rig, &path).expect("save three views");
    let back = load_sample(&path).expect("load three views");
    assert_eq!(back.cameras.len(), 3);
    assert_eq!(back.cameras[1].rgb, rig.cameras[1].rgb);
    let mut named = tch::Tensor::read_safetensors(&path).expect("read");
    for (name, t) in &mut named {
        if name == "rgb1" {
            *t = t.narrow(2, 0, 2).contiguous();
        }
    }
    tch::Tensor::write_safetensors(&named, &path).expect("write");
    let err = load_sample(&path).expect_err("a view of the wrong shape").to_string();
    assert!(err.contains("rgb1"), "{err}");
}

#[test]
fn pixel_labels_reach_the_batch_at_feature_resolution_and_only_with_a_camera() {
    let samples = handful();
    let s = &samples[1];
    let cam = s.cameras.first().expect("hand-made frames have a camera");
    assert!(cam.labels.contains(&1) && cam.labels.contains(&2), "a car and pedestrians are painted");
    let cfg = ModelConfig::tiny(FusionMode::Intermediate);
    let frames = [
        FrameInput { points: &s.points, cameras: std::slice::from_ref(cam) },
        FrameInput { points: &s.points, cameras: &[] },
    ];
    let batch = Batch::new(&cfg, &frames, Device::Cpu);
    let labels = batch.image_labels.as_ref().expect("intermediate has an image net");
    let [fw, fh] = cfg.image_feature_size();
    assert_eq!(labels.size(), [2, i64::from(fh), i64::from(fw)]);
    let flat = Vec::<i64>::try_from(labels.flatten(0, -1)).expect("int64 labels");
    let (with, without) = flat.split_at(flat.len() / 2);
    assert!(without.iter().all(|&l| l == fusor_detect::features::IGNORE_LABEL), "no camera, no labels");
    // Each 2 × 2 block takes its highest class, so no labelled class is lost by the halving.
    for class in 1..=2 {
        let full = cam.labels.iter().filter(|&&l| l == class as u8).count();
        let half = with.iter().filter(|&&l| l == class).count();
        assert!(half > 0 && half * 4 >= full, "class {class}: {full} pixels → {half} at half size");
    }
    assert!(with.iter().all(|&l| (0..=3).contains(&l)));
    // The lidar model has no image net and no labels.
    assert!(Batch::new(&ModelConfig::tiny(FusionMode::Lidar), &frames, Device::Cpu).image_labels.is_none());
}

/// `samples` as a real camera would give them: no pixel labels.
fn without_pixel_labels(samples: &[fusor_detect::Sample]) -> Vec<fusor_detect::Sample> {
    samples
        .iter()
        .cloned()
        .map(|mut s| {
            for c in &mut s.cameras {
                c.labels.clear();
            }
            s
        })
        .collect()
}

#[test]
fn the_image_net_learns_pixel_classes_and_a_batch_without_labels_adds_no_segmentation_loss() {
    let samples = handful();
    let refs: Vec<&fusor_detect::Sample> = samples.iter().collect();
    let config = |segmentation_weight: f64| TrainConfig {
        batch_size: samples.len(),
        learning_rate: 3e-3,
        camera_dropout: 0.0,
        segmentation_weight,
        augment: AugmentConfig::NONE,
        ..Default::default()
    };
    let mode = FusionMode::Intermediate;
    let mut trainer = Trainer::new(&ModelConfig::tiny(mode), config(0.5), Device::Cpu).expect("tiny config");
    let first = trainer.step(&refs).segmentation;
    let mut last = first;
    for _ in 0..80 {
        last = trainer.step(&refs).segmentation;
    }
    assert!(first > 0.5 && last < 0.5 * first, "{mode}: segmentation loss {first:.3} → {last:.3}");
    // Frames without pixel labels (real cameras) train on detection alone.
    let unlabelled = without_pixel_labels(&samples);
    let l = trainer.step(&unlabelled.iter().collect::<Vec<_>>());
    assert_eq!(l.segmentation, 0.0, "{mode}");
    assert!(l.total.is_finite() && l.total > 0.0, "{mode}");
    // Late fusion has no dense image net, so no pixel-class term even on labelled frames.
    let mut late = Trainer::new(&ModelConfig::tiny(FusionMode::Late), config(0.5), Device::Cpu).expect("tiny config");
    assert_eq!(late.step(&refs).segmentation, 0.0);
    // Weight 0: the term is neither computed nor added.
    let mut trainer =
        Trainer::new(&ModelConfig::tiny(FusionMode::Intermediate), config(0.0), Device::Cpu).expect("tiny config");
    assert_eq!(trainer.step(&refs).segmentation, 0.0);
}

#[test]
fn pretraining_the_image_net_learns_pixel_classes_and_leaves_the_lidar_path_alone() {
    let samples = handful();
    let train = TrainConfig { batch_size: samples.len(), learning_rate: 3e-3, ..Default::default() };
    let mut trainer =
        Trainer::new(&ModelConfig::tiny(FusionMode::Intermediate), train.clone(), Device::Cpu).expect("tiny config");
    let snapshot = |t: &Trainer| -> Vec<(String, tch::Tensor)> {
        let mut vars: Vec<_> = t.detector().var_store().variables().into_iter().map(|(k, v)| (k, v.copy())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    };
    let before = snapshot(&trainer);
    let iou_before = fusor_detect::train::pixel_iou(trainer.detector(), &samples);
    let refs: Vec<&fusor_detect::Sample> = samples.iter().collect();
    let first = trainer.image_step(&refs).expect("labelled frames");
    let mut last = first;
    for _ in 0..150 {
        last = trainer.image_step(&refs).expect("labelled frames");
    }
    assert!(last < 0.3 * first, "segmentation loss {first:.3} → {last:.3}");
    let iou = fusor_detect::train::pixel_iou(trainer.detector(), &samples);
    for (k, class) in CLASSES.iter().enumerate().take(2) {
        let (a, b) = (iou_before[k].unwrap_or(0.0), iou[k].expect("class in the labels"));
        assert!(b > 0.5 && b > a, "{class:?}: pixel IoU {a:.3} → {b:.3}");
    }
    // Only the image net moved.
    for ((name, a), (_, b)) in before.iter().zip(&snapshot(&trainer)) {
        let moved = (a - b).abs().max().double_value(&[]) > 0.0;
        assert_eq!(moved, name.starts_with("image."), "{name}");
    }
    // No image net, or no labelled camera: nothing to learn from.
    let mut lidar = Trainer::new(&ModelConfig::tiny(FusionMode::Lidar), train, Device::Cpu).expect("tiny config");
    assert_eq!(lidar.image_step(&refs), None);
    assert_eq!(fusor_detect::train::pixel_iou(lidar.detector(), &samples), [None; 3]);
    let unlabelled = without_pixel_labels(&samples);
    assert_eq!(trainer.image_step(&unlabelled.iter().collect::<Vec<_>>()), None);
}
