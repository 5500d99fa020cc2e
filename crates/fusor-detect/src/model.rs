//! The network: image CNN (optional) → painted pillar feature net → BEV scatter → 2D backbone →
//! (crop features fused at candidate cells, optional) → CenterPoint heads (→ late re-scoring).

use crate::config::{FusionMode, ModelConfig, CLASSES, REG_CHANNELS};
use crate::features::Batch;
use tch::nn;
use tch::{Kind, Tensor};

/// Raw network outputs for a batch.
#[derive(Debug)]
pub struct Output {
    /// Class heatmap logits `[B, classes, nx, ny]`.
    pub heatmap_logits: Tensor,
    /// Regression maps `[B, 8, nx, ny]` (see [`crate::config::REG_CHANNELS`]).
    pub regression: Tensor,
    /// Modes with an image net: its per-pixel class logits `[B, 1 + classes, H/2, W/2]`
    /// (background first), read off the painted features by one linear layer and trained against
    /// the simulator's pixel labels, PointPainting-style.
    pub image_logits: Option<Tensor>,
    /// Modes with a crop net (late; intermediate with crops): the cells it cropped, for the
    /// crop loss.
    pub crop_cells: Option<CropCells>,
}

/// The cells a crop net looked at in a batch (late fusion: re-scored; intermediate with crops:
/// painted with crop features).
#[derive(Debug)]
pub struct CropCells {
    /// Flattened cell (`ix * ny + iy`) of each re-scored cell, `[B, K]` (int64).
    pub index: Tensor,
    /// 1 where the cell's crop lies on the image, `[B, K]`.
    pub on_image: Tensor,
    /// The crop net's own class logits (other, pedestrian, cyclist) from the crop alone,
    /// `[B, K, 3]`: an auxiliary head that makes its features say what the crop shows.
    pub class_logits: Tensor,
}

fn conv(vs: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    nn::conv2d(vs, c_in, c_out, k, nn::ConvConfig { stride, padding: k / 2, ..Default::default() })
}

fn dilated(vs: nn::Path, c: i64, dilation: i64) -> nn::Conv2D {
    nn::conv2d(vs, c, c, 3, nn::ConvConfig { padding: dilation, dilation, ..Default::default() })
}

/// Small image CNN: `[B, 3, H, W]` → features `[B, C, H/2, W/2]`, and per-pixel class logits
/// read off those features. Two dilated residual layers widen its view to ~29 input pixels, a
/// whole pedestrian at 10–20 m: enough to tell a person (head, legs) from a person-sized bin.
#[derive(Debug)]
struct ImageNet {
    c1: nn::Conv2D,
    c2: nn::Conv2D,
    c3: nn::Conv2D,
    c4: nn::Conv2D,
    out: nn::Conv2D,
    seg: nn::Conv2D,
}

impl ImageNet {
    fn new(vs: &nn::Path, channels: i64) -> Self {
        Self {
            c1: conv(vs / "c1", 3, 16, 3, 1),
            c2: conv(vs / "c2", 16, 24, 3, 2),
            c3: dilated(vs / "c3", 24, 2),
            c4: dilated(vs / "c4", 24, 4),
            out: conv(vs / "out", 24, channels, 1, 1),
            seg: conv(vs / "seg", channels, CLASSES.len() as i64 + 1, 1, 1),
        }
    }

    /// Features `[B, C, H/2, W/2]` and class logits `[B, 1 + classes, H/2, W/2]`.
    fn forward(&self, images: &Tensor) -> (Tensor, Tensor) {
        // Images arrive in [0, 1]; centre them.
        let x = (images - 0.5).apply(&self.c1).relu().apply(&self.c2).relu();
        let x = &x + x.apply(&self.c3).relu();
        let x = &x + x.apply(&self.c4).relu();
        let f = x.apply(&self.out);
        let logits = f.apply(&self.seg);
        (f, logits)
    }
}

/// Feature map `[B, C, h, w]` as rows `[B * h * w + 1, C]` (`b * h * w + v * w + u`), with one
/// zero row at the end for lookups that miss the image.
fn feature_rows(f: &Tensor) -> Tensor {
    let c = f.size()[1];
    let rows = f.permute([0, 2, 3, 1]).reshape([-1, c]);
    Tensor::cat(&[rows, Tensor::zeros([1, c], (f.kind(), f.device()))], 0)
}

