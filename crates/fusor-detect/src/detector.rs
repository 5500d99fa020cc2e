//! Inference: weights loaded once, warm-up, `detect` on a cloud in `base_link` (+ camera).

use crate::config::{FusionMode, ImageBranch, ModelConfig, CLASSES, REG_CHANNELS};
use crate::features::{to_vec_f32, Batch, CellRectCache, FrameInput};
use crate::model::{Network, Output};
use crate::sample::{points_of, CameraView, Sample};
use crate::target::{decode, DecodedBox};
use crate::{DetectError, Result};
use fusor_core::calib::CameraModel;
use fusor_core::{Detection, Image, PointCloud, Stamp};
use nalgebra::Isometry3;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use tch::{nn, Device, Tensor};

/// Version of the weight-file layout (the `meta` tensor). Version 1 (18 values) had no image
/// branch: its intermediate models are [`ImageBranch::Pixels`].
const META_VERSION: f32 = 2.0;
/// Values in the `meta` tensor.
const META_LEN: usize = 19;
/// Name of the configuration tensor stored with the weights.
const META: &str = "meta";

/// Score below which heatmap peaks are not reported.
pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.1;
/// Most detections per frame.
pub const MAX_DETECTIONS: usize = 100;

fn mode_id(m: FusionMode) -> f32 {
    FusionMode::ALL.iter().position(|x| *x == m).unwrap_or(0) as f32
}

fn meta_of(cfg: &ModelConfig) -> Vec<f32> {
    let [b0, b1, b2] = cfg.backbone_channels;
    vec![
        META_VERSION,
        mode_id(cfg.mode),
        cfg.x_range_m[0],
        cfg.x_range_m[1],
        cfg.y_range_m[0],
        cfg.y_range_m[1],
        cfg.z_range_m[0],
        cfg.z_range_m[1],
        cfg.cell_m,
        cfg.pillar_channels as f32,
        b0 as f32,
        b1 as f32,
        b2 as f32,
        cfg.head_channels as f32,
        cfg.image_channels as f32,
        cfg.image_size[0] as f32,
        cfg.image_size[1] as f32,
        cfg.max_points as f32,
        ImageBranch::ALL.iter().position(|b| *b == cfg.image_branch).unwrap_or(0) as f32,
    ]
}

fn config_of(meta: &[f32]) -> Option<ModelConfig> {
    let image_branch = match (meta.first().copied(), meta.len()) {
        (Some(1.0), 18) => ImageBranch::Pixels,
        (Some(v), META_LEN) if v == META_VERSION => {
            // Exactly an index: a NaN or a fraction is refused, not truncated to a branch.
            *ImageBranch::ALL.iter().enumerate().find(|(i, _)| *i as f32 == meta[18]).map(|(_, b)| b)?
        }
        _ => return None,
    };
    Some(ModelConfig {
        mode: *FusionMode::ALL.get(meta[1] as usize)?,
        x_range_m: [meta[2], meta[3]],
        y_range_m: [meta[4], meta[5]],
        z_range_m: [meta[6], meta[7]],
        cell_m: meta[8],
        pillar_channels: meta[9] as i64,
        backbone_channels: [meta[10] as i64, meta[11] as i64, meta[12] as i64],
        head_channels: meta[13] as i64,
        image_channels: meta[14] as i64,
        image_size: [meta[15] as u32, meta[16] as u32],
        max_points: meta[17] as usize,
        image_branch,
    })
}

/// The named tensors of a weights file and the configuration stored in it.
fn read_weights(path: &Path) -> Result<(Vec<(String, Tensor)>, ModelConfig)> {
    let werr = |msg: String| DetectError::Weights { path: path.to_path_buf(), msg };
    if !path.exists() {
        return Err(werr("no such file".into()));
    }
    let named = Tensor::read_safetensors(path).map_err(|e| werr(e.to_string()))?;
    let meta = named
        .iter()
        .find(|(k, _)| k == META)
        .map(|(_, t)| to_vec_f32(t))
        .ok_or_else(|| werr(format!("no `{META}` tensor: not a fusor-detect weights file")))?;
    let cfg = config_of(&meta).ok_or_else(|| werr(format!("unreadable `{META}` tensor {meta:?}")))?;
    Ok((named, cfg))
}

