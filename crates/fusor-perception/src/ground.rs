//! Zone-based polar-grid ground segmentation (after Patchwork, Lim et al. 2021).
//!
//! The plane `z = const` is wrong on slopes and at curbs, so the ground is fitted locally: the
//! annulus around the origin is cut into concentric zones of rings × sectors (finer sectors in
//! the middle zones where points are dense, coarser far away), and each bin gets its own plane:
//!
//! 1. seeds: points less than `seed_threshold_m` above the bin's lowest-point representative
//!    (the mean of its `lpr_points` lowest z), robust to a single low outlier;
//! 2. `iterations` × PCA: the plane normal is the covariance's smallest eigenvector; the next
//!    ground set is every point less than `distance_threshold_m` above that plane;
//! 3. acceptance, inner rings first: the plane must be upright (normal within `max_slope_deg` of
//!    +z; a car side or wall filling a bin fails) and its height at the bin centre must not rise
//!    more than the slope allows plus `max_step_m` over the accepted ground inwards along the
//!    same bearing (car roofs fail, curbs and ramps pass);
//! 4. labels: a point is ground when it is less than `distance_threshold_m` above its bin's
//!    plane, or, for rejected and sparse bins, above the ground inwards of it.
//!
//! Each point also gets its height above the local ground, which later stages use (height cap
//! before clustering, box bottoms on the ground).
//!
//! Work is O(points) plus O(bins · iterations); bin fits run in parallel with rayon.

use crate::error::Result;
use crate::params::GroundParams;
use nalgebra::{Matrix3, Vector3};
use rayon::prelude::*;

/// Angular cells of the bearing-indexed reference used by the continuity check; a multiple of
/// every default sector count (16, 32, 54) so bins map onto whole cells.
const REF_CELLS: usize = 864;

/// The polar grid: bin of a point, and bin geometry.
#[derive(Debug, Clone)]
struct PolarGrid {
    radii: Vec<f32>,
    rings: Vec<u32>,
    sectors: Vec<u32>,
    ring_width: Vec<f32>,
    /// First bin index of each zone.
    zone_offset: Vec<u32>,
    /// First bin of each global ring, and its zone; rings are ordered inner to outer.
    ring_first_bin: Vec<u32>,
    ring_zone: Vec<u32>,
    bins: usize,
}

impl PolarGrid {
    fn new(p: &GroundParams) -> Self {
        let mut zone_offset = Vec::new();
        let mut ring_first_bin = Vec::new();
        let mut ring_zone = Vec::new();
        let mut ring_width = Vec::new();
        let mut next = 0u32;
        for (z, (&rings, &sectors)) in p.zone_rings.iter().zip(&p.zone_sectors).enumerate() {
            zone_offset.push(next);
            ring_width.push((p.zone_radii_m[z + 1] - p.zone_radii_m[z]) / rings as f32);
            for _ in 0..rings {
                ring_first_bin.push(next);
                ring_zone.push(z as u32);
                next += sectors;
            }
        }
        Self {
            radii: p.zone_radii_m.clone(),
            rings: p.zone_rings.clone(),
            sectors: p.zone_sectors.clone(),
            ring_width,
            zone_offset,
            ring_first_bin,
            ring_zone,
            bins: next as usize,
        }
    }

    /// Bin index of a point at planar range `r` and position (x, y); `None` outside the annulus.
    #[inline]
    fn bin(&self, r: f32, x: f32, y: f32) -> Option<u32> {
        let last = *self.radii.last()?;
        if !(r >= self.radii[0] && r < last) {
            return None;
        }
        let mut z = 0;
        while z + 2 < self.radii.len() && r >= self.radii[z + 1] {
            z += 1;
        }
        let ring = (((r - self.radii[z]) / self.ring_width[z]) as u32).min(self.rings[z] - 1);
        let turns = fast_atan2(y, x) * (0.5 / std::f32::consts::PI) + 0.5; // 0..1
        let sectors = self.sectors[z];
        let sector = ((turns * sectors as f32) as u32).min(sectors - 1);
        Some(self.zone_offset[z] + ring * sectors + sector)
    }

