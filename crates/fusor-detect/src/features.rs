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

/// One frame's inputs before batching: the lidar points and the camera views that go with them.
#[derive(Debug, Clone, Copy)]
pub struct FrameInput<'a> {
    /// Points `[x, y, z, intensity]` in `base_link`, metres.
    pub points: &'a [[f32; 4]],
    /// Camera views at the network's input size (front camera first); empty for no camera (or
    /// a blanked one). A view of another size is skipped.
    pub cameras: &'a [CameraView],
}

/// How a batch lays its frames' camera views out in one image per frame: tiles of the network's
/// input size side by side, `gutter` zero columns between them, so that every network input
/// keeps its shape `[B, 3, H, W']` whatever the rig. A crop that reaches past its camera's edge
/// reads the gutter's zeros, as it reads zeros past a lone image's edge. One camera: the mosaic
/// is its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mosaic {
    /// Camera tiles.
    pub tiles: u32,
    /// Tile size `[w, h]` (the network's input size).
    pub tile: [u32; 2],
    /// Zero columns between tiles (even, so the image net's half-resolution map splits evenly).
    pub gutter: u32,
}

impl Mosaic {
    /// `tiles` (at least 1) tiles of `tile` size.
    pub fn new(tiles: u32, tile: [u32; 2]) -> Self {
        let tiles = tiles.max(1);
        Self { tiles, tile, gutter: if tiles > 1 { (tile[0] / 16) & !1 } else { 0 } }
    }

    /// Width of the mosaic in pixels.
    pub fn width(&self) -> u32 {
        self.tiles * self.tile[0] + (self.tiles - 1) * self.gutter
    }

    /// First column of tile `k`.
    pub fn x0(&self, k: u32) -> u32 {
        k * (self.tile[0] + self.gutter)
    }

    /// `grid_sample` column (−1 and 1 the mosaic's outer edges) of column `u` of tile `k` given
    /// in the tile's own `grid_sample` coordinates.
    pub fn u_in_mosaic(&self, k: u32, u: f32) -> f32 {
        if self.tiles == 1 {
            return u;
        }
        let px = self.x0(k) as f32 + (u + 1.0) / 2.0 * self.tile[0] as f32;
        px / self.width() as f32 * 2.0 - 1.0
    }
}