/// Crop nets (late; intermediate with crops): cells per frame whose crops are read (the lidar
/// network's most confident ones for pedestrians and cyclists, peaks and their neighbours).
pub const LATE_CELLS: i64 = 64;

/// Crop nets: crop size, pixels `[h, w]`, that each cell's image rectangle is resampled to.
pub const LATE_CROP: [i64; 2] = [32, 16];

/// Late fusion: the heatmap channels the crop net re-scores (pedestrian, cyclist: the classes a
/// person-sized column holds).
pub const LATE_CHANNELS: std::ops::Range<i64> = 1..3;

/// Number of [`LATE_CHANNELS`].
pub const LATE_CHANNEL_COUNT: i64 = LATE_CHANNELS.end - LATE_CHANNELS.start;

/// The candidate cells of a batch and their crops.
#[derive(Debug)]
struct Candidates {
    /// Flattened cell (`ix * ny + iy`) of each candidate, `[B, K]` (int64).
    index: Tensor,
    /// 1 where the candidate's crop lies on the image, `[B, K]`.
    on_image: Tensor,
    /// The crops, `[B * K, 4, h, w]`: RGB centred on 0, then 1 where the crop lies on the image.
    pixels: Tensor,
}

/// The [`LATE_CELLS`] best cells of each frame of `heat [B, classes, nx, ny]` by their highest
/// pedestrian / cyclist logit, and their [`LATE_CROP`] crops of `images [B, 3, H, W]` in [0, 1];
/// `rects [B * nx * ny, 4]` and `on [B * nx * ny, 1]` as in [`Batch`].
fn candidates(heat: &Tensor, images: &Tensor, rects: &Tensor, on: &Tensor) -> Candidates {
    let size = heat.size();
    let (b, nx, ny) = (size[0], size[2], size[3]);
    let cells = nx * ny;
    let k = LATE_CELLS.min(cells);
    let [ch, cw] = LATE_CROP;
    let opts = (Kind::Float, heat.device());
    // Slices, not an index tensor: a tensor made from Rust data is traced as zeros.
    let scored = heat.narrow(1, LATE_CHANNELS.start, LATE_CHANNEL_COUNT);
    // A stable sort rather than `topk`: among equal scores (empty cells) the lower index wins,
    // so eager and TorchScript runs pick the same cells.
    let (_, order) = scored.detach().amax([1], false).reshape([b, cells]).sort_stable(true, 1, true);
    let index = order.narrow(1, 0, k);
    let rect = rects.reshape([b, cells, 4]).gather(1, &index.unsqueeze(-1).expand([b, k, 4], false), false);
    let on_image = on.reshape([b, cells]).gather(1, &index, false);
    // Sampling points at the centres of a ch × cw grid over each rectangle.
    let tu = ((Tensor::arange(cw, opts) + 0.5) / cw as f64).reshape([1, 1, 1, cw]);
    let tv = ((Tensor::arange(ch, opts) + 0.5) / ch as f64).reshape([1, 1, ch, 1]);
    let edge = |i: i64| rect.narrow(2, i, 1).unsqueeze(-1);
    let (u0, v0, u1, v1) = (edge(0), edge(1), edge(2), edge(3));
    let gu = (&u0 + (u1 - &u0) * tu).expand([b, k, ch, cw], false);
    let gv = (&v0 + (v1 - &v0) * tv).expand([b, k, ch, cw], false);
    let grid = Tensor::stack(&[gu, gv], -1).reshape([b, k * ch, cw, 2]);
    let input = Tensor::cat(&[images - 0.5, images.narrow(1, 0, 1).ones_like()], 1);
    // Bilinear, zeros outside the image, pixel-area convention (align_corners = false).
    let crops = input.grid_sampler(&grid, 0, 0, false);
    let pixels = crops.reshape([b, 4, k, ch, cw]).permute([0, 2, 1, 3, 4]).reshape([b * k, 4, ch, cw]);
    Candidates { index, on_image, pixels }
}

/// Channels of a crop's features ([`CropNet::forward`]).
pub const CROP_FEATURES: i64 = 48;

