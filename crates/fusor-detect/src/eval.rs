//! Scoring a detector on samples with fusor-eval (BEV/3D AP R40 per class).

use crate::config::ModelConfig;
use crate::detector::{to_detections, Detector};
use crate::sample::{Sample, MIN_LIDAR_POINTS};
use crate::target::{class_channel, DecodedBox};
use crate::{DetectError, Result};
use fusor_core::{ObjectClass, Stamp};
use fusor_eval::{evaluate_detections, BoxMetric, DetectionConfig, DetectionReport, FrameEval, GroundTruthBox};

/// The evaluation frame of a sample and its detections: ground truth whose centre lies on the grid,
/// objects with fewer than [`MIN_LIDAR_POINTS`] lidar points marked ignored.
pub fn frame_eval(cfg: &ModelConfig, sample: &Sample, dets: Vec<DecodedBox>) -> FrameEval {
    let gt = sample
        .boxes
        .iter()
        .filter(|b| class_channel(b.class).is_some())
        .filter(|b| cfg.cell_of(b.bbox.center.x as f32, b.bbox.center.y as f32).is_some())
        .map(|b| GroundTruthBox {
            ignore: b.lidar_points < MIN_LIDAR_POINTS,
            ..GroundTruthBox::new(b.bbox.clone(), b.class)
        })
        .collect();
    FrameEval { gt, dets: to_detections(dets, Stamp::default()), dont_care: Vec::new() }
}

/// Runs `detector` on every sample (camera on or off): one evaluation frame per sample.
pub fn detect_frames(detector: &Detector, samples: &[Sample], use_camera: bool) -> Vec<FrameEval> {
    samples.iter().map(|s| frame_eval(detector.config(), s, detector.detect_sample(s, use_camera))).collect()
}

/// Runs `detector` on every sample (camera on or off) and scores it.
pub fn evaluate(detector: &Detector, samples: &[Sample], use_camera: bool) -> Result<DetectionReport> {
    score(&detect_frames(detector, samples, use_camera))
}

/// Scores evaluation frames (KITTI thresholds).
pub fn score(frames: &[FrameEval]) -> Result<DetectionReport> {
    evaluate_detections(frames, &DetectionConfig::default()).map_err(|e| DetectError::Data(format!("evaluation: {e}")))
}

/// BEV AP R40 (level-free) of `class` in `report`, `None` when the class has no scored objects.
pub fn bev_ap(report: &DetectionReport, class: ObjectClass) -> Option<f64> {
    report.class(class).and_then(|c| c.kitti_ap(BoxMetric::Bev, None))
}
