//! CenterPoint targets (Gaussian class heatmaps, regression at box centres) and decoding of the
//! network's maps back into boxes in `base_link`.

use crate::config::{ModelConfig, CLASSES, REG_CHANNELS};
use crate::sample::{GtBox, MIN_LIDAR_POINTS};
use fusor_core::{Box3, ObjectClass};
use nalgebra::{Point3, Vector3};

/// Targets of one frame, as plain arrays (`[class][ix][iy]` row-major heatmap).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameTargets {
    /// Heatmap, `CLASSES.len() * nx * ny`, 1.0 exactly at each box's centre cell.
    pub heatmap: Vec<f32>,
    /// Regression targets: `(ix * ny + iy, [dx, dy, z, ln l, ln w, ln h, sin yaw, cos yaw])`.
    pub regression: Vec<(i64, [f32; REG_CHANNELS])>,
}

/// Channel of `class` in the heatmap, `None` for classes the network does not predict.
pub fn class_channel(class: ObjectClass) -> Option<usize> {
    CLASSES.iter().position(|c| *c == class)
}

/// Gaussian radius in cells for a box footprint (CenterPoint-like: grows with the smaller side,
/// at least one cell).
fn radius_cells(cfg: &ModelConfig, size: &Vector3<f64>) -> i64 {
    ((0.35 * (size.x * size.y).max(0.0).sqrt() / f64::from(cfg.cell_m)).round() as i64).max(1)
}

/// True when a ground-truth box is a training target: a predicted class, centre on the grid,
/// enough lidar points.
pub fn is_target(cfg: &ModelConfig, b: &GtBox) -> bool {
    class_channel(b.class).is_some()
        && b.lidar_points >= MIN_LIDAR_POINTS
        && cfg.cell_of(b.bbox.center.x as f32, b.bbox.center.y as f32).is_some()
}

/// Builds the heatmap and regression targets of `boxes` (in `base_link`).
pub fn frame_targets(cfg: &ModelConfig, boxes: &[GtBox]) -> FrameTargets {
    let (nx, ny) = (cfg.nx(), cfg.ny());
    let mut heatmap = vec![0f32; CLASSES.len() * (nx * ny) as usize];
    let mut regression = Vec::new();
    for b in boxes.iter().filter(|b| is_target(cfg, b)) {
        let (Some(ch), Some((ix, iy))) =
            (class_channel(b.class), cfg.cell_of(b.bbox.center.x as f32, b.bbox.center.y as f32))
        else {
            continue;
        };
        let r = radius_cells(cfg, &b.bbox.size);
        let sigma = (2 * r + 1) as f32 / 6.0;
        for dx in -r..=r {
            for dy in -r..=r {
                let (jx, jy) = (ix + dx, iy + dy);
                if jx < 0 || jy < 0 || jx >= nx || jy >= ny {
                    continue;
                }
                let g = (-((dx * dx + dy * dy) as f32) / (2.0 * sigma * sigma)).exp();
                let k = ch * (nx * ny) as usize + (jx * ny + jy) as usize;
                heatmap[k] = heatmap[k].max(g);
            }
        }
        let fx = (b.bbox.center.x as f32 - cfg.x_range_m[0]) / cfg.cell_m - ix as f32;
        let fy = (b.bbox.center.y as f32 - cfg.y_range_m[0]) / cfg.cell_m - iy as f32;
        let s = b.bbox.size.map(|v| v.max(0.05).ln() as f32);
        let (sin, cos) = (b.bbox.yaw_rad as f32).sin_cos();
        regression.push((ix * ny + iy, [fx, fy, b.bbox.center.z as f32, s.x, s.y, s.z, sin, cos]));
    }
    FrameTargets { heatmap, regression }
}

/// A decoded box: class, score in [0, 1], box in `base_link`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedBox {
    /// Class.
    pub class: ObjectClass,
    /// Heatmap peak value (probability-like score).
    pub score: f32,
    /// Box in `base_link`.
    pub bbox: Box3,
}

/// Decodes one frame's maps: `heatmap` (scores in [0, 1], `[class][ix][iy]`) and `regression`
/// (`[channel][ix][iy]`). A cell is a detection when its score is ≥ `threshold` and the maximum
/// of its 3 × 3 neighbourhood in its class channel (max-pool NMS); at most `max_detections`, best
/// first.
pub fn decode(
    cfg: &ModelConfig,
    heatmap: &[f32],
    regression: &[f32],
    threshold: f32,
    max_detections: usize,
) -> Vec<DecodedBox> {
    let (nx, ny) = (cfg.nx(), cfg.ny());
    let plane = (nx * ny) as usize;
    if heatmap.len() < CLASSES.len() * plane || regression.len() < REG_CHANNELS * plane {
        return Vec::new();
    }
    let mut peaks: Vec<(f32, usize, i64, i64)> = Vec::new();
    for (ch, _) in CLASSES.iter().enumerate() {
        let hm = &heatmap[ch * plane..(ch + 1) * plane];
        for ix in 0..nx {
            for iy in 0..ny {
                let s = hm[(ix * ny + iy) as usize];
                if s.is_nan() || s < threshold {
                    continue;
                }
                let is_max = (-1..=1).all(|dx| {
                    (-1..=1).all(|dy| {
                        let (jx, jy) = (ix + dx, iy + dy);
                        jx < 0 || jy < 0 || jx >= nx || jy >= ny || hm[(jx * ny + jy) as usize] <= s
                    })
                });
                if is_max {
                    peaks.push((s, ch, ix, iy));
                }
            }
        }
    }
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0));
    peaks.truncate(max_detections);
    peaks
        .into_iter()
        .map(|(score, ch, ix, iy)| {
            let r = |c: usize| regression[c * plane + (ix * ny + iy) as usize];
            let x = cfg.x_range_m[0] + (ix as f32 + r(0)) * cfg.cell_m;
            let y = cfg.y_range_m[0] + (iy as f32 + r(1)) * cfg.cell_m;
            let size = Vector3::new(r(3), r(4), r(5)).map(|v| f64::from(v.clamp(-3.0, 3.0).exp()));
            DecodedBox {
                class: CLASSES[ch],
                score,
                bbox: Box3 {
                    frame_id: "base_link".into(),
                    center: Point3::new(f64::from(x), f64::from(y), f64::from(r(2))),
                    size,
                    yaw_rad: f64::from(r(6).atan2(r(7))),
                },
            }
        })
        .collect()
}

/// The regression map of perfect predictions for `targets` (zeros elsewhere), `[channel][ix][iy]`;
/// used to check that decoding inverts target encoding.
pub fn regression_map(cfg: &ModelConfig, targets: &FrameTargets) -> Vec<f32> {
    let plane = (cfg.nx() * cfg.ny()) as usize;
    let mut map = vec![0f32; REG_CHANNELS * plane];
    for (cell, t) in &targets.regression {
        for (c, v) in t.iter().enumerate() {
            map[c * plane + *cell as usize] = *v;
        }
    }
    map
}
