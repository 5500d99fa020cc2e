//! Model configuration: BEV grid, fusion mode, channel budget.

use crate::{DetectError, Result};
use fusor_core::ObjectClass;
use std::fmt;
use std::str::FromStr;

/// The classes the network predicts, in heatmap channel order.
pub const CLASSES: [ObjectClass; 3] = [ObjectClass::Car, ObjectClass::Pedestrian, ObjectClass::Cyclist];

/// Regression channels per BEV cell: centre offset x, y (cells), z (m), log length, log width,
/// log height (log m), sin yaw, cos yaw.
pub const REG_CHANNELS: usize = 8;

/// How the camera enters the network. Every mode has the same lidar pillar net, backbone and heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FusionMode {
    /// Lidar only; the camera is ignored.
    Lidar,
    /// Early fusion: every lidar point is painted with the raw RGB of the pixel it projects to.
    Early,
    /// Intermediate fusion (default): every lidar point is painted with learned image-CNN features,
    /// trained end to end with the detector.
    Intermediate,
    /// Late fusion: boxes come from the lidar-only branch; the pedestrian and cyclist scores of
    /// its most confident cells are re-scored by a small CNN that looks at each cell's image crop
    /// (the rectangle of a person-sized column standing on it).
    Late,
}

impl FusionMode {
    /// All modes, in ablation order.
    pub const ALL: [FusionMode; 4] = [Self::Lidar, Self::Early, Self::Intermediate, Self::Late];

    /// Name used on the command line and in weight files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Lidar => "lidar",
            Self::Early => "early",
            Self::Intermediate => "intermediate",
            Self::Late => "late",
        }
    }

    /// True when the mode reads the camera at all.
    pub const fn uses_camera(self) -> bool {
        !matches!(self, Self::Lidar)
    }

    /// True when the network itself reads the image tensor (intermediate: its image net or its
    /// crops; late: its crops). Early paints raw colours in feature building instead.
    pub const fn needs_images(self) -> bool {
        matches!(self, Self::Intermediate | Self::Late)
    }
}

/// Where intermediate fusion takes its learned image features from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ImageBranch {
    /// A dense image CNN (with a pixel-class head); every lidar point is painted with the
    /// features of the pixel it projects to (PointPainting).
    #[default]
    Pixels,
    /// A crop CNN on the image rectangle of a person-sized column standing on each of the lidar
    /// branch's most confident pedestrian / cyclist cells; its features are painted onto those
    /// BEV cells and fused with the backbone's features before the heads (ROI fusion, as in
    /// MV3D / AVOD), trained end to end.
    Crops,
}

impl ImageBranch {
    /// Both branches.
    pub const ALL: [ImageBranch; 2] = [Self::Pixels, Self::Crops];

    /// Name used on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pixels => "pixels",
            Self::Crops => "crops",
        }
    }
}

impl fmt::Display for ImageBranch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImageBranch {
    type Err = DetectError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| DetectError::Config(format!("unknown image branch `{s}` (pixels, crops)")))
    }
}

impl fmt::Display for FusionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FusionMode {
    type Err = DetectError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| DetectError::Config(format!("unknown fusion mode `{s}` (lidar, early, intermediate, late)")))
    }
}

/// Everything that fixes the network's shape. Weights are only valid for the config they were
/// trained with; the detector checks this when loading.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Fusion mode.
    pub mode: FusionMode,
    /// Forward range of the BEV grid in `base_link`, metres `[min, max)`.
    pub x_range_m: [f32; 2],
    /// Lateral range of the BEV grid in `base_link`, metres `[min, max)`.
    pub y_range_m: [f32; 2],
    /// Height band of points kept, metres in `base_link` `[min, max)`.
    pub z_range_m: [f32; 2],
    /// BEV cell size in metres.
    pub cell_m: f32,
    /// Output channels of the pillar feature net.
    pub pillar_channels: i64,
    /// Channels of the backbone's three stages (full, 1/2, 1/4 resolution).
    pub backbone_channels: [i64; 3],
    /// Channels of the shared head convolution.
    pub head_channels: i64,
    /// Learned image feature channels (intermediate).
    pub image_channels: i64,
    /// Intermediate fusion's image branch (ignored by the other modes).
    pub image_branch: ImageBranch,
    /// Image size the camera is resized to before the image net / painting, pixels `[w, h]`.
    pub image_size: [u32; 2],
    /// Most points fed to the network per scan (the nearest are kept beyond that).
    pub max_points: usize,
}

/// Largest camera input side the network takes, pixels: a weights file or flag asking for more
/// is refused before any image is allocated at that size.
pub const MAX_IMAGE_SIDE: u32 = 4096;

impl ModelConfig {
    /// The default detector: x ∈ [0, 40) m, y ∈ [-20, 20) m, 0.5 m cells (80 × 80), sized for a
    /// 2-core CPU.
    pub fn new(mode: FusionMode) -> Self {
        Self {
            mode,
            x_range_m: [0.0, 40.0],
            y_range_m: [-20.0, 20.0],
            z_range_m: [-0.5, 3.5],
            cell_m: 0.5,
            pillar_channels: 32,
            backbone_channels: [32, 48, 64],
            head_channels: 48,
            image_channels: 8,
            image_branch: ImageBranch::Pixels,
            image_size: [320, 96],
            max_points: 24_000,
        }
    }