/// The crop net: one image crop per candidate cell `[N, 4, h, w]` → features `[N, 48]` from four
/// 3 × 3 convolutions, two 2 × 2 poolings and a global maximum, and class logits (other,
/// pedestrian, cyclist) `[N, 3]` read off them by a linear layer (trained by the crop loss, so
/// that the features say what the crop shows).
///
/// Late fusion corrects its logits with it ([`CropNet::rescore`]).
#[derive(Debug)]
struct CropNet {
    c1: nn::Conv2D,
    c2: nn::Conv2D,
    c3: nn::Conv2D,
    c4: nn::Conv2D,
    class: nn::Linear,
}

impl CropNet {
    fn new(vs: &nn::Path) -> Self {
        Self {
            c1: conv(vs / "c1", 4, 16, 3, 1),
            c2: conv(vs / "c2", 16, 16, 3, 1),
            c3: conv(vs / "c3", 16, 32, 3, 1),
            c4: conv(vs / "c4", 32, CROP_FEATURES, 3, 1),
            class: nn::linear(vs / "class", CROP_FEATURES, 1 + LATE_CHANNEL_COUNT, Default::default()),
        }
    }

    /// Features `[N, 48]` and class logits `[N, 3]` of crops `[N, 4, h, w]`.
    fn forward(&self, crops: &Tensor) -> (Tensor, Tensor) {
        let x = crops.apply(&self.c1).relu().apply(&self.c2).relu().max_pool2d_default(2);
        let x = x.apply(&self.c3).relu().max_pool2d_default(2).apply(&self.c4).relu();
        let features = x.amax([2, 3], false);
        let class = features.apply(&self.class);
        (features, class)
    }

    /// Late fusion: `heat [B, classes, nx, ny]` with the [`LATE_CELLS`] best cells of each frame
    /// (by their highest pedestrian / cyclist logit) re-scored from their crops, and those cells.
    /// `images [B, 3, H, W]` in [0, 1]; `rects [B * nx * ny, 4]` and `on [B * nx * ny, 1]` as in
    /// [`Batch`]. A cell off the image keeps its logits.
    fn rescore(
        &self,
        correction: &LateCorrection,
        heat: &Tensor,
        images: &Tensor,
        rects: &Tensor,
        on: &Tensor,
    ) -> (Tensor, CropCells) {
        let size = heat.size();
        let (b, nx, ny) = (size[0], size[2], size[3]);
        let cells = nx * ny;
        let n = LATE_CHANNEL_COUNT;
        let c = candidates(heat, images, rects, on);
        let k = c.index.size()[1];
        let (_, class_logits) = self.forward(&c.pixels);
        let class_logits = class_logits.reshape([b, k, n + 1]);
        let log_odds = class_logits.narrow(2, 1, n) - class_logits.narrow(2, 0, 1);
        let delta = (log_odds * &correction.scale + &correction.shift) * c.on_image.unsqueeze(-1);
        let add = Tensor::zeros([b, n, cells], (Kind::Float, heat.device())).scatter_add(
            2,
            &c.index.unsqueeze(1).expand([b, n, k], false),
            &delta.permute([0, 2, 1]),
        );
        let scored = heat.narrow(1, LATE_CHANNELS.start, n);
        let rescored = scored + add.reshape([b, n, nx, ny]);
        let cells_out = CropCells { index: c.index, on_image: c.on_image, class_logits };
        let before = heat.narrow(1, 0, LATE_CHANNELS.start);
        let after = heat.narrow(1, LATE_CHANNELS.end, size[1] - LATE_CHANNELS.end);
        (Tensor::cat(&[before, rescored, after], 1), cells_out)
    }
}

/// Late fusion's logit corrections for [`LATE_CHANNELS`] `[N, 2]`: per channel `scale × (class
/// logit − other logit) + shift`, i.e. a crop's log-odds brought onto the lidar heatmap's scale.
/// Scale and shift start at zero, so an untrained late model is its lidar model.
#[derive(Debug)]
struct LateCorrection {
    scale: Tensor,
    shift: Tensor,
}

impl LateCorrection {
    /// Under the crop net's path (`crop.scale`, `crop.shift`).
    fn new(vs: &nn::Path) -> Self {
        let n = LATE_CHANNEL_COUNT;
        Self { scale: vs.zeros("scale", &[n]), shift: vs.zeros("shift", &[n]) }
    }
}

/// Intermediate fusion with crops: channels of the crop features painted onto the BEV grid.
pub const CROP_BEV_CHANNELS: i64 = 16;