/// What [`Detector::warm_start`] took from a weights file, by variable name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarmStart {
    /// Mode of the model in the file.
    pub source_mode: Option<FusionMode>,
    /// Copied whole.
    pub copied: Vec<String>,
    /// Copied into the leading input columns, the new columns zeroed.
    pub widened: Vec<String>,
    /// Not in the file (or of another shape): left as initialised.
    pub fresh: Vec<String>,
}

/// The detector: a network with its weights on a device, ready for frames.
#[derive(Debug)]
pub struct Detector {
    vs: nn::VarStore,
    net: Network,
    /// Reported peaks need at least this score.
    pub score_threshold: f32,
    /// Camera inputs that could not be used (size mismatch, …): the frame ran without camera.
    rejected_images: AtomicU64,
    /// Late fusion's cell rectangles for the camera's calibration.
    cell_rects: CellRectCache,
}

impl Detector {
    /// A freshly initialised detector (random weights from the current `tch::manual_seed`).
    pub fn new(cfg: &ModelConfig, device: Device) -> Result<Self> {
        cfg.validate()?;
        let vs = nn::VarStore::new(device);
        let net = Network::new(&vs.root(), cfg);
        let meta = vs.root().zeros_no_train(META, &[META_LEN as i64]);
        tch::no_grad(|| meta.shallow_clone().copy_(&Tensor::from_slice(&meta_of(cfg)).to_device(device)));
        Ok(Self {
            vs,
            net,
            score_threshold: DEFAULT_SCORE_THRESHOLD,
            rejected_images: AtomicU64::new(0),
            cell_rects: CellRectCache::default(),
        })
    }

