//! A spinning multi-beam lidar: ray cast per beam and azimuth step while the car moves.

use crate::geometry::{dot, V3};
use crate::rng::{gauss, stream, Purpose};
use crate::scene::Scene;
use crate::world::World;
use crate::{Result, SimError};
use fusor_core::{PointCloud, Stamp};
use nalgebra::{Isometry3, Point3, Vector3};
use rand::Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// The lidar model (HDL-64E-like defaults).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LidarConfig {
    /// Number of beams (rings), spread evenly over the vertical field of view.
    pub beams: u16,
    /// Elevation of the top beam in degrees.
    pub upper_fov_deg: f64,
    /// Elevation of the bottom beam in degrees.
    pub lower_fov_deg: f64,
    /// Revolutions per second (Hz); one scan per revolution.
    pub rate_hz: f64,
    /// Firings per revolution (azimuth resolution 360° / steps).
    pub azimuth_steps: u32,
    /// Farthest return in metres.
    pub max_range_m: f64,
    /// Closest return in metres.
    pub min_range_m: f64,
    /// Standard deviation of the range noise in metres.
    pub range_noise_m: f64,
    /// Probability that a return is lost regardless of range.
    pub dropout_prob: f64,
    /// Rings that return nothing (fault injection; set from the scenario's `faults`).
    #[serde(skip)]
    pub lost_beams: Vec<u16>,
}

impl Default for LidarConfig {
    fn default() -> Self {
        Self {
            beams: 64,
            upper_fov_deg: 2.0,
            lower_fov_deg: -24.9,
            rate_hz: 10.0,
            azimuth_steps: 2000,
            max_range_m: 120.0,
            min_range_m: 0.9,
            range_noise_m: 0.02,
            dropout_prob: 0.005,
            lost_beams: Vec::new(),
        }
    }
}

/// One lidar scan with what it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct LidarScan {
    /// Points in the `lidar` frame at each point's own time (`stamp + time_offset_s`), ordered by
    /// firing time, with `ring` and `time_offset_s` columns.
    pub cloud: PointCloud,
    /// Number of points on each ground-truth object id.
    pub points_per_object: BTreeMap<u32, u32>,
    /// Ground-truth object id of each point (0: ground, buildings, clutter): instance labels.
    pub point_object_ids: Vec<u32>,
}

struct ColumnOut {
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
    intensity: Vec<f32>,
    ring: Vec<u16>,
    time: Vec<f32>,
    objects: Vec<u32>,
}