/// The view among `cameras` that sees `point` nearest its image's centre column (the others see
/// it at an edge, if at all): `(camera index, u, v)`.
pub fn best_pixel(cameras: &[&CameraView], point: &Point3<f64>) -> Option<(usize, u32, u32)> {
    cameras
        .iter()
        .enumerate()
        .filter_map(|(k, c)| {
            let (u, v) = c.pixel_of(point)?;
            let off_centre = (i64::from(u) * 2 + 1 - i64::from(c.width)).abs();
            Some((off_centre, k, u, v))
        })
        .min_by_key(|&(off_centre, k, _, _)| (off_centre, k))
        .map(|(_, k, u, v)| (k, u, v))
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
    /// Crop nets (late; intermediate with crops): each BEV cell's crop, the image rectangle of its
    /// column (see [`LATE_COLUMN_HALF_WIDTH_M`]) as `[u0, v0, u1, v1]` in `grid_sample`
    /// coordinates (−1 and 1 are the image's outer edges), `[B * nx * ny, 4]`; zeros off the image.
    pub cell_rect: Option<Tensor>,
    /// Crop nets: 1 where the cell's column meets the image (at [`LATE_FUSION_HEIGHT_M`]) and
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

    fn build<'a>(
        cfg: &ModelConfig,
        frames: &[FrameInput<'a>],
        augments: &[Augment],
        device: Device,
        cache: Option<&CellRectCache>,
    ) -> Self {
        let (nx, ny) = (cfg.nx(), cfg.ny());
        let [iw, ih] = cfg.image_size;
        // The cameras that count: the network reads cameras, and each view has its input size.
        let usable_views = |frame: &FrameInput<'a>| -> Vec<&'a CameraView> {
            if !cfg.mode.uses_camera() {
                return Vec::new();
            }
            frame.cameras.iter().filter(|c| c.fits(cfg.image_size)).collect()
        };
        let usable: Vec<Vec<&'a CameraView>> = frames.iter().map(usable_views).collect();
        let tiles = usable.iter().map(Vec::len).max().unwrap_or(0);
        let mosaic = Mosaic::new(tiles as u32, cfg.image_size);
        let mw = mosaic.width();
        let (fw, fh) = (i64::from(mw / 2), i64::from(ih / 2));
        let b = frames.len() as i64;
        let zero_row = b * fw * fh;
        let early = cfg.mode == FusionMode::Early;
        let image_net = cfg.has_pixel_net();
        let crops = cfg.has_crop_net();
        let needs_images = cfg.mode.needs_images();
        let n_feat = GEOMETRIC_FEATURES + if early { 3 } else { 0 };
        let (mut feats, mut pillar, mut on_img, mut pix) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let plane = (mw * ih) as usize;
        let mut images = vec![0f32; if needs_images { b as usize * 3 * plane } else { 0 }];
        let mut labels = vec![IGNORE_LABEL; if image_net { (b * fw * fh) as usize } else { 0 }];
        let (mut cell_rect, mut cell_on) = (Vec::new(), Vec::new());
        let (x_span, y_span) = (cfg.x_range_m[1] - cfg.x_range_m[0], cfg.y_range_m[1] - cfg.y_range_m[0]);
        for (bi, (frame, cameras)) in frames.iter().zip(&usable).enumerate() {
            let augment = augments.get(bi).copied().unwrap_or_default();
            let bi = bi as i64;
            for (k, cam) in cameras.iter().enumerate() {
                let x0 = mosaic.x0(k as u32) as usize;
                if needs_images {
                    let base = bi as usize * 3 * plane;
                    for (i, px) in cam.rgb.chunks_exact(3).enumerate() {
                        let at = (i / iw as usize) * mw as usize + x0 + i % iw as usize;
                        for c in 0..3 {
                            images[base + c * plane + at] = f32::from(px[c]) / 255.0;
                        }
                    }
                }
                if image_net && cam.labels.len() == (iw * ih) as usize {
                    // Each 2 × 2 block takes its highest class: a thin pedestrian keeps its pixels.
                    let (w, fw_u, tw) = (iw as usize, fw as usize, iw as usize / 2);
                    let base = bi as usize * fw_u * fh as usize + x0 / 2;
                    for v in 0..fh as usize {
                        for u in 0..tw {
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
                let pixel = if cameras.is_empty() {
                    None
                } else {
                    let at = Point3::new(f64::from(original[0]), f64::from(original[1]), f64::from(original[2]));
                    best_pixel(cameras, &at)
                };
                on_img.push(if pixel.is_some() { 1f32 } else { 0.0 });
                if early {
                    let rgb = match pixel {
                        Some((k, u, v)) => {
                            let c = cameras[k];
                            let o = ((v * c.width + u) * 3) as usize;
                            [c.rgb[o], c.rgb[o + 1], c.rgb[o + 2]].map(|x| f32::from(x) / 255.0)
                        }
                        None => [0.0; 3],
                    };
                    feats.extend_from_slice(&rgb);
                }
                if image_net {
                    pix.push(match pixel {
                        Some((k, u, v)) => {
                            let x = i64::from(mosaic.x0(k as u32) + u);
                            bi * fw * fh + (i64::from(v) / 2) * fw + x / 2
                        }
                        None => zero_row,
                    });
                }
            }
            if crops {
                let rects = match cache {
                    Some(cache) if augment.is_identity() && !cameras.is_empty() => cache.get(cfg, cameras, mosaic),
                    _ => Arc::new(CellRects::new(cfg, cameras, &augment, mosaic)),
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
            images: needs_images.then(|| on(Tensor::from_slice(&images).reshape([b, 3, i64::from(ih), i64::from(mw)]))),
            image_labels: image_net.then(|| on(Tensor::from_slice(&labels).reshape([b, fh, fw]))),
            cell_rect: crops.then(|| on(Tensor::from_slice(&cell_rect).reshape([b * nx * ny, 4]))),
            cell_on_image: crops.then(|| on(Tensor::from_slice(&cell_on).reshape([b * nx * ny, 1]))),
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
    /// The rectangles of `cfg`'s grid moved by `augment`: each cell's crop from the camera among
    /// `cameras` that sees its column nearest the image's centre, in `mosaic`'s coordinates
    /// (camera `k` is tile `k`). No cameras: all off.
    pub fn new(cfg: &ModelConfig, cameras: &[&CameraView], augment: &Augment, mosaic: Mosaic) -> Self {
        let cells = (cfg.nx() * cfg.ny()) as usize;
        let (mut rect, mut on_image) = (Vec::with_capacity(4 * cells), Vec::with_capacity(cells));
        for ix in 0..cfg.nx() {
            for iy in 0..cfg.ny() {
                let (x, y) = cfg.cell_center(ix, iy);
                let (x, y) = augment.base_link_xy(x, y);
                let best = cameras
                    .iter()
                    .enumerate()
                    .filter_map(|(k, c)| column_rect(c, f64::from(x), f64::from(y)).map(|r| (k, r)))
                    .min_by(|(_, a), (_, b)| (a[0] + a[2]).abs().total_cmp(&(b[0] + b[2]).abs()));
                let r = best.map(|(k, [u0, v0, u1, v1])| {
                    [mosaic.u_in_mosaic(k as u32, u0), v0, mosaic.u_in_mosaic(k as u32, u1), v1]
                });
                on_image.push(if r.is_some() { 1.0 } else { 0.0 });
                rect.extend_from_slice(&r.unwrap_or([0.0; 4]));
            }
        }
        Self { rect, on_image }
    }
}

/// The last calibration's [`CellRects`], for one [`ModelConfig`]: mounted cameras do not move,
/// so at inference their 8 × `nx · ny` projections per camera are made once instead of every frame.
#[derive(Debug, Default)]
pub struct CellRectCache {
    last: Mutex<Option<CachedRects>>,
}

/// A rig's calibrations (`image_from_camera`, `camera_from_base_link` per camera), its mosaic and
/// its rectangles.
#[derive(Debug)]
struct CachedRects {
    calibrations: Vec<(CameraModel, Isometry3<f64>)>,
    mosaic: Mosaic,
    rects: Arc<CellRects>,
}

impl CellRectCache {
    /// The rectangles of `cameras` (unaugmented) laid out in `mosaic`, from the cache when their
    /// calibrations and layout are the last ones.
    pub fn get(&self, cfg: &ModelConfig, cameras: &[&CameraView], mosaic: Mosaic) -> Arc<CellRects> {
        let Ok(mut last) = self.last.lock() else {
            return Arc::new(CellRects::new(cfg, cameras, &Augment::IDENTITY, mosaic));
        };
        let same = |c: &CachedRects| {
            c.mosaic == mosaic
                && c.calibrations.len() == cameras.len()
                && c.calibrations
                    .iter()
                    .zip(cameras)
                    .all(|((k, pose), v)| *k == v.camera && *pose == v.camera_from_base_link)
        };
        match &*last {
            Some(c) if same(c) => c.rects.clone(),
            _ => {
                let rects = Arc::new(CellRects::new(cfg, cameras, &Augment::IDENTITY, mosaic));
                *last = Some(CachedRects {
                    calibrations: cameras.iter().map(|v| (v.camera.clone(), v.camera_from_base_link)).collect(),
                    mosaic,
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
    fn a_surround_rig_is_laid_out_as_one_mosaic_and_each_point_reads_the_camera_that_sees_it_best() {
        // Front, 60° left, 60° right; each image a different grey, so paint tells them apart.
        let mut cams = [view(0.0), view(1.05), view(-1.05)];
        for (k, c) in cams.iter_mut().enumerate() {
            c.rgb.fill(50 + 50 * k as u8);
        }
        let mosaic = Mosaic::new(3, [320, 96]);
        assert_eq!((mosaic.gutter, mosaic.width(), mosaic.x0(2)), (20, 1000, 680));
        assert_eq!(Mosaic::new(1, [320, 96]).width(), 320);
        // Ahead, 60° left, 60° right, and beside the car where only the left camera sees.
        let points = [[20.0f32, 0.0, 1.0, 0.3], [10.0, 17.3, 1.0, 0.3], [10.0, -17.3, 1.0, 0.3], [2.0, 15.0, 1.0, 0.3]];
        let expect = [Some(0usize), Some(1), Some(2), Some(1)];
        for (p, k) in points.iter().zip(expect) {
            let at = Point3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
            let refs: Vec<&CameraView> = cams.iter().collect();
            assert_eq!(best_pixel(&refs, &at).map(|(k, _, _)| k), k, "point {p:?}");
            assert_eq!(best_pixel(&refs[..1], &at).is_some(), k == Some(0), "front camera alone, point {p:?}");
        }
        let cfg = ModelConfig { image_size: [320, 96], ..ModelConfig::new(FusionMode::Early) };
        let batch = Batch::new(&cfg, &[FrameInput { points: &points, cameras: &cams }], Device::Cpu);
        let paint = to_vec_f32(&batch.point_features.narrow(1, GEOMETRIC_FEATURES as i64, 1));
        let on = to_vec_f32(&batch.point_on_image);
        assert_eq!(on, [1.0; 4]);
        for (got, k) in paint.iter().zip([0u8, 1, 2, 1]) {
            assert!((got - f32::from(50 + 50 * k) / 255.0).abs() < 1e-6, "paint {got} for camera {k}");
        }
        // Intermediate: one image per frame, the tiles side by side, and each point's feature
        // row in its camera's tile.
        let cfg = ModelConfig { image_size: [320, 96], ..ModelConfig::new(FusionMode::Intermediate) };
        let batch = Batch::new(&cfg, &[FrameInput { points: &points, cameras: &cams }], Device::Cpu);
        let images = batch.images.as_ref().expect("images");
        assert_eq!(images.size(), [1, 3, 96, 1000]);
        let grey = |u: i64| images.double_value(&[0, 0, 40, u]);
        assert!(
            (grey(100) - 50.0 / 255.0).abs() < 1e-6 && grey(330) == 0.0 && (grey(400) - 100.0 / 255.0).abs() < 1e-6
        );
        let rows = Vec::<i64>::try_from(batch.point_pixel_index.as_ref().expect("pixel rows")).expect("i64");
        for (row, k) in rows.iter().zip([0u32, 1, 2, 1]) {
            let u = 2 * (row % 500) as u32;
            assert!((mosaic.x0(k)..mosaic.x0(k) + 320).contains(&u), "row {row} (column {u}) for camera {k}");
        }
        // Late: a cell beside the car is cropped from the left camera's tile; with the front
        // camera alone it has no crop. Many more cells have a crop with the surround rig.
        let cfg = ModelConfig { image_size: [320, 96], ..ModelConfig::new(FusionMode::Late) };
        let refs: Vec<&CameraView> = cams.iter().collect();
        let surround = CellRects::new(&cfg, &refs, &Augment::IDENTITY, mosaic);
        let front = CellRects::new(&cfg, &refs[..1], &Augment::IDENTITY, Mosaic::new(1, [320, 96]));
        let (ix, iy) = cfg.cell_of(2.0, 15.0).expect("on the grid");
        let cell = (ix * cfg.ny() + iy) as usize;
        assert_eq!((surround.on_image[cell], front.on_image[cell]), (1.0, 0.0));
        let [u0, _, u1, _] = [0, 1, 2, 3].map(|i| surround.rect[4 * cell + i]);
        let to_px = |u: f32| (u + 1.0) / 2.0 * 1000.0;
        assert!(to_px(u0) > 300.0 && to_px(u1) < 700.0, "crop columns {}..{} in the mosaic", to_px(u0), to_px(u1));
        let count = |r: &CellRects| r.on_image.iter().filter(|&&o| o == 1.0).count();
        assert!(count(&surround) as f64 > 1.3 * count(&front) as f64, "{} against {}", count(&surround), count(&front));
    }

    #[test]
    fn cached_cell_rects_are_the_computed_ones_and_follow_a_new_calibration() {
        let cfg = ModelConfig::new(FusionMode::Late);
        let cache = CellRectCache::default();
        let straight = view(0.0);
        let one = Mosaic::new(1, [320, 96]);
        let first = cache.get(&cfg, &[&straight], one);
        assert_eq!(*first, CellRects::new(&cfg, &[&straight], &Augment::IDENTITY, one));
        let on = first.on_image.iter().filter(|&&o| o == 1.0).count();
        assert!(on > 1000 && on < first.on_image.len(), "{on} of the cells seen by a forward camera");
        // The same calibration (another view, another frame) is served from the cache.
        assert!(Arc::ptr_eq(&first, &cache.get(&cfg, &[&view(0.0)], one)));
        // A turned camera is recomputed, and sees other cells.
        let turned = view(0.2);
        let second = cache.get(&cfg, &[&turned], one);
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(*second, CellRects::new(&cfg, &[&turned], &Augment::IDENTITY, one));
        assert_ne!(second.on_image, first.on_image);
        // A batch built through the cache is the batch built without it.
        let points = [[10.0f32, 1.0, 0.5, 0.3], [25.0, -3.0, 1.0, 0.1]];
        let frames = [FrameInput { points: &points, cameras: std::slice::from_ref(&turned) }];
        let plain = Batch::new(&cfg, &frames, Device::Cpu);
        let cached = Batch::with_cell_rects(&cfg, &frames, Device::Cpu, &cache);
        for (a, b) in [(&plain.cell_rect, &cached.cell_rect), (&plain.cell_on_image, &cached.cell_on_image)] {
            let (Some(a), Some(b)) = (a, b) else { panic!("late batches carry cell rectangles") };
            assert!(a.equal(b));
        }
    }
}
