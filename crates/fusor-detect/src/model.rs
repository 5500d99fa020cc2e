//! The network: image CNN (optional) → painted pillar feature net → BEV scatter → 2D backbone →
//! CenterPoint heads.

use crate::config::{FusionMode, ModelConfig, CLASSES, REG_CHANNELS};
use crate::features::{Batch, LATE_POOL};
use tch::nn::{self, Module};
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

/// Late fusion's image evidence per pixel, as rows like [`feature_rows`] with `2C` columns: the
/// pixel's own features, then their maximum over a [`LATE_POOL`] window around it. A BEV cell
/// reads one pixel (its centre projected at [`crate::features::LATE_FUSION_HEIGHT_M`]); the
/// window lets it still see an object whose pixels are a few columns away, as they are when the
/// camera is turned by a degree (≈ 1.6 feature columns at 320 × 96) or the object is thin.
pub(crate) fn late_features(f: &Tensor) -> Tensor {
    let [kh, kw] = LATE_POOL;
    let pooled = f.max_pool2d([kh, kw], [1, 1], [kh / 2, kw / 2], [1, 1], false);
    feature_rows(&Tensor::cat(&[f.shallow_clone(), pooled], 1))
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
    late: Option<nn::Linear>,
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
            image_net: cfg.mode.has_image_net().then(|| ImageNet::new(&(vs / "image"), cfg.image_channels)),
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
            late: (cfg.mode == FusionMode::Late).then(|| {
                let zero =
                    nn::LinearConfig { ws_init: nn::Init::Const(0.0), bs_init: Some(nn::Init::Const(0.0)), bias: true };
                nn::linear(vs / "late", 2 * cfg.image_channels + 1, classes, zero)
            }),
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
        // Late fusion reads its cells' rows with the window's maximum beside each pixel.
        let (image_rows, image_logits) = match (&self.image_net, &batch.images) {
            (Some(net), Some(images)) => {
                let (f, logits) = net.forward(images);
                let rows = if self.cfg.mode == FusionMode::Late { late_features(&f) } else { feature_rows(&f) };
                (Some(rows), Some(logits))
            }
            _ => (None, None),
        };
        let mut inputs = vec![batch.point_features.shallow_clone()];
        if self.cfg.mode == FusionMode::Intermediate {
            if let (Some(rows), Some(idx)) = (&image_rows, &batch.point_pixel_index) {
                inputs.push(rows.index_select(0, idx));
            }
        }
        if self.cfg.mode != FusionMode::Lidar && self.cfg.mode != FusionMode::Late {
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
        let h = Tensor::cat(&[f1, u2, u3], 1).apply(&self.head).relu();
        let mut heatmap_logits = h.apply(&self.heatmap);
        let regression = h.apply(&self.regression);
        if let (Some(late), Some(rows), Some(idx), Some(on)) =
            (&self.late, &image_rows, &batch.cell_pixel_index, &batch.cell_on_image)
        {
            let cell = Tensor::cat(&[rows.index_select(0, idx), on.shallow_clone()], 1);
            let image_logits = late.forward(&cell).reshape([b, nx, ny, -1]).permute([0, 3, 1, 2]);
            heatmap_logits += image_logits;
        }
        Output { heatmap_logits, regression, image_logits }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn late_features_see_a_window_of_the_image_around_each_pixel() {
        let (c, h, w) = (2i64, 5i64, 12i64);
        let f = Tensor::zeros([1, c, h, w], (Kind::Float, Device::Cpu));
        let _ = f.get(0).get(0).get(2).get(5).fill_(1.0);
        let rows = late_features(&f);
        assert_eq!(rows.size(), [h * w + 1, 2 * c]);
        let at = |v: i64, u: i64, col: i64| rows.double_value(&[v * w + u, col]);
        // Its own pixel: the feature itself and the window's maximum.
        assert_eq!((at(2, 5, 0), at(2, 5, c)), (1.0, 1.0));
        // ±3 columns and ±1 row still see it through the window, not as their own feature.
        for (v, u) in [(2, 2), (2, 8), (1, 5), (3, 8), (1, 2)] {
            assert_eq!((at(v, u, 0), at(v, u, c)), (0.0, 1.0), "pixel ({v}, {u})");
        }
        // Beyond the window nothing; the other channel nowhere; the last row (off-image) is zero.
        for (v, u) in [(2, 1), (2, 9), (0, 5), (4, 5)] {
            assert_eq!(at(v, u, c), 0.0, "pixel ({v}, {u})");
        }
        assert_eq!(rows.narrow(1, 1, 1).abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert_eq!(rows.narrow(1, c + 1, 1).abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert_eq!(rows.get(h * w).abs().sum(Kind::Float).double_value(&[]), 0.0);
    }
}
