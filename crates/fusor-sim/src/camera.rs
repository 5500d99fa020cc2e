//! A camera rendered by ray casting the world: shaded boxes and cylinders, sky gradient, road
//! paint, facade windows, fog, low-light gain and sensor noise.

use crate::geometry::{dot, Material, V3};
use crate::rig::{CameraIntrinsics, CAMERA_FRAME};
use crate::scene::{Hit, Scene};
use crate::world::GtObject;
use crate::{Result, SimError};
use fusor_core::{Box3, Image, PixelFormat, Stamp};
use nalgebra::{Isometry3, Vector3};
use rayon::prelude::*;

/// Camera timing and rendering parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// Frame rate in Hz.
    pub rate_hz: f64,
    /// Offset of the first frame from the drive start, in seconds (the camera is not locked to
    /// the lidar).
    pub phase_s: f64,
    /// Uniform jitter of each exposure time, ± seconds.
    pub jitter_s: f64,
    /// Rays cast per output pixel along each axis (0.5: one ray per 2 × 2 pixels, upsampled).
    pub render_scale: f64,
    /// Read-noise σ in digital numbers at full light.
    pub noise_dn: f64,
    /// Farthest rendered surface in metres (beyond: sky).
    pub max_range_m: f64,
    /// Also render the surround rig's side cameras ([`crate::rig::SimRig::surround_cameras`]:
    /// `camera_front_left`, `camera_front_right`), exposed with the front camera, each on its
    /// own topics.
    pub surround: bool,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            rate_hz: 10.0,
            phase_s: 0.03,
            jitter_s: 0.002,
            render_scale: 0.5,
            noise_dn: 2.0,
            max_range_m: 250.0,
            surround: false,
        }
    }
}

/// A camera ready to render: intrinsics and the precomputed (undistorted) ray of each cast pixel.
#[derive(Debug, Clone)]
pub struct CameraRenderer {
    /// Intrinsics of the output image.
    pub intrinsics: CameraIntrinsics,
    /// Rendering parameters.
    pub config: CameraConfig,
    cast_w: usize,
    cast_h: usize,
    rays: Vec<[f64; 3]>,
}