    /// (zone, ring in zone, sector) of a bin.
    fn locate(&self, bin: u32) -> (usize, u32, u32) {
        let mut z = self.zone_offset.len() - 1;
        while self.zone_offset[z] > bin {
            z -= 1;
        }
        let local = bin - self.zone_offset[z];
        (z, local / self.sectors[z], local % self.sectors[z])
    }

    /// Centre radius of a bin.
    fn center_radius(&self, bin: u32) -> f32 {
        let (z, ring, _) = self.locate(bin);
        self.radii[z] + (ring as f32 + 0.5) * self.ring_width[z]
    }

    /// Centre (x, y) of a bin.
    fn center_xy(&self, bin: u32) -> (f32, f32) {
        let (z, _, sector) = self.locate(bin);
        let r = self.center_radius(bin);
        let angle = ((sector as f32 + 0.5) / self.sectors[z] as f32 - 0.5) * 2.0 * std::f32::consts::PI;
        (r * angle.cos(), r * angle.sin())
    }

    /// Range of reference cells `[start, end)` a bin covers along the bearing.
    fn ref_cells(&self, bin: u32) -> (usize, usize) {
        let (z, _, sector) = self.locate(bin);
        let s = self.sectors[z] as usize;
        let start = sector as usize * REF_CELLS / s;
        let end = ((sector as usize + 1) * REF_CELLS / s).max(start + 1);
        (start, end.min(REF_CELLS))
    }
}

/// atan2 with ~1e-4 rad error, several times faster than `f32::atan2`; enough to pick a sector.
#[inline]
fn fast_atan2(y: f32, x: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, PI};
    let (ax, ay) = (x.abs(), y.abs());
    let (mn, mx) = if ax < ay { (ax, ay) } else { (ay, ax) };
    if mx == 0.0 {
        return 0.0;
    }
    let a = mn / mx;
    let s = a * a;
    // Minimax polynomial for atan on [0, 1].
    let mut r = ((-0.046_496_473 * s + 0.159_314_22) * s - 0.327_622_77) * s * a + a;
    if ay > ax {
        r = FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 {
        -r
    } else {
        r
    }
}

/// The fitted plane of one bin: `normal · p + offset = height of p above the plane`.
#[derive(Debug, Clone, Copy, Default)]
struct BinFit {
    normal: [f32; 3],
    offset: f32,
    fitted: bool,
}

impl BinFit {
    #[inline]
    fn height(&self, x: f32, y: f32, z: f32) -> f32 {
        self.normal[0] * x + self.normal[1] * y + self.normal[2] * z + self.offset
    }

    /// Plane z at (x, y).
    fn z_at(&self, x: f32, y: f32) -> f32 {
        -(self.offset + self.normal[0] * x + self.normal[1] * y) / self.normal[2]
    }
}

/// What became of each bin.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum BinState {
    /// Too few points: labelled against the reference ground.
    #[default]
    Sparse,
    /// Plane accepted.
    Accepted,
    /// Plane rejected (too steep or too high): labelled against the reference ground.
    Rejected,
}

/// Per-point ground labels, parallel to the input columns.
#[derive(Debug, Clone, Default)]
pub struct GroundLabels {
    /// True for ground points.
    pub is_ground: Vec<bool>,
    /// Height above the local ground in metres (negative below it); points outside the grid get
    /// their height above `origin_ground_z_m`.
    pub height_above_ground_m: Vec<f32>,
    /// Bins whose plane was accepted.
    pub bins_accepted: usize,
    /// Bins whose plane was rejected (too steep, or a step too high: roofs, walls).
    pub bins_rejected: usize,
    /// Points outside the grid's annulus (labelled non-ground).
    pub points_outside_grid: usize,
}

