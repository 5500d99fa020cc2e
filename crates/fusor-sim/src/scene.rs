//! A snapshot of the world for ray casting, with a uniform 2D grid over the primitives.
//!
//! Static primitives sit in a grid built once per world; moving ones in a grid built per snapshot,
//! with bounds swept over the time window the snapshot serves. A ray carrying a time offset `dt`
//! from the snapshot sees each moving primitive displaced by `velocity · dt`, so objects move
//! during a lidar sweep without rebuilding anything per column.

use crate::geometry::{
    add, intersect_box, scale, CylinderPrim, Ground, Material, Primitive, Shape, ShapeHit, Surface, V3,
};
use crate::road::TownGrid;

/// A uniform grid over the xy plane listing, per cell, the primitives overlapping it
/// (compressed rows: `items[starts[c]..starts[c + 1]]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grid {
    x0: f64,
    y0: f64,
    cell_m: f64,
    nx: usize,
    ny: usize,
    starts: Vec<u32>,
    items: Vec<u32>,
    /// Highest z (m) of anything in each cell (−∞ when empty): rays passing above skip the cell.
    tops: Vec<f64>,
}

impl Grid {
    /// A grid over `[x_min, y_min, x_max, y_max]` (m) with square cells of `cell_m`, holding the
    /// primitives whose bounds (grown by `margins[i]` metres) overlap each cell; `tops[i]` is the
    /// highest z (m) of primitive `i`.
    pub fn build(area: [f64; 4], cell_m: f64, bounds: &[[f64; 4]], margins: &[f64], tops: &[f64]) -> Self {
        let nx = (((area[2] - area[0]) / cell_m).ceil() as usize).max(1);
        let ny = (((area[3] - area[1]) / cell_m).ceil() as usize).max(1);
        let mut counts = vec![0u32; nx * ny + 1];
        let range = |b: &[f64; 4], m: f64| {
            let cx = |v: f64| (((v - area[0]) / cell_m).floor().max(0.0) as usize).min(nx - 1);
            let cy = |v: f64| (((v - area[1]) / cell_m).floor().max(0.0) as usize).min(ny - 1);
            (cx(b[0] - m), cy(b[1] - m), cx(b[2] + m), cy(b[3] + m))
        };
        let mut spans = Vec::with_capacity(bounds.len());
        for (i, b) in bounds.iter().enumerate() {
            let m = margins.get(i).copied().unwrap_or(0.0);
            let inside = b[2] + m >= area[0] && b[0] - m <= area[2] && b[3] + m >= area[1] && b[1] - m <= area[3];
            let span = inside.then(|| range(b, m));
            if let Some((x0, y0, x1, y1)) = span {
                for iy in y0..=y1 {
                    for ix in x0..=x1 {
                        counts[iy * nx + ix + 1] += 1;
                    }
                }
            }
            spans.push(span);
        }
        for c in 1..counts.len() {
            counts[c] += counts[c - 1];
        }
        let mut fill = counts.clone();
        let mut items = vec![0u32; counts[nx * ny] as usize];
        let mut cell_tops = vec![f64::NEG_INFINITY; nx * ny];
        for (i, span) in spans.iter().enumerate() {
            if let Some((x0, y0, x1, y1)) = *span {
                let top = tops.get(i).copied().unwrap_or(f64::INFINITY);
                for iy in y0..=y1 {
                    for ix in x0..=x1 {
                        let c = iy * nx + ix;
                        items[fill[c] as usize] = i as u32;
                        fill[c] += 1;
                        cell_tops[c] = cell_tops[c].max(top);
                    }
                }
            }
        }
        Self { x0: area[0], y0: area[1], cell_m, nx, ny, starts: counts, items, tops: cell_tops }
    }

    /// The primitives of cell `c` (row-major index) when a ray whose lowest height over the cell
    /// is `z_low_m` can touch any of them.
    #[inline]
    fn cell_below(&self, c: usize, z_low_m: f64) -> &[u32] {
        if z_low_m > self.tops[c] {
            return &[];
        }
        &self.items[self.starts[c] as usize..self.starts[c + 1] as usize]
    }
}