fn lerp3(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn hash64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

impl CameraRenderer {
    /// Precomputes the rays; fails on a zero-sized image or a render scale outside (0, 1].
    pub fn new(intrinsics: CameraIntrinsics, config: CameraConfig) -> Result<Self> {
        if intrinsics.width == 0 || intrinsics.height == 0 {
            return Err(SimError::invalid("camera", "zero-sized image"));
        }
        if !(config.render_scale > 0.0 && config.render_scale <= 1.0) {
            return Err(SimError::invalid("camera", format!("render_scale {} outside (0, 1]", config.render_scale)));
        }
        let s = config.render_scale;
        let cast_w = ((f64::from(intrinsics.width) * s).ceil() as usize).max(1);
        let cast_h = ((f64::from(intrinsics.height) * s).ceil() as usize).max(1);
        let mut rays = Vec::with_capacity(cast_w * cast_h);
        for j in 0..cast_h {
            for i in 0..cast_w {
                // Centre of the block of output pixels this ray stands for.
                let u = (i as f64 + 0.5) / s - 0.5;
                let v = (j as f64 + 0.5) / s - 0.5;
                rays.push(intrinsics.ray(u, v));
            }
        }
        Ok(Self { intrinsics, config, cast_w, cast_h, rays })
    }

    /// Renders the scene seen from `map_from_camera` (optical frame) at `lighting` in [0, 1]
    /// (1 = daylight). `seed` and `index` key the sensor noise.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &self,
        scene: &Scene<'_>,
        map_from_camera: &Isometry3<f64>,
        sun_dir: V3,
        lighting: f64,
        stamp: Stamp,
        seed: u64,
        index: u64,
    ) -> Image {
        self.render_inner(scene, map_from_camera, sun_dir, lighting, stamp, seed, index, false).0
    }

    /// As [`Self::render`], plus the instance mask: the ground-truth object id seen at each pixel
    /// (row-major, `width × height`; 0 for sky, ground, buildings and clutter). Like the colours,
    /// the ids are cast at `render_scale` and upsampled, so the mask is exactly what the image
    /// shows.
    #[allow(clippy::too_many_arguments)]
    pub fn render_with_ids(
        &self,
        scene: &Scene<'_>,
        map_from_camera: &Isometry3<f64>,
        sun_dir: V3,
        lighting: f64,
        stamp: Stamp,
        seed: u64,
        index: u64,
    ) -> (Image, Vec<u32>) {
        self.render_inner(scene, map_from_camera, sun_dir, lighting, stamp, seed, index, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn render_inner(
        &self,
        scene: &Scene<'_>,
        map_from_camera: &Isometry3<f64>,
        sun_dir: V3,
        lighting: f64,
        stamp: Stamp,
        seed: u64,
        index: u64,
        want_ids: bool,
    ) -> (Image, Vec<u32>) {
        let light = lighting.clamp(0.02, 1.0);
        // Auto exposure brightens dim scenes only part way and amplifies the noise as it does.
        let gain = (0.6 / light).clamp(1.0, 3.0);
        let exposure = light * gain;
        let o: V3 = map_from_camera.translation.vector.into();
        let rot = map_from_camera.rotation;
        let max_range = self.config.max_range_m;
        let mut cast = vec![([0u8; 3], 0u32); self.cast_w * self.cast_h];
        cast.par_chunks_mut(self.cast_w).enumerate().for_each(|(j, row)| {
            for (i, px) in row.iter_mut().enumerate() {
                let r = self.rays[j * self.cast_w + i];
                let d: V3 = (rot * Vector3::new(r[0], r[1], r[2])).into();
                *px = match scene.cast(o, d, max_range, 0.0) {
                    Some(hit) => (
                        shade(&hit, d, sun_dir, max_range, exposure).map(|v| v.clamp(0.0, 255.0) as u8),
                        hit.surface.object_id,
                    ),
                    None => (sky(d, exposure).map(|v| v.clamp(0.0, 255.0) as u8), 0),
                };
            }
        });
        let (w, h) = (self.intrinsics.width as usize, self.intrinsics.height as usize);
        // Output pixel → cast pixel, per column and per row.
        let s = self.config.render_scale;
        let cols: Vec<usize> = (0..w).map(|u| (((u as f64 + 0.5) * s) as usize).min(self.cast_w - 1)).collect();
        let sigma = self.config.noise_dn * gain;
        let key = hash64(seed ^ hash64(index.wrapping_add(0x5EED)));
        let mut data = vec![0u8; w * h * 3];
        data.par_chunks_mut(w * 3).enumerate().for_each(|(v, row)| {
            let j = (((v as f64 + 0.5) * s) as usize).min(self.cast_h - 1);
            let cast_row = &cast[j * self.cast_w..(j + 1) * self.cast_w];
            for (u, &i) in cols.iter().enumerate() {
                let c = cast_row[i].0;
                let mut bits = hash64(key ^ ((v * w + u) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                for k in 0..3 {
                    // Sum of two uniforms: a cheap, unit-variance, bell-shaped noise.
                    let a = (bits & 0x3FF) as f64 / 1024.0;
                    let b = ((bits >> 10) & 0x3FF) as f64 / 1024.0;
                    bits >>= 20;
                    let n = (a + b - 1.0) * 6f64.sqrt() * sigma;
                    row[u * 3 + k] = (f64::from(c[k]) + n).round().clamp(0.0, 255.0) as u8;
                }
            }
        });
        let ids = if want_ids {
            let mut ids = vec![0u32; w * h];
            ids.par_chunks_mut(w).enumerate().for_each(|(v, row)| {
                let j = (((v as f64 + 0.5) * s) as usize).min(self.cast_h - 1);
                for (px, &i) in row.iter_mut().zip(&cols) {
                    *px = cast[j * self.cast_w + i].1;
                }
            });
            ids
        } else {
            Vec::new()
        };
        let image = Image {
            stamp,
            frame_id: CAMERA_FRAME.into(),
            width: w as u32,
            height: h as u32,
            format: PixelFormat::Rgb8,
            stride: w * 3,
            data,
        };
        (image, ids)
    }

    /// How much of each object in `objects` the camera at `map_from_camera` (optical frame) sees
    /// of `scene`: rays through the object's projected box are cast against the whole scene and
    /// against the object alone. At most [`VISIBILITY_SAMPLES`] rays per object (a regular pixel
    /// lattice), so `pixels` is an estimate for large objects.
    pub fn visibility(
        &self,
        scene: &Scene<'_>,
        map_from_camera: &Isometry3<f64>,
        objects: &[GtObject],
    ) -> Vec<CameraVisibility> {
        let camera_from_map = map_from_camera.inverse();
        let o: V3 = map_from_camera.translation.vector.into();
        let rot = map_from_camera.rotation;
        let (w, h) = (f64::from(self.intrinsics.width), f64::from(self.intrinsics.height));
        objects
            .par_iter()
            .map(|obj| {
                let Some([u0, v0, u1, v1]) = self.projected_rect(&camera_from_map, &obj.bbox) else {
                    return CameraVisibility::default();
                };
                // Pixel centres inside the rectangle (grown by 2 px for lens distortion bending
                // the box edges outwards), on a lattice of `stride` pixels.
                let (u0, v0) = ((u0 - 2.0).max(0.0).ceil(), (v0 - 2.0).max(0.0).ceil());
                let (u1, v1) = ((u1 + 2.0).min(w - 1.0).floor(), (v1 + 2.0).min(h - 1.0).floor());
                if u1 < u0 || v1 < v0 {
                    return CameraVisibility::default();
                }
                let area = (u1 - u0 + 1.0) * (v1 - v0 + 1.0);
                let stride = (area / VISIBILITY_SAMPLES as f64).sqrt().ceil().max(1.0);
                let parts = scene.object_parts(obj.id);
                let (mut seen, mut alone) = (0u32, 0u32);
                let mut v = v0;
                while v <= v1 {
                    let mut u = u0;
                    while u <= u1 {
                        let r = self.intrinsics.ray(u, v);
                        let d: V3 = (rot * Vector3::new(r[0], r[1], r[2])).into();
                        if Scene::cast_parts(&parts, o, d, self.config.max_range_m).is_some() {
                            alone += 1;
                            if scene
                                .cast(o, d, self.config.max_range_m, 0.0)
                                .is_some_and(|hit| hit.surface.object_id == obj.id)
                            {
                                seen += 1;
                            }
                        }
                        u += stride;
                    }
                    v += stride;
                }
                CameraVisibility {
                    pixels: (f64::from(seen) * stride * stride).round() as u32,
                    fraction: if alone == 0 { 0.0 } else { f64::from(seen) / f64::from(alone) },
                }
            })
            .collect()
    }

    /// The pixel rectangle `[u_min, v_min, u_max, v_max]` bounding the projection of `bbox`
    /// (map frame); the whole image when the box reaches behind the camera, `None` when all of it
    /// is behind.
    pub fn projected_rect(&self, camera_from_map: &Isometry3<f64>, bbox: &Box3) -> Option<[f64; 4]> {
        let corners = bbox.corners().map(|c| camera_from_map * c);
        if corners.iter().all(|c| c.z <= NEAR_M) {
            return None;
        }
        if corners.iter().any(|c| c.z <= NEAR_M) {
            let (w, h) = (f64::from(self.intrinsics.width), f64::from(self.intrinsics.height));
            return Some([0.0, 0.0, w - 1.0, h - 1.0]);
        }
        let mut rect = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for c in corners {
            let [u, v] = self.intrinsics.project([c.x, c.y, c.z])?;
            rect = [rect[0].min(u), rect[1].min(v), rect[2].max(u), rect[3].max(v)];
        }
        Some(rect)
    }
}

/// Rays cast per object, at most, to measure its camera visibility.
pub const VISIBILITY_SAMPLES: usize = 600;
/// Corners closer than this in front of the camera (m) count as behind it.
const NEAR_M: f64 = 0.1;

/// What the camera sees of one object.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CameraVisibility {
    /// Pixels of the image showing the object (estimated on a lattice for large objects).
    pub pixels: u32,
    /// Fraction in [0, 1] of the object's own silhouette (inside the image) that is not hidden
    /// behind something else; 0 when it is outside the image.
    pub fraction: f64,
}

/// Sky colour for a map-frame ray direction.
fn sky(d: V3, exposure: f64) -> [f64; 3] {
    let t = (d[2] * 2.5).clamp(0.0, 1.0);
    let c = lerp3([205.0, 215.0, 230.0], [80.0, 130.0, 205.0], t);
    c.map(|v| v * exposure)
}

/// Albedo at a hit with procedural texture (windows, ground grain).
fn albedo(hit: &Hit) -> [f64; 3] {
    let base = hit.surface.color.map(f64::from);
    let p = hit.point;
    match hit.surface.material {
        Material::Facade if hit.normal[2].abs() < 0.5 => {
            let along = -hit.normal[1] * p[0] + hit.normal[0] * p[1];
            let (fu, fz) = (along.rem_euclid(3.0) / 3.0, p[2].rem_euclid(3.2) / 3.2);
            if (0.3..0.8).contains(&fu) && (0.35..0.8).contains(&fz) {
                [45.0, 55.0, 70.0]
            } else {
                base
            }
        }
        Material::Asphalt | Material::Concrete | Material::Grass => {
            let h = hash64(((p[0] * 4.0).floor() as i64 as u64) ^ ((p[1] * 4.0).floor() as i64 as u64).rotate_left(32));
            let k = 0.92 + 0.16 * (h & 0xFF) as f64 / 255.0;
            base.map(|v| v * k)
        }
        _ => base,
    }
}

fn shade(hit: &Hit, d: V3, sun: V3, max_range: f64, exposure: f64) -> [f64; 3] {
    let a = albedo(hit);
    // Normals face the viewer for lighting (a ray can graze the inside of a cap).
    let facing = if dot(hit.normal, d) > 0.0 { -1.0 } else { 1.0 };
    let lambert = (facing * dot(hit.normal, sun)).max(0.0);
    let shine = match hit.surface.material {
        Material::CarPaint | Material::Glass | Material::Metal => 0.15 * lambert.powi(8),
        _ => 0.0,
    };
    let k = (0.4 + 0.6 * lambert) * exposure;
    let lit = a.map(|v| v * k + 255.0 * shine * exposure);
    let fog = (-hit.range_m / (0.8 * max_range)).exp();
    let haze = sky([d[0], d[1], 0.0], exposure);
    lerp3(haze, lit, fog)
}