/// The ground segmenter: the grid and reusable buffers (no allocation per scan once warm).
#[derive(Debug, Clone)]
pub struct GroundSegmenter {
    params: GroundParams,
    grid: PolarGrid,
    bin_of_point: Vec<u32>,
    bin_start: Vec<u32>,
    order: Vec<u32>,
    fits: Vec<BinFit>,
    states: Vec<BinState>,
    /// Reference ground z used to label each bin's points when it has no accepted plane.
    bin_ref_z: Vec<f32>,
}

const OUTSIDE: u32 = u32::MAX;

impl GroundSegmenter {
    /// A segmenter for `params` (validated as part of [`PerceptionParams`](crate::PerceptionParams)).
    pub fn new(params: &GroundParams) -> Result<Self> {
        crate::PerceptionParams { ground: params.clone(), ..Default::default() }.validate()?;
        let grid = PolarGrid::new(params);
        Ok(Self {
            params: params.clone(),
            grid,
            bin_of_point: Vec::new(),
            bin_start: Vec::new(),
            order: Vec::new(),
            fits: Vec::new(),
            states: Vec::new(),
            bin_ref_z: Vec::new(),
        })
    }

    /// Labels the points given as columns (metres, z-up frame centred on the sensor). The columns
    /// must have equal length and finite values (the pipeline's sanitiser guarantees both);
    /// extra values of a longer column are ignored.
    pub fn segment(&mut self, x: &[f32], y: &[f32], z: &[f32], out: &mut GroundLabels) {
        let n = x.len().min(y.len()).min(z.len());
        let bins = self.grid.bins;
        let p = &self.params;

        // 1. Bin every point and counting-sort point indices by bin.
        self.bin_of_point.clear();
        self.bin_of_point.resize(n, OUTSIDE);
        let grid = &self.grid;
        self.bin_of_point.par_chunks_mut(8192).enumerate().for_each(|(chunk, slots)| {
            let base = chunk * 8192;
            for (k, slot) in slots.iter_mut().enumerate() {
                let i = base + k;
                let (px, py) = (x[i], y[i]);
                *slot = grid.bin((px * px + py * py).sqrt(), px, py).unwrap_or(OUTSIDE);
            }
        });
        self.bin_start.clear();
        self.bin_start.resize(bins + 1, 0);
        let mut outside = 0usize;
        for &b in &self.bin_of_point {
            if b == OUTSIDE {
                outside += 1;
            } else {
                self.bin_start[b as usize + 1] += 1;
            }
        }
        for b in 0..bins {
            self.bin_start[b + 1] += self.bin_start[b];
        }
        self.order.clear();
        self.order.resize(self.bin_start[bins] as usize, 0);
        {
            let mut cursor: Vec<u32> = self.bin_start[..bins].to_vec();
            for (i, &b) in self.bin_of_point.iter().enumerate() {
                if b != OUTSIDE {
                    let c = &mut cursor[b as usize];
                    self.order[*c as usize] = i as u32;
                    *c += 1;
                }
            }
        }

        // 2. Fit a plane per bin, in parallel.
        let (order, bin_start) = (&self.order, &self.bin_start);
        (0..bins)
            .into_par_iter()
            .map_init(Vec::new, |zs: &mut Vec<f32>, b| {
                let idx = &order[bin_start[b] as usize..bin_start[b + 1] as usize];
                fit_bin(idx, x, y, z, p, zs)
            })
            .collect_into_vec(&mut self.fits);

        // 3. Accept or reject, inner rings first, against the ground inwards along each bearing.
        self.states.clear();
        self.states.resize(bins, BinState::Sparse);
        self.bin_ref_z.clear();
        self.bin_ref_z.resize(bins, p.origin_ground_z_m);
        let mut ref_z = [p.origin_ground_z_m; REF_CELLS];
        let mut ref_r = [0.0f32; REF_CELLS];
        let tan_slope = p.max_slope_deg.to_radians().tan();
        let min_upright = p.max_slope_deg.to_radians().cos();
        let (mut accepted, mut rejected) = (0, 0);
        for (ring, &first) in self.grid.ring_first_bin.iter().enumerate() {
            let sectors = self.grid.sectors[self.grid.ring_zone[ring] as usize];
            let mut updates: Vec<(usize, usize, f32, f32)> = Vec::new();
            for b in first..first + sectors {
                let bi = b as usize;
                let (c0, c1) = self.grid.ref_cells(b);
                let cells = (c1 - c0) as f32;
                let base_z = ref_z[c0..c1].iter().sum::<f32>() / cells;
                let base_r = ref_r[c0..c1].iter().sum::<f32>() / cells;
                let r = self.grid.center_radius(b);
                let allowed_z = base_z + tan_slope * (r - base_r).max(0.0) + p.max_step_m;
                // Bins without an accepted plane inherit the reference, raised along the slope
                // only as far as a level road would go (no step allowance).
                self.bin_ref_z[bi] = base_z;
                let fit = self.fits[bi];
                if !fit.fitted {
                    continue;
                }
                let (cx, cy) = self.grid.center_xy(b);
                let plane_z = fit.z_at(cx, cy);
                if fit.normal[2] >= min_upright && plane_z.is_finite() && plane_z <= allowed_z {
                    self.states[bi] = BinState::Accepted;
                    accepted += 1;
                    updates.push((c0, c1, plane_z, r));
                } else {
                    self.states[bi] = BinState::Rejected;
                    rejected += 1;
                }
            }
            for (c0, c1, zz, r) in updates {
                ref_z[c0..c1].fill(zz);
                ref_r[c0..c1].fill(r);
            }
        }

        // 4. Label points.
        out.is_ground.clear();
        out.is_ground.resize(n, false);
        out.height_above_ground_m.clear();
        out.height_above_ground_m.resize(n, 0.0);
        let threshold = p.distance_threshold_m;
        let (fits, states, bin_ref_z, bin_of_point) = (&self.fits, &self.states, &self.bin_ref_z, &self.bin_of_point);
        let origin_z = p.origin_ground_z_m;
        out.is_ground.par_chunks_mut(8192).zip(out.height_above_ground_m.par_chunks_mut(8192)).enumerate().for_each(
            |(chunk, (ground, height))| {
                let base = chunk * 8192;
                for k in 0..ground.len() {
                    let i = base + k;
                    let b = bin_of_point[i];
                    let h = if b == OUTSIDE {
                        z[i] - origin_z
                    } else if states[b as usize] == BinState::Accepted {
                        fits[b as usize].height(x[i], y[i], z[i])
                    } else {
                        z[i] - bin_ref_z[b as usize]
                    };
                    height[k] = h;
                    ground[k] = b != OUTSIDE && h < threshold;
                }
            },
        );
        out.bins_accepted = accepted;
        out.bins_rejected = rejected;
        out.points_outside_grid = outside;
    }
}