/// A primitive ready for ray casting: boxes carry their yaw as cosine and sine, so a ray test
/// needs no trigonometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Prepared {
    shape: PreparedShape,
    /// Appearance and identity.
    pub(crate) surface: Surface,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PreparedShape {
    Box { center: V3, half: V3, cos_yaw: f64, sin_yaw: f64 },
    Cylinder(CylinderPrim),
}

impl Prepared {
    pub(crate) fn new(p: &Primitive) -> Self {
        let shape = match p.shape {
            Shape::Box(b) => {
                let (sin_yaw, cos_yaw) = b.yaw_rad.sin_cos();
                PreparedShape::Box { center: b.center, half: b.half, cos_yaw, sin_yaw }
            }
            Shape::Cylinder(c) => PreparedShape::Cylinder(c),
        };
        Self { shape, surface: p.surface }
    }

    #[inline]
    fn intersect(&self, o: V3, d: V3, t_max: f64) -> Option<ShapeHit> {
        match &self.shape {
            PreparedShape::Box { center, half, cos_yaw, sin_yaw } => {
                intersect_box(*center, *half, *cos_yaw, *sin_yaw, o, d, t_max)
            }
            PreparedShape::Cylinder(c) => c.intersect(o, d, t_max),
        }
    }
}

/// What a ray hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Distance from the ray origin in metres.
    pub range_m: f64,
    /// Hit point in metres (map), at the ray's time.
    pub point: V3,
    /// Outward unit normal (map).
    pub normal: V3,
    /// Surface at the hit (ground surfaces carry object id 0).
    pub surface: Surface,
}

/// A world snapshot at time `t_ref_s`, ready for ray casting.
#[derive(Debug)]
pub struct Scene<'w> {
    pub(crate) ground: Ground,
    pub(crate) town: Option<TownGrid>,
    pub(crate) statics: &'w [Prepared],
    pub(crate) static_grid: &'w Grid,
    pub(crate) dynamics: Vec<Prepared>,
    pub(crate) velocities: Vec<[f64; 2]>,
    pub(crate) dynamic_grid: Grid,
    pub(crate) max_z: f64,
    /// Simulation time of the snapshot in seconds.
    pub t_ref_s: f64,
}

