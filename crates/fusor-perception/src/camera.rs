//! Camera association: each cluster's points projected into the image through the calibration.
//!
//! The result is the early-fusion input (colour statistics per cluster) and the late-fusion hook
//! (the image region a cluster covers, to be matched with the network's 2D/3D camera detections).
//! Points behind the camera or off the image count as outside; a cluster with no point on the
//! image has no region.

use crate::error::{PerceptionError, Result};
use fusor_core::calib::{CameraModel, Rig};
use fusor_core::Image;
use nalgebra::{Isometry3, Point3};

/// One camera as the association needs it.
#[derive(Debug, Clone)]
pub struct CameraInput<'a> {
    /// The image to sample colours from; `None` gives regions and fractions without colours.
    pub image: Option<&'a Image>,
    /// Intrinsics (`image_from_camera`), optical frame.
    pub model: &'a CameraModel,
    /// `camera_from_cloud`: maps points of the cloud's frame into the camera's optical frame.
    pub camera_from_cloud: Isometry3<f64>,
}

impl<'a> CameraInput<'a> {
    /// The camera `camera_frame` of `rig`, looking at clouds expressed in `cloud_frame`
    /// (`camera_from_cloud = rig.transform(camera_frame, cloud_frame)`).
    pub fn from_rig(rig: &'a Rig, camera_frame: &str, cloud_frame: &str, image: Option<&'a Image>) -> Result<Self> {
        let model = rig
            .camera(camera_frame)
            .ok_or_else(|| PerceptionError::MissingCamera { rig: rig.name.clone(), frame: camera_frame.to_owned() })?;
        let camera_from_cloud = rig.transform(camera_frame, cloud_frame)?.target_from_source;
        Ok(Self { image, model, camera_from_cloud })
    }
}

/// What the camera sees of one cluster.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImageAssociation {
    /// Pixel rectangle `[u_min, v_min, u_max, v_max]` covered by the cluster's points that land
    /// on the image; `None` when none does (behind the camera or out of its field of view).
    pub region_px: Option<[f32; 4]>,
    /// Fraction of the projected points that land on the image, 0..1.
    pub fraction_in_image: f32,
    /// Mean red, green, blue (0–255) of the pixels under the points; zeros without an image.
    pub mean_rgb: [f32; 3],
    /// Standard deviation of red, green, blue.
    pub std_rgb: [f32; 3],
    /// Points projected (a cluster larger than the cap is sampled evenly).
    pub points_projected: u32,
    /// Pixels sampled for the colour statistics.
    pub pixels_sampled: u32,
}

/// Projects the points `members` (indices into the columns, metres in the cloud's frame) of one
/// cluster, at most `max_points` of them (evenly strided).
pub fn associate(
    x: &[f32],
    y: &[f32],
    z: &[f32],
    members: &[u32],
    camera: &CameraInput<'_>,
    max_points: usize,
) -> ImageAssociation {
    let mut out = ImageAssociation::default();
    if members.is_empty() || max_points == 0 {
        return out;
    }
    let step = members.len().div_ceil(max_points);
    let (mut u0, mut v0, mut u1, mut v1) = (f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY);
    let (mut inside, mut projected) = (0u32, 0u32);
    let mut sum = [0.0f64; 3];
    let mut sum2 = [0.0f64; 3];
    let mut pixels = 0u32;
    for &i in members.iter().step_by(step) {
        let i = i as usize;
        let (Some(&px), Some(&py), Some(&pz)) = (x.get(i), y.get(i), z.get(i)) else { continue };
        projected += 1;
        let p_cam = camera.camera_from_cloud * Point3::new(f64::from(px), f64::from(py), f64::from(pz));
        let Some(pixel) = camera.model.project(&p_cam) else { continue };
        if !camera.model.contains(&pixel) {
            continue;
        }
        inside += 1;
        let (u, v) = (pixel.x as f32, pixel.y as f32);
        u0 = u0.min(u);
        v0 = v0.min(v);
        u1 = u1.max(u);
        v1 = v1.max(v);
        if let Some(rgb) = camera.image.and_then(|img| img.rgb(pixel.x as u32, pixel.y as u32)) {
            for k in 0..3 {
                let c = f64::from(rgb[k]);
                sum[k] += c;
                sum2[k] += c * c;
            }
            pixels += 1;
        }
    }
    out.points_projected = projected;
    out.fraction_in_image = if projected > 0 { inside as f32 / projected as f32 } else { 0.0 };
    if inside > 0 {
        out.region_px = Some([u0, v0, u1, v1]);
    }
    if pixels > 0 {
        let n = f64::from(pixels);
        for k in 0..3 {
            let mean = sum[k] / n;
            out.mean_rgb[k] = mean as f32;
            out.std_rgb[k] = (sum2[k] / n - mean * mean).max(0.0).sqrt() as f32;
        }
    }
    out.pixels_sampled = pixels;
    out
}