/// Intermediate fusion with crops ([`crate::config::ImageBranch::Crops`]): each candidate cell's
/// crop features, projected to [`CROP_BEV_CHANNELS`], are painted onto their cell of a BEV map
/// (with a channel that marks painted cells); a 3 × 3 convolution over the backbone's features
/// and that map, then a 1 × 1 convolution, give a correction of the backbone's features at the
/// painted cells and their neighbours, which the heads then read. The last convolution starts at
/// zero, so the fused model starts as its lidar model, and cells without a crop (camera blacked
/// out, off the image) keep the backbone's features exactly.
#[derive(Debug)]
struct CropFusion {
    project: nn::Linear,
    mix: nn::Conv2D,
    out: nn::Conv2D,
}

impl CropFusion {
    fn new(vs: &nn::Path, head_channels: i64) -> Self {
        let zero =
            nn::ConvConfig { ws_init: nn::Init::Const(0.0), bs_init: nn::Init::Const(0.0), ..Default::default() };
        let mixed = 32;
        Self {
            project: nn::linear(vs / "project", CROP_FEATURES, CROP_BEV_CHANNELS, Default::default()),
            mix: conv(vs / "mix", head_channels + CROP_BEV_CHANNELS + 1, mixed, 3, 1),
            out: nn::conv2d(vs / "out", mixed, head_channels, 1, zero),
        }
    }

    /// `h [B, C, nx, ny]` fused with crop `features [B * K, 48]` of the cells `index [B, K]`
    /// (`on_image [B, K]`: 1 where the crop lies on the image).
    fn forward(&self, h: &Tensor, features: &Tensor, index: &Tensor, on_image: &Tensor) -> Tensor {
        let size = h.size();
        let (b, nx, ny) = (size[0], size[2], size[3]);
        let k = index.size()[1];
        let c = CROP_BEV_CHANNELS + 1;
        let on = on_image.unsqueeze(-1);
        let painted = features.apply(&self.project).relu().reshape([b, k, CROP_BEV_CHANNELS]) * &on;
        let values = Tensor::cat(&[painted, on.shallow_clone()], 2).permute([0, 2, 1]);
        let bev = Tensor::zeros([b, c, nx * ny], (Kind::Float, h.device()))
            .scatter_add(2, &index.unsqueeze(1).expand([b, c, k], false), &values)
            .reshape([b, c, nx, ny]);
        // The painted cells and their 8 neighbours: the only cells the correction may touch.
        let near = bev.narrow(1, CROP_BEV_CHANNELS, 1).clamp_max(1.0).max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false);
        let delta = Tensor::cat(&[h.shallow_clone(), bev], 1).apply(&self.mix).relu().apply(&self.out);
        h + delta * near
    }
}

/// The detector network. Build it under a `VarStore` path; the layout of its variables depends
/// only on the [`ModelConfig`].
#[derive(Debug)]
pub struct Network {
    cfg: ModelConfig,
    image_net: Option<ImageNet>,
    point1: nn::Linear,
    point2: nn::Linear,
    b1a: nn::Conv2D,
    b1b: nn::Conv2D,
    b2a: nn::Conv2D,
    b2b: nn::Conv2D,
    b3a: nn::Conv2D,
    b3b: nn::Conv2D,
    up2: nn::ConvTranspose2D,
    up3: nn::ConvTranspose2D,
    head: nn::Conv2D,
    heatmap: nn::Conv2D,
    regression: nn::Conv2D,
    crop: Option<CropNet>,
    late: Option<LateCorrection>,
    crop_fusion: Option<CropFusion>,
}