impl LidarConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(SimError::invalid("lidar config", why));
        if self.beams == 0 || self.azimuth_steps == 0 {
            return bad("beams and azimuth_steps must be positive".into());
        }
        if !(self.rate_hz > 0.0 && self.rate_hz.is_finite()) {
            return bad(format!("rate_hz {} must be positive", self.rate_hz));
        }
        if !(self.max_range_m > self.min_range_m && self.min_range_m >= 0.0) {
            return bad("need 0 ≤ min_range_m < max_range_m".into());
        }
        if !(self.range_noise_m >= 0.0 && (0.0..=1.0).contains(&self.dropout_prob)) {
            return bad("range_noise_m must be ≥ 0 and dropout_prob in [0, 1]".into());
        }
        if self.upper_fov_deg < self.lower_fov_deg {
            return bad("upper_fov_deg below lower_fov_deg".into());
        }
        Ok(())
    }

    /// Elevation of each ring in radians, ring 0 the lowest.
    pub fn elevations_rad(&self) -> Vec<f64> {
        let n = self.beams.max(1);
        (0..n)
            .map(|r| {
                let f = if n == 1 { 0.0 } else { f64::from(r) / f64::from(n - 1) };
                (self.lower_fov_deg + f * (self.upper_fov_deg - self.lower_fov_deg)).to_radians()
            })
            .collect()
    }

    /// Sweep period in seconds.
    pub fn period_s(&self) -> f64 {
        1.0 / self.rate_hz
    }

    /// Azimuth (rad, about lidar z from x) of firing `k`: the sweep starts facing backwards and
    /// turns clockwise seen from above, like a Velodyne.
    pub fn azimuth_rad(&self, k: u32) -> f64 {
        std::f64::consts::PI - std::f64::consts::TAU * f64::from(k) / f64::from(self.azimuth_steps)
    }

    /// Time offset (s) from the scan stamp of firing `k`.
    pub fn time_offset_s(&self, k: u32) -> f64 {
        f64::from(k) / f64::from(self.azimuth_steps) * self.period_s()
    }

    /// Time offset (s) from the scan stamp at which the sweep points at azimuth `azimuth_rad`
    /// (about lidar z from x): the inverse of [`Self::azimuth_rad`] and [`Self::time_offset_s`],
    /// in [0, period). Straight behind is the seam: the sweep starts there.
    pub fn time_offset_at_azimuth(&self, azimuth_rad: f64) -> f64 {
        let turned = (std::f64::consts::PI - azimuth_rad).rem_euclid(std::f64::consts::TAU);
        (turned / std::f64::consts::TAU).min(1.0 - f64::EPSILON) * self.period_s()
    }

    /// Casts one revolution of `world` starting at drive time `t0_s`, stamped `stamp`.
    /// `map_from_lidar(dt)` gives the lidar pose `dt` seconds into the sweep. Moving actors are
    /// re-posed every 32 firings (1.6 ms at 10 Hz), so turning cars are not smeared. `seed` and
    /// `scan_index` key the noise, so the same inputs give the same scan on any thread count.
    pub fn scan(
        &self,
        world: &World,
        t0_s: f64,
        map_from_lidar: &(dyn Fn(f64) -> Isometry3<f64> + Sync),
        stamp: Stamp,
        seed: u64,
        scan_index: u64,
    ) -> LidarScan {
        let elevations = self.elevations_rad();
        let live: Vec<(u16, f64, f64)> = elevations
            .iter()
            .enumerate()
            .filter(|(r, _)| !self.lost_beams.contains(&(*r as u16)))
            .map(|(r, &e)| (r as u16, e.cos(), e.sin()))
            .collect();
        const CHUNK: u32 = 32;
        let chunks: Vec<u32> = (0..self.azimuth_steps.div_ceil(CHUNK)).collect();
        let parts: Vec<ColumnOut> = chunks
            .par_iter()
            .map(|&c| {
                let cols = c * CHUNK..((c + 1) * CHUNK).min(self.azimuth_steps);
                let t_chunk = self.time_offset_s(c * CHUNK);
                let scene = world.scene_at(t0_s + t_chunk);
                let cap = live.len() * CHUNK as usize;
                let mut out = ColumnOut {
                    x: Vec::with_capacity(cap),
                    y: Vec::with_capacity(cap),
                    z: Vec::with_capacity(cap),
                    intensity: Vec::with_capacity(cap),
                    ring: Vec::with_capacity(cap),
                    time: Vec::with_capacity(cap),
                    objects: Vec::with_capacity(cap),
                };
                for k in cols {
                    self.column(&scene, t_chunk, map_from_lidar, &live, k, seed, scan_index, &mut out);
                }
                out
            })
            .collect();
        let n: usize = parts.iter().map(|p| p.x.len()).sum();
        let mut cloud = PointCloud::with_capacity(stamp, crate::rig::LIDAR_FRAME, n);
        let mut ring = Vec::with_capacity(n);
        let mut time = Vec::with_capacity(n);
        let mut points_per_object = BTreeMap::new();
        let mut point_object_ids = Vec::with_capacity(n);
        for p in parts {
            cloud.x.extend_from_slice(&p.x);
            cloud.y.extend_from_slice(&p.y);
            cloud.z.extend_from_slice(&p.z);
            cloud.intensity.extend_from_slice(&p.intensity);
            ring.extend_from_slice(&p.ring);
            time.extend_from_slice(&p.time);
            point_object_ids.extend_from_slice(&p.objects);
            for id in p.objects.into_iter().filter(|&id| id != 0) {
                *points_per_object.entry(id).or_insert(0) += 1;
            }
        }
        cloud.ring = Some(ring);
        cloud.time_offset_s = Some(time);
        LidarScan { cloud, points_per_object, point_object_ids }
    }

    #[allow(clippy::too_many_arguments)]
    fn column(
        &self,
        scene: &Scene<'_>,
        scene_dt: f64,
        map_from_lidar: &(dyn Fn(f64) -> Isometry3<f64> + Sync),
        live: &[(u16, f64, f64)],
        k: u32,
        seed: u64,
        scan_index: u64,
        out: &mut ColumnOut,
    ) {
        let mut rng = stream(seed, Purpose::Lidar, scan_index, u64::from(k));
        let dt = self.time_offset_s(k);
        let pose = map_from_lidar(dt);
        let o: V3 = pose.translation.vector.into();
        let (sa, ca) = self.azimuth_rad(k).sin_cos();
        for &(ring, ce, se) in live {
            let d_lidar = Vector3::new(ce * ca, ce * sa, se);
            let d: V3 = (pose.rotation * d_lidar).into();
            let Some(hit) = scene.cast(o, d, self.max_range_m, dt - scene_dt) else {
                continue;
            };
            let refl = hit.surface.material.reflectivity();
            let frac = hit.range_m / self.max_range_m;
            let p_drop = self.dropout_prob + 0.15 * frac * frac * (1.0 - refl);
            if rng.gen::<f64>() < p_drop {
                continue;
            }
            let range = hit.range_m + self.range_noise_m * gauss(&mut rng);
            if range < self.min_range_m || range > self.max_range_m {
                continue;
            }
            let cos_inc = dot(hit.normal, d).abs();
            let intensity = (refl * (0.35 + 0.65 * cos_inc) * (1.0 + 0.05 * gauss(&mut rng))).clamp(0.0, 1.0);
            let p = Point3::from(d_lidar * range);
            out.x.push(p.x as f32);
            out.y.push(p.y as f32);
            out.z.push(p.z as f32);
            out.intensity.push(intensity as f32);
            out.ring.push(ring);
            out.time.push(dt as f32);
            out.objects.push(hit.surface.object_id);
        }
    }
}