    /// Loads a weights file written by [`Detector::save`]; the network's configuration is read
    /// from the file. Errors name the file and, for a mismatch, the tensor.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let werr = |msg: String| DetectError::Weights { path: path.to_path_buf(), msg };
        let (named, cfg) = read_weights(path)?;
        let det = Self::new(&cfg, device)?;
        let file: std::collections::HashMap<&str, &Tensor> = named.iter().map(|(k, t)| (k.as_str(), t)).collect();
        let mut vars: Vec<(String, Tensor)> = det.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        // The `meta` variable already holds `cfg` (a version-1 file's is one value shorter).
        for (name, var) in vars.iter().filter(|(n, _)| n != META) {
            let src = file
                .get(name.as_str())
                .ok_or_else(|| werr(format!("lacks tensor `{name}` that a `{}` model needs", cfg.mode)))?;
            if src.size() != var.size() {
                return Err(werr(format!(
                    "tensor `{name}` has shape {:?}, the `{}` model expects {:?}",
                    src.size(),
                    cfg.mode,
                    var.size()
                )));
            }
            tch::no_grad(|| var.shallow_clone().copy_(&src.to_device(device)));
        }
        if let Some(extra) = named.iter().map(|(k, _)| k).find(|k| !vars.iter().any(|(n, _)| n == *k)) {
            return Err(werr(format!("has tensor `{extra}` that a `{}` model does not have", cfg.mode)));
        }
        Ok(det)
    }

    /// Starts from another model's weights (usually a trained lidar-only model) wherever they
    /// fit, so a fused model begins as that model and its training only has to add the camera.
    ///
    /// - A tensor of the same name and shape is copied.
    /// - A 2-D weight with the same rows and *fewer* columns in the file is copied into the
    ///   leading columns and the rest are zeroed. That is the pillar net's first layer, whose
    ///   inputs are the geometric point features followed by the painted ones: zero weights on
    ///   the paint make the fused model compute exactly what the file's model computes.
    /// - Anything else (the image net, late fusion's re-scoring layer) keeps its initialisation.
    ///
    /// The file's grid (ranges, cell size) must be this model's grid.
    pub fn warm_start(&self, path: &Path) -> Result<WarmStart> {
        let werr = |msg: String| DetectError::Weights { path: path.to_path_buf(), msg };
        let (named, src_cfg) = read_weights(path)?;
        let cfg = self.config();
        if (src_cfg.x_range_m, src_cfg.y_range_m, src_cfg.z_range_m, src_cfg.cell_m)
            != (cfg.x_range_m, cfg.y_range_m, cfg.z_range_m, cfg.cell_m)
        {
            return Err(werr(format!(
                "grid x {:?} y {:?} z {:?} m, cells of {} m; this model's is x {:?} y {:?} z {:?} m, {} m",
                src_cfg.x_range_m,
                src_cfg.y_range_m,
                src_cfg.z_range_m,
                src_cfg.cell_m,
                cfg.x_range_m,
                cfg.y_range_m,
                cfg.z_range_m,
                cfg.cell_m
            )));
        }
        let file: std::collections::HashMap<&str, &Tensor> = named.iter().map(|(k, t)| (k.as_str(), t)).collect();
        let mut report = WarmStart { source_mode: Some(src_cfg.mode), ..WarmStart::default() };
        let mut vars: Vec<(String, Tensor)> = self.vs.variables().into_iter().filter(|(n, _)| n != META).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, var) in vars {
            let Some(src) = file.get(name.as_str()) else {
                report.fresh.push(name);
                continue;
            };
            let src = src.to_device(self.device()).to_kind(var.kind());
            match (var.size().as_slice(), src.size().as_slice()) {
                (dst, same) if dst == same => {
                    tch::no_grad(|| var.shallow_clone().copy_(&src));
                    report.copied.push(name);
                }
                ([rows, cols], [src_rows, src_cols]) if rows == src_rows && src_cols < cols => {
                    tch::no_grad(|| {
                        let _ = var.shallow_clone().zero_();
                        var.narrow(1, 0, *src_cols).copy_(&src);
                    });
                    report.widened.push(name);
                }
                _ => report.fresh.push(name),
            }
        }
        Ok(report)
    }

    /// Loads weights and checks that they are of `mode`.
    pub fn load_mode(path: &Path, mode: FusionMode, device: Device) -> Result<Self> {
        let det = Self::load(path, device)?;
        if det.config().mode != mode {
            return Err(DetectError::Weights {
                path: path.to_path_buf(),
                msg: format!("holds a `{}` model, `{mode}` was asked for", det.config().mode),
            });
        }
        Ok(det)
    }

    /// Writes the weights (and the configuration) as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| DetectError::Weights { path: path.to_path_buf(), msg: e.to_string() })?;
        }
        self.vs.save(path).map_err(|e| DetectError::Weights { path: path.to_path_buf(), msg: e.to_string() })
    }

    /// The network's configuration.
    pub fn config(&self) -> &ModelConfig {
        self.net.config()
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The variable store (for training).
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The network (for training).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Camera inputs rejected so far (the frame then ran on lidar alone).
    pub fn rejected_images(&self) -> u64 {
        self.rejected_images.load(Ordering::Relaxed)
    }

    /// Runs the network on frames (no gradients) and returns the raw outputs.
    pub fn forward(&self, frames: &[FrameInput<'_>]) -> Output {
        let batch = Batch::with_cell_rects(self.config(), frames, self.device(), &self.cell_rects);
        tch::no_grad(|| self.net.forward(&batch))
    }

    /// Decoded boxes of each frame, in `base_link`.
    pub fn detect_frames(&self, frames: &[FrameInput<'_>]) -> Vec<Vec<DecodedBox>> {
        if frames.is_empty() {
            return Vec::new();
        }
        let out = self.forward(frames);
        let hm = to_vec_f32(&out.heatmap_logits.sigmoid());
        let reg = to_vec_f32(&out.regression);
        let plane = (self.config().nx() * self.config().ny()) as usize;
        let (hs, rs) = (CLASSES.len() * plane, REG_CHANNELS * plane);
        (0..frames.len())
            .map(|b| match (hm.get(b * hs..(b + 1) * hs), reg.get(b * rs..(b + 1) * rs)) {
                (Some(h), Some(r)) => decode(self.config(), h, r, self.score_threshold, MAX_DETECTIONS),
                _ => Vec::new(),
            })
            .collect()
    }

    /// Detections of a cached sample (cameras used when the mode does and `use_camera`). A
    /// camera view made at another size than the model's cannot be used: it is counted in
    /// [`Self::rejected_images`] and the frame runs without it, as in [`Self::detect`].
    pub fn detect_sample(&self, sample: &Sample, use_camera: bool) -> Vec<DecodedBox> {
        let cameras = if use_camera && self.config().mode.uses_camera() { &sample.cameras[..] } else { &[] };
        let rejected = cameras.iter().filter(|c| !c.fits(self.config().image_size)).count();
        self.rejected_images.fetch_add(rejected as u64, Ordering::Relaxed);
        self.detect_frames(&[FrameInput { points: &sample.points, cameras }]).pop().unwrap_or_default()
    }

    /// Detects objects in a lidar cloud in `base_link`, with the camera frames taken with it,
    /// each with its model and `camera_from_base_link` (none, one, or a surround rig's, front
    /// camera first). Boxes come back in `base_link`, stamped with the cloud's stamp. A camera
    /// that cannot be used (image size ≠ model size) is counted in [`Self::rejected_images`] and
    /// the frame runs without it.
    pub fn detect(
        &self,
        cloud_in_base_link: &PointCloud,
        cameras: &[(&Image, &CameraModel, &Isometry3<f64>)],
    ) -> Result<Vec<Detection>> {
        if cloud_in_base_link.frame_id.0 != "base_link" {
            return Err(DetectError::Input(format!(
                "cloud in frame `{}`, the detector needs `base_link`",
                cloud_in_base_link.frame_id.0
            )));
        }
        let points = points_of(cloud_in_base_link);
        let cameras = if self.config().mode.uses_camera() { cameras } else { &[] };
        let views: Vec<CameraView> = cameras
            .iter()
            .filter_map(|(image, model, camera_from_base_link)| {
                let view = CameraView::from_image(image, model, camera_from_base_link, self.config().image_size);
                if view.is_err() {
                    self.rejected_images.fetch_add(1, Ordering::Relaxed);
                }
                view.ok()
            })
            .collect();
        let boxes = self.detect_frames(&[FrameInput { points: &points, cameras: &views }]);
        Ok(to_detections(boxes.into_iter().next().unwrap_or_default(), cloud_in_base_link.stamp))
    }

    /// Traces the network (from painted points to heatmap logits and regression maps; feature
    /// building and decoding stay in Rust) into a TorchScript module on `frames` and writes it to
    /// `path`. The module's inputs, in order: `point_features [P, F]`, `pillar_index [P]` (i64),
    /// `point_on_image [P, 1]`, then for intermediate and late `images [1, 3, H, W]` and, for
    /// `intermediate`, `point_pixel_index [P]` (i64), and for `late` `cell_rect [nx * ny, 4]` and
    /// `cell_on_image [nx * ny, 1]`; one output `[1, classes + 8, nx, ny]`: the heatmap logits, then the
    /// regression channels ([`REG_CHANNELS`]). Returns the example inputs and
    /// the network's own outputs on them (for comparison). Batch size 1.
    pub fn export_torchscript(
        &mut self,
        frame: FrameInput<'_>,
        path: &Path,
    ) -> Result<(Vec<(String, Tensor)>, Output)> {
        // The tracer stores the weights as constants, which must not require gradients.
        self.vs.freeze();
        let result = self.trace(frame, path);
        self.vs.unfreeze();
        result
    }

    fn trace(&self, frame: FrameInput<'_>, path: &Path) -> Result<(Vec<(String, Tensor)>, Output)> {
        let batch = Batch::new(self.config(), &[frame], self.device());
        let mut names = vec!["point_features", "pillar_index", "point_on_image"];
        let mut inputs = vec![
            batch.point_features.shallow_clone(),
            batch.pillar_index.shallow_clone(),
            batch.point_on_image.shallow_clone(),
        ];
        for (name, t) in [
            ("images", &batch.images),
            ("point_pixel_index", &batch.point_pixel_index),
            ("cell_rect", &batch.cell_rect),
            ("cell_on_image", &batch.cell_on_image),
        ] {
            if let Some(t) = t {
                names.push(name);
                inputs.push(t.shallow_clone());
            }
        }
        let rebuild = |xs: &[Tensor]| {
            let get = |name: &str| names.iter().position(|n| *n == name).map(|i| xs[i].shallow_clone());
            Batch {
                batch_size: 1,
                point_features: xs[0].shallow_clone(),
                pillar_index: xs[1].shallow_clone(),
                point_on_image: xs[2].shallow_clone(),
                images: get("images"),
                image_labels: None,
                point_pixel_index: get("point_pixel_index"),
                cell_rect: get("cell_rect"),
                cell_on_image: get("cell_on_image"),
            }
        };
        let module = tch::no_grad(|| {
            tch::CModule::create_by_tracing("FusorDetect", "forward", &inputs, &mut |xs: &[Tensor]| {
                let out = self.net.forward(&rebuild(xs));
                // TorchScript methods return one value: heatmap logits then regression channels.
                vec![Tensor::cat(&[out.heatmap_logits, out.regression], 1)]
            })
        })
        .map_err(|e| DetectError::Weights { path: path.to_path_buf(), msg: format!("tracing: {e}") })?;
        module
            .save(path)
            .map_err(|e| DetectError::Weights { path: path.to_path_buf(), msg: format!("saving: {e}") })?;
        let reference = tch::no_grad(|| self.net.forward(&rebuild(&inputs)));
        let named = names.iter().map(|n| (*n).to_owned()).zip(inputs).collect();
        Ok((named, reference))
    }

    /// Runs `n` throw-away frames so that first-call allocations and kernel selection are done
    /// before timing-sensitive use.
    pub fn warm_up(&self, n: usize) {
        let points: Vec<[f32; 4]> =
            (0..2000).map(|i| [5.0 + (i % 50) as f32 * 0.5, (i / 50) as f32 * 0.3 - 6.0, 0.5, 0.2]).collect();
        for _ in 0..n {
            let _ = self.forward(&[FrameInput { points: &points, cameras: &[] }]);
        }
    }
}

/// Decoded boxes as core detections stamped `stamp`.
pub fn to_detections(boxes: Vec<DecodedBox>, stamp: Stamp) -> Vec<Detection> {
    boxes.into_iter().map(|b| Detection { stamp, bbox: b.bbox, class: b.class, score: b.score }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meta_tensor_round_trips_every_config_and_a_version_1_file_reads_as_pixels() {
        for mode in FusionMode::ALL {
            for image_branch in ImageBranch::ALL {
                let cfg = ModelConfig { image_branch, image_size: [640, 192], ..ModelConfig::new(mode) };
                assert_eq!(config_of(&meta_of(&cfg)), Some(cfg));
            }
        }
        // The committed weights of 2026-12 were written with version 1: 18 values, no branch.
        let cfg = ModelConfig::new(FusionMode::Intermediate);
        let mut v1 = meta_of(&cfg);
        v1.truncate(18);
        v1[0] = 1.0;
        assert_eq!(config_of(&v1).map(|c| c.image_branch), Some(ImageBranch::Pixels));
        // Anything else is refused, not guessed.
        let mut v2 = meta_of(&cfg);
        v2.truncate(18);
        assert_eq!(config_of(&v2), None, "version 2 with 18 values");
        let mut odd = meta_of(&cfg);
        for bad in [7.0, 0.5, -1.0, f32::NAN] {
            odd[18] = bad;
            assert_eq!(config_of(&odd), None, "branch {bad}");
        }
    }
}