impl Network {
    /// Creates the network's variables under `vs` for `cfg`.
    pub fn new(vs: &nn::Path, cfg: &ModelConfig) -> Self {
        let [c1, c2, c3] = cfg.backbone_channels;
        let pc = cfg.pillar_channels;
        let up = |p: nn::Path, c_in: i64, c_out: i64, s: i64| {
            nn::conv_transpose2d(p, c_in, c_out, s, nn::ConvTransposeConfig { stride: s, ..Default::default() })
        };
        let classes = CLASSES.len() as i64;
        // Heatmap bias so that the initial score is ~0.1 everywhere (CenterNet's prior).
        let hm_cfg = nn::ConvConfig { bs_init: nn::Init::Const(-2.19), ..Default::default() };
        let half = c1 / 2;
        Self {
            cfg: cfg.clone(),
            image_net: cfg.has_pixel_net().then(|| ImageNet::new(&(vs / "image"), cfg.image_channels)),
            point1: nn::linear(vs / "pillar" / "l1", cfg.point_features(), pc, Default::default()),
            point2: nn::linear(vs / "pillar" / "l2", pc, pc, Default::default()),
            b1a: conv(vs / "bb" / "b1a", pc + 1, c1, 3, 1),
            b1b: conv(vs / "bb" / "b1b", c1, c1, 3, 1),
            b2a: conv(vs / "bb" / "b2a", c1, c2, 3, 2),
            b2b: conv(vs / "bb" / "b2b", c2, c2, 3, 1),
            b3a: conv(vs / "bb" / "b3a", c2, c3, 3, 2),
            b3b: conv(vs / "bb" / "b3b", c3, c3, 3, 1),
            up2: up(vs / "bb" / "up2", c2, half, 2),
            up3: up(vs / "bb" / "up3", c3, half, 4),
            head: conv(vs / "head" / "shared", c1 + 2 * half, cfg.head_channels, 3, 1),
            heatmap: nn::conv2d(vs / "head" / "heatmap", cfg.head_channels, classes, 1, hm_cfg),
            regression: conv(vs / "head" / "regression", cfg.head_channels, REG_CHANNELS as i64, 1, 1),
            crop: cfg.has_crop_net().then(|| CropNet::new(&(vs / "crop"))),
            late: (cfg.mode == FusionMode::Late).then(|| LateCorrection::new(&(vs / "crop"))),
            crop_fusion: (cfg.has_crop_net() && cfg.mode == FusionMode::Intermediate)
                .then(|| CropFusion::new(&(vs / "fusion"), cfg.head_channels)),
        }
    }

    /// The configuration the network was built for.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The image net alone on images `[B, 3, H, W]` in [0, 1]: features `[B, C, H/2, W/2]` and
    /// pixel-class logits `[B, 1 + classes, H/2, W/2]`; `None` for modes without one.
    pub fn image_forward(&self, images: &Tensor) -> Option<(Tensor, Tensor)> {
        self.image_net.as_ref().map(|net| net.forward(images))
    }

