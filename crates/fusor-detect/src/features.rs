//! Network inputs: per-point features (geometry + painting), pillar indices, image tensors.

use crate::augment::Augment;
use crate::config::{FusionMode, ModelConfig, GEOMETRIC_FEATURES};
use crate::sample::CameraView;
use fusor_core::calib::CameraModel;
use nalgebra::{Isometry3, Point3};
use std::sync::{Arc, Mutex};
use tch::{Device, Kind, Tensor};

/// Late fusion: half-width (m) of the upright column, centred on a BEV cell, whose image
/// rectangle is the cell's crop: a pedestrian or a cyclist seen from any side fits in it.
pub const LATE_COLUMN_HALF_WIDTH_M: f64 = 0.5;

/// Late fusion: the column's height band (m, `base_link`): ground to above a tall pedestrian.
pub const LATE_COLUMN_Z_M: [f64; 2] = [0.0, 2.1];

/// Late fusion: height at which a cell's column must meet the image for its crop to count.
pub const LATE_FUSION_HEIGHT_M: f64 = 0.9;

/// Pixel label that the segmentation loss skips (PyTorch's `ignore_index` default).
pub const IGNORE_LABEL: i64 = -100;

/// One frame's inputs before batching: the lidar points and, when the camera is used, its view.
#[derive(Debug, Clone, Copy)]
pub struct FrameInput<'a> {
    /// Points `[x, y, z, intensity]` in `base_link`, metres.
    pub points: &'a [[f32; 4]],
    /// Camera view at the network's input size; `None` for no camera (or a blanked camera).
    pub camera: Option<&'a CameraView>,
}

/// A batch of frames as tensors, ready for [`crate::model::Network::forward`].
#[derive(Debug)]
pub struct Batch {
    /// Frames in the batch.
    pub batch_size: i64,
    /// Per-point features `[P, GEOMETRIC_FEATURES (+4 for early)]`.
    pub point_features: Tensor,
    /// BEV cell of each point, flattened over the batch: `b * nx * ny + ix * ny + iy`, `[P]`.
    pub pillar_index: Tensor,
    /// 1 where the point landed on a (non-blank) camera image, `[P, 1]`.
    pub point_on_image: Tensor,
    /// Index of each point's pixel in the flattened image-feature map (`b * h * w + v * w + u`,
    /// at the image net's output resolution), or `B * h * w` (a zero row) off the image, `[P]`.
    /// Only for modes with an image net.
    pub point_pixel_index: Option<Tensor>,
    /// Images `[B, 3, H, W]` in [0, 1] (zeros for a missing camera). Only for modes that read
    /// pixels through the network (intermediate, late).
    pub images: Option<Tensor>,
    /// Pixel classes at the image net's output resolution `[B, H/2, W/2]` (int64: 0 background,
    /// `k + 1` for `CLASSES[k]`, [`IGNORE_LABEL`] where unknown: no camera, no labels). Only for
    /// modes with an image net.
    pub image_labels: Option<Tensor>,
    /// Late fusion: each BEV cell's crop, the image rectangle of its column (see
    /// [`LATE_COLUMN_HALF_WIDTH_M`]) as `[u0, v0, u1, v1]` in `grid_sample` coordinates (−1 and 1
    /// are the image's outer edges), `[B * nx * ny, 4]`; zeros off the image.
    pub cell_rect: Option<Tensor>,
    /// Late fusion: 1 where the cell's column meets the image (at [`LATE_FUSION_HEIGHT_M`]) and
    /// lies wholly in front of the camera, `[B * nx * ny, 1]`.
    pub cell_on_image: Option<Tensor>,
}

/// Points of a frame kept for the network once it is moved by `augment`: on the grid and in the
/// height band, at most `max_points` (an even subsample beyond that). Returns
/// `(augmented point, base_link point, ix, iy)`, the grid cell being the augmented point's.
pub fn grid_points(cfg: &ModelConfig, points: &[[f32; 4]], augment: &Augment) -> Vec<([f32; 4], [f32; 4], i64, i64)> {
    let kept: Vec<([f32; 4], [f32; 4], i64, i64)> = points
        .iter()
        .filter(|p| p.iter().all(|v| v.is_finite()))
        .map(|p| (augment.apply(*p), *p))
        .filter(|(q, _)| q[2] >= cfg.z_range_m[0] && q[2] < cfg.z_range_m[1])
        .filter_map(|(q, p)| cfg.cell_of(q[0], q[1]).map(|(ix, iy)| (q, p, ix, iy)))
        .collect();
    if kept.len() <= cfg.max_points || cfg.max_points == 0 {
        return kept;
    }
    let step = kept.len() as f64 / cfg.max_points as f64;
    (0..cfg.max_points).filter_map(|k| kept.get((k as f64 * step) as usize).copied()).collect()
}