/// Fits one bin's plane from its point indices; `zs` is scratch.
fn fit_bin(idx: &[u32], x: &[f32], y: &[f32], z: &[f32], p: &GroundParams, zs: &mut Vec<f32>) -> BinFit {
    if idx.len() < p.min_bin_points {
        return BinFit::default();
    }
    // Lowest-point representative.
    zs.clear();
    zs.extend(idx.iter().map(|&i| z[i as usize]));
    let k = p.lpr_points.min(zs.len());
    if k < zs.len() {
        zs.select_nth_unstable_by(k - 1, f32::total_cmp);
    }
    let lpr = zs[..k].iter().sum::<f32>() / k as f32;

    // Seeds, then iterative PCA refits. Sums in f64 around a local origin (the bin's first point)
    // keep the covariance well conditioned far from the sensor.
    let o = idx[0] as usize;
    let (ox, oy, oz) = (x[o], y[o], z[o]);
    let mut fit = BinFit::default();
    let select = |fit: Option<&BinFit>| -> Option<BinFit> {
        let mut s = [0.0f64; 9]; // n, sx, sy, sz, sxx, sxy, sxz, syy, syz ... szz below
        let mut szz = 0.0f64;
        for &i in idx {
            let i = i as usize;
            let keep = match fit {
                None => z[i] < lpr + p.seed_threshold_m,
                Some(f) => f.height(x[i], y[i], z[i]) < p.distance_threshold_m,
            };
            if keep {
                let (dx, dy, dz) = (f64::from(x[i] - ox), f64::from(y[i] - oy), f64::from(z[i] - oz));
                s[0] += 1.0;
                s[1] += dx;
                s[2] += dy;
                s[3] += dz;
                s[4] += dx * dx;
                s[5] += dx * dy;
                s[6] += dx * dz;
                s[7] += dy * dy;
                s[8] += dy * dz;
                szz += dz * dz;
            }
        }
        let count = s[0];
        if count < 3.0 {
            return None;
        }
        let (mx, my, mz) = (s[1] / count, s[2] / count, s[3] / count);
        let cov = Matrix3::new(
            s[4] / count - mx * mx,
            s[5] / count - mx * my,
            s[6] / count - mx * mz,
            s[5] / count - mx * my,
            s[7] / count - my * my,
            s[8] / count - my * mz,
            s[6] / count - mx * mz,
            s[8] / count - my * mz,
            szz / count - mz * mz,
        );
        let eig = cov.symmetric_eigen();
        let (mut min_i, mut min_v) = (0, f64::INFINITY);
        for (i, &v) in eig.eigenvalues.iter().enumerate() {
            if v < min_v {
                (min_i, min_v) = (i, v);
            }
        }
        let mut nrm: Vector3<f64> = eig.eigenvectors.column(min_i).into_owned();
        if nrm.z < 0.0 {
            nrm = -nrm;
        }
        if !nrm.iter().all(|v| v.is_finite()) || nrm.norm() < 0.5 {
            return None;
        }
        let nrm = nrm.normalize();
        // Plane through the mean (in world coordinates).
        let (wx, wy, wz) = (mx + f64::from(ox), my + f64::from(oy), mz + f64::from(oz));
        let offset = -(nrm.x * wx + nrm.y * wy + nrm.z * wz);
        Some(BinFit { normal: [nrm.x as f32, nrm.y as f32, nrm.z as f32], offset: offset as f32, fitted: true })
    };
    let Some(first) = select(None) else {
        return fit;
    };
    fit = first;
    for _ in 1..p.iterations {
        match select(Some(&fit)) {
            Some(f) => fit = f,
            None => break,
        }
    }
    fit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_atan2_matches_std_within_a_milliradian() {
        for i in 0..720 {
            let a = (i as f32 / 2.0 - 180.0).to_radians();
            let (x, y) = (a.cos() * 7.0, a.sin() * 7.0);
            assert!((fast_atan2(y, x) - y.atan2(x)).abs() < 1e-3, "{a}");
        }
        assert_eq!(fast_atan2(0.0, 0.0), 0.0);
    }

    #[test]
    fn every_bin_maps_to_reference_cells_and_back() {
        let grid = PolarGrid::new(&GroundParams::default());
        assert_eq!(grid.bins, 2 * 16 + 4 * 32 + 4 * 54 + 4 * 32);
        for b in 0..grid.bins as u32 {
            let (x, y) = grid.center_xy(b);
            assert_eq!(grid.bin((x * x + y * y).sqrt(), x, y), Some(b));
            let (c0, c1) = grid.ref_cells(b);
            assert!(c0 < c1 && c1 <= REF_CELLS);
        }
    }
}