/// Deterministic hash of a point on a 5 cm lattice, in [0, 1): foliage gaps without an RNG.
fn lattice_hash(p: V3) -> f64 {
    let q = |v: f64| (v * 20.0).floor() as i64 as u64;
    let mut h = q(p[0]).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ q(p[1]).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ q(p[2]).wrapping_mul(0x1656_67B1_9E37_79F9);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Scene<'_> {
    /// The primitives of ground-truth object `id` in this snapshot (posed at `t_ref_s`).
    pub(crate) fn object_parts(&self, id: u32) -> Vec<Prepared> {
        self.statics.iter().chain(&self.dynamics).filter(|p| p.surface.object_id == id).copied().collect()
    }

    /// Distance (m) along the unit ray `o + t d` to the first of `parts`, up to `max_range_m`.
    pub(crate) fn cast_parts(parts: &[Prepared], o: V3, d: V3, max_range_m: f64) -> Option<f64> {
        let mut t_limit = max_range_m;
        let mut hit = None;
        for p in parts {
            if let Some(h) = p.intersect(o, d, t_limit) {
                t_limit = h.t;
                hit = Some(h.t);
            }
        }
        hit
    }

    /// The ground surface at (x, y) in metres (map).
    pub fn ground_surface(&self, x: f64, y: f64) -> Surface {
        let material = self.town.map_or(Material::Asphalt, |t| t.ground_material(x, y));
        Surface { material, color: material.base_color(), object_id: 0 }
    }

    /// Casts the ray `o + t d` (`d` unit, map frame) up to `max_range_m`, `dt_s` seconds after the
    /// snapshot (moving primitives are displaced by their velocity times `dt_s`).
    pub fn cast(&self, o: V3, d: V3, max_range_m: f64, dt_s: f64) -> Option<Hit> {
        let ground_t = self.ground.intersect(o, d).filter(|&t| t < max_range_m);
        let mut t_limit = ground_t.unwrap_or(max_range_m);
        let mut best: Option<(f64, V3, Surface)> = None;

        let g = self.static_grid;
        // Clip the ray to the grid area.
        let (mut t0, mut t1) = (0.0f64, t_limit);
        for k in 0..2 {
            let (lo, hi) =
                if k == 0 { (g.x0, g.x0 + g.nx as f64 * g.cell_m) } else { (g.y0, g.y0 + g.ny as f64 * g.cell_m) };
            if d[k].abs() < 1e-12 {
                if o[k] < lo || o[k] > hi {
                    t1 = -1.0;
                }
            } else {
                let (a, b) = ((lo - o[k]) / d[k], (hi - o[k]) / d[k]);
                t0 = t0.max(a.min(b));
                t1 = t1.min(a.max(b));
            }
        }
        if t0 <= t1 {
            let start = add(o, scale(d, t0));
            let mut ix = (((start[0] - g.x0) / g.cell_m).floor().max(0.0) as usize).min(g.nx - 1);
            let mut iy = (((start[1] - g.y0) / g.cell_m).floor().max(0.0) as usize).min(g.ny - 1);
            let next = |i: usize, o: f64, d: f64, origin: f64| {
                if d > 0.0 {
                    (origin + (i + 1) as f64 * g.cell_m - o) / d
                } else if d < 0.0 {
                    (origin + i as f64 * g.cell_m - o) / d
                } else {
                    f64::INFINITY
                }
            };
            let mut t_next_x = next(ix, o[0], d[0], g.x0);
            let mut t_next_y = next(iy, o[1], d[1], g.y0);
            let dtx = if d[0] != 0.0 { g.cell_m / d[0].abs() } else { f64::INFINITY };
            let dty = if d[1] != 0.0 { g.cell_m / d[1].abs() } else { f64::INFINITY };
            let mut t = t0;
            let has_dynamics = !self.dynamics.is_empty();
            loop {
                if d[2] > 0.0 && o[2] + t * d[2] > self.max_z {
                    break; // Rising above everything.
                }
                let t_exit = t_next_x.min(t_next_y);
                // The ray's lowest point over this cell: cells it passes above are skipped.
                let z_low = o[2] + d[2] * if d[2] >= 0.0 { t } else { t_exit.min(t_limit) };
                let c = iy * g.nx + ix;
                for &i in g.cell_below(c, z_low) {
                    let p = &self.statics[i as usize];
                    if let Some(h) = p.intersect(o, d, t_limit) {
                        let porosity = p.surface.material.porosity();
                        if porosity > 0.0 && lattice_hash(add(o, scale(d, h.t))) < porosity {
                            continue;
                        }
                        t_limit = h.t;
                        best = Some((h.t, h.normal, p.surface));
                    }
                }
                if has_dynamics {
                    // Both grids share the area and cell size, hence the cell index.
                    for &i in self.dynamic_grid.cell_below(c, z_low) {
                        let p = &self.dynamics[i as usize];
                        let v = self.velocities[i as usize];
                        let od = [o[0] - v[0] * dt_s, o[1] - v[1] * dt_s, o[2]];
                        if let Some(h) = p.intersect(od, d, t_limit) {
                            t_limit = h.t;
                            best = Some((h.t, h.normal, p.surface));
                        }
                    }
                }
                if t_limit <= t_exit || t_exit >= t1 {
                    break;
                }
                t = t_exit;
                if t_next_x < t_next_y {
                    t_next_x += dtx;
                    if d[0] > 0.0 {
                        ix += 1;
                        if ix >= g.nx {
                            break;
                        }
                    } else {
                        if ix == 0 {
                            break;
                        }
                        ix -= 1;
                    }
                } else {
                    t_next_y += dty;
                    if d[1] > 0.0 {
                        iy += 1;
                        if iy >= g.ny {
                            break;
                        }
                    } else {
                        if iy == 0 {
                            break;
                        }
                        iy -= 1;
                    }
                }
            }
        }
        if let Some((t, normal, surface)) = best {
            return Some(Hit { range_m: t, point: add(o, scale(d, t)), normal, surface });
        }
        ground_t.map(|t| {
            let point = add(o, scale(d, t));
            Hit { range_m: t, point, normal: self.ground.normal(), surface: self.ground_surface(point[0], point[1]) }
        })
    }
}