impl Batch {
    /// Builds the batch for `cfg.mode` from `frames` on `device`. The camera is ignored in
    /// `lidar` mode; a frame without a camera gets zero paint and `on_image = 0`.
    pub fn new(cfg: &ModelConfig, frames: &[FrameInput<'_>], device: Device) -> Self {
        Self::augmented(cfg, frames, &[], device)
    }

    /// [`Self::new`] with frame `i` moved by `augments[i]` (identity where `augments` is
    /// shorter). Points are painted from where they really were, then moved; late fusion maps
    /// each BEV cell back before projecting it into the image.
    pub fn augmented(cfg: &ModelConfig, frames: &[FrameInput<'_>], augments: &[Augment], device: Device) -> Self {
        Self::build(cfg, frames, augments, device, None)
    }

    /// [`Self::new`], taking late fusion's cell rectangles from `cache` (computed once per
    /// calibration) instead of projecting every cell of every frame.
    pub fn with_cell_rects(
        cfg: &ModelConfig,
        frames: &[FrameInput<'_>],
        device: Device,
        cache: &CellRectCache,
    ) -> Self {
        Self::build(cfg, frames, &[], device, Some(cache))
    }

    fn build(
        cfg: &ModelConfig,
        frames: &[FrameInput<'_>],
        augments: &[Augment],
        device: Device,
        cache: Option<&CellRectCache>,
    ) -> Self {
        let (nx, ny) = (cfg.nx(), cfg.ny());
        let [fw, fh] = cfg.image_feature_size();
        let (fw, fh) = (i64::from(fw), i64::from(fh));
        let [iw, ih] = cfg.image_size;
        let b = frames.len() as i64;
        let zero_row = b * fw * fh;
        let early = cfg.mode == FusionMode::Early;
        let image_net = cfg.mode.has_image_net();
        let late = cfg.mode == FusionMode::Late;
        let needs_images = cfg.mode.needs_images();
        let n_feat = GEOMETRIC_FEATURES + if early { 3 } else { 0 };
        let (mut feats, mut pillar, mut on_img, mut pix) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut images = vec![0f32; if needs_images { (b * 3 * i64::from(iw) * i64::from(ih)) as usize } else { 0 }];
        let mut labels = vec![IGNORE_LABEL; if image_net { (b * fw * fh) as usize } else { 0 }];
        let (mut cell_rect, mut cell_on) = (Vec::new(), Vec::new());
        let (x_span, y_span) = (cfg.x_range_m[1] - cfg.x_range_m[0], cfg.y_range_m[1] - cfg.y_range_m[0]);
        for (bi, frame) in frames.iter().enumerate() {
            let augment = augments.get(bi).copied().unwrap_or_default();
            let bi = bi as i64;
            // The camera counts only when its size is the network's (views are made at that size).
            let camera = frame.camera.filter(|c| cfg.mode.uses_camera() && c.fits(cfg.image_size));
            if let (Some(cam), true) = (camera, needs_images) {
                let plane = (iw * ih) as usize;
                let base = bi as usize * 3 * plane;
                for (k, px) in cam.rgb.chunks_exact(3).enumerate() {
                    for c in 0..3 {
                        images[base + c * plane + k] = f32::from(px[c]) / 255.0;
                    }
                }
                if image_net && cam.labels.len() == plane {
                    // Each 2 × 2 block takes its highest class: a thin pedestrian keeps its pixels.
                    let (w, fw_u, fh_u) = (iw as usize, fw as usize, fh as usize);
                    let base = bi as usize * fw_u * fh_u;
                    for v in 0..fh_u {
                        for u in 0..fw_u {
                            let at = |dv: usize, du: usize| cam.labels[(2 * v + dv) * w + 2 * u + du];
                            let l = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                            labels[base + v * fw_u + u] = i64::from(l);
                        }
                    }
                }
            }
            for (p, original, ix, iy) in grid_points(cfg, frame.points, &augment) {
                let (cx, cy) = cfg.cell_center(ix, iy);
                let range = p[0].hypot(p[1]);
                feats.extend_from_slice(&[
                    (p[0] - cfg.x_range_m[0]) / x_span,
                    (p[1] - cfg.y_range_m[0]) / y_span,
                    p[2] / 2.0,
                    p[3],
                    (p[0] - cx) / cfg.cell_m,
                    (p[1] - cy) / cfg.cell_m,
                    range / x_span.max(y_span),
                ]);
                pillar.push(bi * nx * ny + ix * ny + iy);
                let pixel = camera.and_then(|c| {
                    c.pixel_of(&Point3::new(f64::from(original[0]), f64::from(original[1]), f64::from(original[2])))
                });
                on_img.push(if pixel.is_some() { 1f32 } else { 0.0 });
                if early {
                    let rgb = match (camera, pixel) {
                        (Some(c), Some((u, v))) => {
                            let o = ((v * c.width + u) * 3) as usize;
                            [c.rgb[o], c.rgb[o + 1], c.rgb[o + 2]].map(|x| f32::from(x) / 255.0)
                        }
                        _ => [0.0; 3],
                    };
                    feats.extend_from_slice(&rgb);
                }
                if image_net {
                    pix.push(match pixel {
                        Some((u, v)) => bi * fw * fh + (i64::from(v) / 2) * fw + i64::from(u) / 2,
                        None => zero_row,
                    });
                }
            }
            if late {
                let rects = match (cache, camera) {
                    (Some(cache), Some(camera)) if augment.is_identity() => cache.get(cfg, camera),
                    _ => Arc::new(CellRects::new(cfg, camera, &augment)),
                };
                cell_rect.extend_from_slice(&rects.rect);
                cell_on.extend_from_slice(&rects.on_image);
            }
        }
        let p = pillar.len() as i64;
        let on = |v: Tensor| v.to_device(device);
        Self {
            batch_size: b,
            point_features: on(Tensor::from_slice(&feats).reshape([p, n_feat as i64])),
            pillar_index: on(Tensor::from_slice(&pillar)),
            point_on_image: on(Tensor::from_slice(&on_img).reshape([p, 1])),
            point_pixel_index: image_net.then(|| on(Tensor::from_slice(&pix))),
            images: needs_images.then(|| on(Tensor::from_slice(&images).reshape([b, 3, i64::from(ih), i64::from(iw)]))),
            image_labels: image_net.then(|| on(Tensor::from_slice(&labels).reshape([b, fh, fw]))),
            cell_rect: late.then(|| on(Tensor::from_slice(&cell_rect).reshape([b * nx * ny, 4]))),
            cell_on_image: late.then(|| on(Tensor::from_slice(&cell_on).reshape([b * nx * ny, 1]))),
        }
    }

    /// Number of points in the batch.
    pub fn num_points(&self) -> i64 {
        self.pillar_index.size().first().copied().unwrap_or(0)
    }
}

/// Late fusion's crops of every BEV cell of one frame: [`column_rect`] of each cell (zeros where
/// it is `None`) and 1 / 0 for whether it has one, in the grid's `ix * ny + iy` order.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRects {
    /// `[u0, v0, u1, v1]` per cell, flattened.
    pub rect: Vec<f32>,
    /// 1 where the cell has a rectangle.
    pub on_image: Vec<f32>,
}

impl CellRects {
    /// The rectangles of `cfg`'s grid moved by `augment`, seen by `camera` (none: all off).
    pub fn new(cfg: &ModelConfig, camera: Option<&CameraView>, augment: &Augment) -> Self {
        let cells = (cfg.nx() * cfg.ny()) as usize;
        let (mut rect, mut on_image) = (Vec::with_capacity(4 * cells), Vec::with_capacity(cells));
        for ix in 0..cfg.nx() {
            for iy in 0..cfg.ny() {
                let (x, y) = cfg.cell_center(ix, iy);
                let (x, y) = augment.base_link_xy(x, y);
                let r = camera.and_then(|c| column_rect(c, f64::from(x), f64::from(y)));
                on_image.push(if r.is_some() { 1.0 } else { 0.0 });
                rect.extend_from_slice(&r.unwrap_or([0.0; 4]));
            }
        }
        Self { rect, on_image }
    }
}

/// The last calibration's [`CellRects`], for one [`ModelConfig`]: a mounted camera does not move,
/// so at inference its 8 × `nx · ny` projections are made once instead of every frame.
#[derive(Debug, Default)]
pub struct CellRectCache {
    last: Mutex<Option<CachedRects>>,
}

/// A calibration (`image_from_camera`, `camera_from_base_link`) and its rectangles.
#[derive(Debug)]
struct CachedRects {
    camera: CameraModel,
    camera_from_base_link: Isometry3<f64>,
    rects: Arc<CellRects>,
}

impl CellRectCache {
    /// `camera`'s rectangles (unaugmented), from the cache when its calibration is the last one.
    pub fn get(&self, cfg: &ModelConfig, camera: &CameraView) -> Arc<CellRects> {
        let Ok(mut last) = self.last.lock() else {
            return Arc::new(CellRects::new(cfg, Some(camera), &Augment::IDENTITY));
        };
        match &*last {
            Some(c) if c.camera == camera.camera && c.camera_from_base_link == camera.camera_from_base_link => {
                c.rects.clone()
            }
            _ => {
                let rects = Arc::new(CellRects::new(cfg, Some(camera), &Augment::IDENTITY));
                *last = Some(CachedRects {
                    camera: camera.camera.clone(),
                    camera_from_base_link: camera.camera_from_base_link,
                    rects: rects.clone(),
                });
                rects
            }
        }
    }
}

/// Late fusion's crop of the BEV cell centred at `(x, y)` (m, `base_link`): the image rectangle
/// around the upright column [`LATE_COLUMN_HALF_WIDTH_M`] × [`LATE_COLUMN_Z_M`] there, as
/// `[u0, v0, u1, v1]` in `grid_sample` coordinates (−1 and 1 are the image's outer edges; a
/// rectangle may reach past them). `None` unless the column's axis meets the image at
/// [`LATE_FUSION_HEIGHT_M`] and all its corners lie in front of the camera.
pub fn column_rect(camera: &CameraView, x: f64, y: f64) -> Option<[f32; 4]> {
    camera.pixel_of(&Point3::new(x, y, LATE_FUSION_HEIGHT_M))?;
    let h = LATE_COLUMN_HALF_WIDTH_M;
    let (w, ht) = (f64::from(camera.width), f64::from(camera.height));
    let mut rect = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for (dx, dy, z) in [-h, h]
        .into_iter()
        .flat_map(|dx| [-h, h].into_iter().flat_map(move |dy| LATE_COLUMN_Z_M.into_iter().map(move |z| (dx, dy, z))))
    {
        let in_camera = camera.camera_from_base_link * Point3::new(x + dx, y + dy, z);
        if in_camera.z < 0.1 {
            return None;
        }
        let px = camera.camera.project(&in_camera)?;
        let (u, v) = (px.x / w * 2.0 - 1.0, px.y / ht * 2.0 - 1.0);
        rect = [rect[0].min(u), rect[1].min(v), rect[2].max(u), rect[3].max(v)];
    }
    rect.iter().all(|r| r.is_finite()).then(|| rect.map(|r| r as f32))
}

/// Converts a float tensor to a `Vec<f32>` (flattened), empty on failure.
pub(crate) fn to_vec_f32(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_core::calib::Distortion;
    use nalgebra::{Matrix3, Translation3, UnitQuaternion};

    fn view(yaw: f64) -> CameraView {
        let camera = CameraModel {
            width: 320,
            height: 96,
            k: Matrix3::new(186.0, 0.0, 160.0, 0.0, 186.0, 48.0, 0.0, 0.0, 1.0),
            distortion: Distortion::None,
        };
        // Looking forward from 1.6 m up, turned left by `yaw`.
        let base_link_from_camera = Isometry3::from_parts(
            Translation3::new(0.0, 0.0, 1.6),
            UnitQuaternion::from_euler_angles(0.0, 0.0, yaw) * fusor_sim::rig::body_from_optical(),
        );
        let pose = base_link_from_camera.inverse();
        CameraView {
            width: 320,
            height: 96,
            rgb: vec![0; 320 * 96 * 3],
            camera,
            camera_from_base_link: pose,
            labels: Vec::new(),
        }
    }

    #[test]
    fn cached_cell_rects_are_the_computed_ones_and_follow_a_new_calibration() {
        let cfg = ModelConfig::new(FusionMode::Late);
        let cache = CellRectCache::default();
        let straight = view(0.0);
        let first = cache.get(&cfg, &straight);
        assert_eq!(*first, CellRects::new(&cfg, Some(&straight), &Augment::IDENTITY));
        let on = first.on_image.iter().filter(|&&o| o == 1.0).count();
        assert!(on > 1000 && on < first.on_image.len(), "{on} of the cells seen by a forward camera");
        // The same calibration (another view, another frame) is served from the cache.
        assert!(Arc::ptr_eq(&first, &cache.get(&cfg, &view(0.0))));
        // A turned camera is recomputed, and sees other cells.
        let turned = view(0.2);
        let second = cache.get(&cfg, &turned);
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(*second, CellRects::new(&cfg, Some(&turned), &Augment::IDENTITY));
        assert_ne!(second.on_image, first.on_image);
        // A batch built through the cache is the batch built without it.
        let points = [[10.0f32, 1.0, 0.5, 0.3], [25.0, -3.0, 1.0, 0.1]];
        let frames = [FrameInput { points: &points, camera: Some(&turned) }];
        let plain = Batch::new(&cfg, &frames, Device::Cpu);
        let cached = Batch::with_cell_rects(&cfg, &frames, Device::Cpu, &cache);
        for (a, b) in [(&plain.cell_rect, &cached.cell_rect), (&plain.cell_on_image, &cached.cell_on_image)] {
            let (Some(a), Some(b)) = (a, b) else { panic!("late batches carry cell rectangles") };
            assert!(a.equal(b));
        }
    }
}