    /// A tiny network for tests: 1 m cells over 16 × 16 m, few channels.
    pub fn tiny(mode: FusionMode) -> Self {
        Self {
            mode,
            x_range_m: [0.0, 16.0],
            y_range_m: [-8.0, 8.0],
            z_range_m: [-0.5, 3.5],
            cell_m: 0.5,
            pillar_channels: 16,
            backbone_channels: [16, 16, 16],
            head_channels: 16,
            image_channels: 4,
            image_branch: ImageBranch::Pixels,
            image_size: [64, 32],
            max_points: 4_000,
        }
    }

    /// Grid size in cells along x.
    pub fn nx(&self) -> i64 {
        ((self.x_range_m[1] - self.x_range_m[0]) / self.cell_m).round() as i64
    }

    /// Grid size in cells along y.
    pub fn ny(&self) -> i64 {
        ((self.y_range_m[1] - self.y_range_m[0]) / self.cell_m).round() as i64
    }

    /// True when the network has a dense image net (per-pixel features, pixel-class head):
    /// intermediate fusion with [`ImageBranch::Pixels`].
    pub fn has_pixel_net(&self) -> bool {
        self.mode == FusionMode::Intermediate && self.image_branch == ImageBranch::Pixels
    }

    /// True when the network crops the image at candidate BEV cells: late fusion, and
    /// intermediate fusion with [`ImageBranch::Crops`].
    pub fn has_crop_net(&self) -> bool {
        match self.mode {
            FusionMode::Late => true,
            FusionMode::Intermediate => self.image_branch == ImageBranch::Crops,
            FusionMode::Lidar | FusionMode::Early => false,
        }
    }

    /// Short name of the model's kind: the mode, and for intermediate fusion with crops
    /// `intermediate-crops`.
    pub fn label(&self) -> String {
        if self.mode == FusionMode::Intermediate && self.image_branch == ImageBranch::Crops {
            format!("{}-{}", self.mode, self.image_branch)
        } else {
            self.mode.to_string()
        }
    }

    /// Number of per-point input features of the pillar net for this mode (painted channels
    /// included; learned image features count as `image_channels`).
    pub fn point_features(&self) -> i64 {
        let painted = match self.mode {
            FusionMode::Lidar | FusionMode::Late => 0,
            FusionMode::Early => 3 + 1,
            FusionMode::Intermediate if self.image_branch == ImageBranch::Crops => 0,
            FusionMode::Intermediate => self.image_channels + 1,
        };
        GEOMETRIC_FEATURES as i64 + painted
    }

    /// Cell `(ix, iy)` holding the point `(x, y)` in `base_link`, if it lies on the grid.
    pub fn cell_of(&self, x: f32, y: f32) -> Option<(i64, i64)> {
        let fx = (x - self.x_range_m[0]) / self.cell_m;
        let fy = (y - self.y_range_m[0]) / self.cell_m;
        if !(fx.is_finite() && fy.is_finite()) || fx < 0.0 || fy < 0.0 {
            return None;
        }
        let (ix, iy) = (fx.floor() as i64, fy.floor() as i64);
        (ix < self.nx() && iy < self.ny()).then_some((ix, iy))
    }

    /// Centre of cell `(ix, iy)` in `base_link`, metres.
    pub fn cell_center(&self, ix: i64, iy: i64) -> (f32, f32) {
        (self.x_range_m[0] + (ix as f32 + 0.5) * self.cell_m, self.y_range_m[0] + (iy as f32 + 0.5) * self.cell_m)
    }

    /// Checks that the grid is whole and the backbone's two downsamplings divide it.
    pub fn validate(&self) -> Result<()> {
        let (nx, ny) = (self.nx(), self.ny());
        if self.cell_m.is_nan() || self.cell_m <= 0.0 || nx <= 0 || ny <= 0 || nx % 4 != 0 || ny % 4 != 0 {
            return Err(DetectError::Config(format!(
                "grid {nx} × {ny} cells of {} m: both sides must be positive multiples of 4",
                self.cell_m
            )));
        }
        let [w, h] = self.image_size;
        if w < 4 || h < 4 || w % 2 != 0 || h % 2 != 0 || w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
            return Err(DetectError::Config(format!(
                "image size {w} × {h}: both sides must be even, ≥ 4 and ≤ {MAX_IMAGE_SIDE}"
            )));
        }
        Ok(())
    }

    /// The image net's output resolution (half the input), pixels `[w, h]`.
    pub fn image_feature_size(&self) -> [u32; 2] {
        [self.image_size[0] / 2, self.image_size[1] / 2]
    }
}

/// Per-point geometric features: x, y, z (scaled), intensity, offset from the cell centre in x
/// and y (cells), range (scaled).
pub const GEOMETRIC_FEATURES: usize = 7;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes_that_are_odd_tiny_or_absurd_are_refused() {
        for (size, ok) in
            [([320, 96], true), ([640, 192], true), ([321, 96], false), ([2, 96], false), ([8192, 96], false)]
        {
            let cfg = ModelConfig { image_size: size, ..ModelConfig::new(FusionMode::Late) };
            assert_eq!(cfg.validate().is_ok(), ok, "{size:?}");
        }
    }
}