    /// Runs the network on a batch.
    pub fn forward(&self, batch: &Batch) -> Output {
        let (nx, ny) = (self.cfg.nx(), self.cfg.ny());
        let b = batch.batch_size;
        let device = batch.point_features.device();
        // Image features, flattened to rows with one zero row at the end for off-image lookups.
        let (image_rows, image_logits) = match (&self.image_net, &batch.images) {
            (Some(net), Some(images)) => {
                let (f, logits) = net.forward(images);
                (Some(feature_rows(&f)), Some(logits))
            }
            _ => (None, None),
        };
        let mut inputs = vec![batch.point_features.shallow_clone()];
        if self.cfg.mode == FusionMode::Intermediate {
            if let (Some(rows), Some(idx)) = (&image_rows, &batch.point_pixel_index) {
                inputs.push(rows.index_select(0, idx));
            }
        }
        if self.cfg.mode == FusionMode::Early || self.cfg.has_pixel_net() {
            inputs.push(batch.point_on_image.shallow_clone());
        }
        let x = Tensor::cat(&inputs, 1);
        let x = x.apply(&self.point1).relu().apply(&self.point2).relu();
        // Scatter to pillars: mean of point features, plus log point count as occupancy.
        let cells = b * nx * ny;
        let pc = self.cfg.pillar_channels;
        let sum = Tensor::zeros([cells, pc], (Kind::Float, device)).index_add(0, &batch.pillar_index, &x);
        // `ones_like` rather than a shape from Rust: a traced (TorchScript) module then takes any
        // number of points.
        let ones = batch.point_on_image.ones_like();
        let count = Tensor::zeros([cells, 1], (Kind::Float, device)).index_add(0, &batch.pillar_index, &ones);
        let bev = Tensor::cat(&[sum / count.clamp_min(1.0), (count + 1.0).log()], 1);
        let bev = bev.reshape([b, nx, ny, pc + 1]).permute([0, 3, 1, 2]).contiguous();
        // Backbone: three scales, upsampled and concatenated.
        let f1 = bev.apply(&self.b1a).relu().apply(&self.b1b).relu();
        let f2 = f1.apply(&self.b2a).relu().apply(&self.b2b).relu();
        let f3 = f2.apply(&self.b3a).relu().apply(&self.b3b).relu();
        let u2 = f2.apply(&self.up2).relu();
        let u3 = f3.apply(&self.up3).relu();
        let mut h = Tensor::cat(&[f1, u2, u3], 1).apply(&self.head).relu();
        let mut crop_cells = None;
        let crop_inputs = (&self.crop, &batch.images, &batch.cell_rect, &batch.cell_on_image);
        // Intermediate fusion with crops: the lidar heatmap picks the cells, whose crop features
        // are fused into the backbone's features before the heads.
        if let (Some(fusion), (Some(crop), Some(images), Some(rects), Some(on))) = (&self.crop_fusion, crop_inputs) {
            let c = candidates(&h.apply(&self.heatmap), images, rects, on);
            let (features, class_logits) = crop.forward(&c.pixels);
            h = fusion.forward(&h, &features, &c.index, &c.on_image);
            let [b, k] = [c.index.size()[0], c.index.size()[1]];
            let class_logits = class_logits.reshape([b, k, LATE_CHANNEL_COUNT + 1]);
            crop_cells = Some(CropCells { index: c.index, on_image: c.on_image, class_logits });
        }
        let mut heatmap_logits = h.apply(&self.heatmap);
        let regression = h.apply(&self.regression);
        // Late fusion: the lidar heatmap's best cells re-scored from their crops.
        if let (Some(late), (Some(crop), Some(images), Some(rects), Some(on))) = (&self.late, crop_inputs) {
            let (rescored, cells) = crop.rescore(late, &heatmap_logits, images, rects, on);
            heatmap_logits = rescored;
            crop_cells = Some(cells);
        }
        Output { heatmap_logits, regression, image_logits, crop_cells }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn late_crops_rescore_only_the_best_cells_that_see_the_image() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = CropNet::new(&vs.root());
        let mut late = LateCorrection::new(&vs.root());
        // Give the corrections a scale and shift so that crops move the logits.
        tch::no_grad(|| {
            let _ = late.scale.fill_(0.5);
            let _ = late.shift.fill_(0.3);
        });
        let (b, nx, ny) = (1i64, 10i64, 10i64);
        let heat = Tensor::full([b, 3, nx, ny], -5.0, (Kind::Float, Device::Cpu));
        // Two confident pedestrian cells: one on the image, one off it.
        let _ = heat.get(0).get(1).get(2).get(3).fill_(2.0);
        let _ = heat.get(0).get(1).get(7).get(7).fill_(1.0);
        let images = Tensor::rand([b, 3, 24, 48], (Kind::Float, Device::Cpu));
        let rects = Tensor::from_slice(&[-0.2f32, -0.5, 0.0, 0.5]).repeat([b * nx * ny, 1]);
        let on = Tensor::ones([b * nx * ny, 1], (Kind::Float, Device::Cpu));
        let _ = on.get(7 * ny + 7).fill_(0.0);
        let (out, cells) = net.rescore(&late, &heat, &images, &rects, &on);
        assert_eq!(cells.index.size(), [b, LATE_CELLS]);
        assert_eq!(cells.class_logits.size(), [b, LATE_CELLS, 3]);
        // The two peaks are the best cells, in order; the second is off the image.
        assert_eq!(cells.index.int64_value(&[0, 0]), 2 * ny + 3);
        assert_eq!(cells.index.int64_value(&[0, 1]), 7 * ny + 7);
        assert_eq!(cells.on_image.double_value(&[0, 1]), 0.0);
        let at = |c: i64, x: i64, y: i64| out.double_value(&[0, c, x, y]);
        // The car channel never moves; the on-image cell does; the off-image one does not.
        assert_eq!(at(0, 2, 3), -5.0);
        assert!((at(1, 2, 3) - 2.0).abs() > 1e-3, "{}", at(1, 2, 3));
        assert_eq!(at(1, 7, 7), 1.0);
        // Only LATE_CELLS cells of the 100 are re-scored (all start equal but the two peaks).
        let moved = (&out - &heat).abs().gt(1e-6).sum(Kind::Int64).int64_value(&[]);
        assert!(moved > 0 && moved <= LATE_CELLS * LATE_CHANNEL_COUNT, "{moved}");
    }
}
