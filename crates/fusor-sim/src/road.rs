//! The road network: a town grid of two-lane-each-way roads with parking strips and sidewalks.
//!
//! Roads run along x and y through a square grid of junction nodes. Across a road (distance from
//! its centre line): lanes to 7 m (2 × 3.5 m each way, right-hand traffic), a parking strip to
//! 9.5 m, a sidewalk to 12.5 m; block interiors beyond are lawn. The lane markings are data
//! ([`TownGrid::markings`]) and the ground material is analytic ([`TownGrid::ground_material`]).

pub use crate::lanelet2::export_lanelet2_osm;

use crate::geometry::Material;
use crate::rng::SimRng;
use rand::Rng;

/// Width of one lane in metres.
pub const LANE_WIDTH_M: f64 = 3.5;
/// Lanes per direction.
pub const LANES_PER_DIRECTION: usize = 2;
/// Distance from the centre line to the outer lane edge, in metres.
pub const CARRIAGEWAY_HALF_M: f64 = LANE_WIDTH_M * LANES_PER_DIRECTION as f64;
/// Distance from the centre line to the curb (outer edge of the parking strip), in metres.
pub const CURB_OFFSET_M: f64 = CARRIAGEWAY_HALF_M + 2.5;
/// Distance from the centre line to the outer edge of the sidewalk, in metres.
pub const SIDEWALK_OUTER_M: f64 = CURB_OFFSET_M + 3.0;
/// Offset of the parking strip centre from the centre line, in metres.
pub const PARKING_OFFSET_M: f64 = (CARRIAGEWAY_HALF_M + CURB_OFFSET_M) / 2.0;
/// Offset of the pedestrians' walking line from the centre line, in metres.
pub const WALK_OFFSET_M: f64 = CURB_OFFSET_M + 1.7;

/// Offset (m, to the right of travel) of lane `k` (0 = inner, next to the centre line).
pub fn lane_offset_m(k: usize) -> f64 {
    LANE_WIDTH_M * (k as f64 + 0.5)
}

/// Kind of a painted line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkingKind {
    /// Continuous line.
    Solid,
    /// Dashed line (3 m paint, 6 m gap).
    Dashed,
    /// Double yellow centre line.
    DoubleYellow,
}

/// A painted line along a road leg between two junctions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaneMarking {
    /// Start of the line (x, y) in metres (map).
    pub start: [f64; 2],
    /// End of the line (x, y) in metres (map).
    pub end: [f64; 2],
    /// Paint kind.
    pub kind: MarkingKind,
    /// Line width in metres.
    pub width_m: f64,
}

/// A square grid of junctions `n × n`, `spacing_m` apart, centred on the map origin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TownGrid {
    /// Junctions per side.
    pub n: usize,
    /// Distance between neighbouring junctions in metres.
    pub spacing_m: f64,
}

const DASH_PERIOD_M: f64 = 9.0;
const DASH_PAINT_M: f64 = 3.0;
const LINE_HALF_WIDTH_M: f64 = 0.075;

impl TownGrid {
    /// Coordinate (m) of grid line `i` (same for x and y).
    pub fn line_m(&self, i: usize) -> f64 {
        (i as f64 - (self.n as f64 - 1.0) / 2.0) * self.spacing_m
    }

    /// Junction `(i, j)` in metres (map).
    pub fn node(&self, i: usize, j: usize) -> [f64; 2] {
        [self.line_m(i), self.line_m(j)]
    }

    /// Half the extent of the road network (outer sidewalk edge) in metres.
    pub fn half_extent_m(&self) -> f64 {
        self.line_m(self.n - 1) + SIDEWALK_OUTER_M
    }

    /// Index of the nearest grid line to `v` and the signed offset from it (m).
    fn nearest_line(&self, v: f64) -> (usize, f64) {
        let k = (v / self.spacing_m + (self.n as f64 - 1.0) / 2.0).round().clamp(0.0, self.n as f64 - 1.0);
        let i = k as usize;
        (i, v - self.line_m(i))
    }

    /// Ground material at (x, y) in metres (map).
    pub fn ground_material(&self, x: f64, y: f64) -> Material {
        let lo = self.line_m(0);
        let hi = self.line_m(self.n - 1);
        let (_, dx) = self.nearest_line(x);
        let (_, dy) = self.nearest_line(y);
        // Distance across the nearest north-south road (dx) and east-west road (dy), if within
        // the network along the road.
        let in_y = y >= lo - CURB_OFFSET_M && y <= hi + CURB_OFFSET_M;
        let in_x = x >= lo - CURB_OFFSET_M && x <= hi + CURB_OFFSET_M;
        let across_ns = if in_y { dx.abs() } else { f64::INFINITY };
        let across_ew = if in_x { dy.abs() } else { f64::INFINITY };
        let ns_road = across_ns <= CURB_OFFSET_M;
        let ew_road = across_ew <= CURB_OFFSET_M;
        match (ns_road, ew_road) {
            (true, true) => Material::Asphalt,
            (true, false) => {
                if across_ew <= SIDEWALK_OUTER_M && in_x {
                    crosswalk(dx)
                } else {
                    road_paint(dx, y)
                }
            }
            (false, true) => {
                if across_ns <= SIDEWALK_OUTER_M && in_y {
                    crosswalk(dy)
                } else {
                    road_paint(dy, x)
                }
            }
            (false, false) => {
                let sidewalk_ns = across_ns <= SIDEWALK_OUTER_M;
                let sidewalk_ew = across_ew <= SIDEWALK_OUTER_M;
                if sidewalk_ns || sidewalk_ew {
                    Material::Concrete
                } else {
                    Material::Grass
                }
            }
        }
    }

    /// The painted lines of every road leg: double yellow centre, dashed lane dividers, solid
    /// edge lines. Legs stop at the junction boxes.
    pub fn markings(&self) -> Vec<LaneMarking> {
        let mut out = Vec::new();
        let lines = [
            (0.0, MarkingKind::DoubleYellow, 0.4),
            (LANE_WIDTH_M, MarkingKind::Dashed, 2.0 * LINE_HALF_WIDTH_M),
            (-LANE_WIDTH_M, MarkingKind::Dashed, 2.0 * LINE_HALF_WIDTH_M),
            (CARRIAGEWAY_HALF_M, MarkingKind::Solid, 2.0 * LINE_HALF_WIDTH_M),
            (-CARRIAGEWAY_HALF_M, MarkingKind::Solid, 2.0 * LINE_HALF_WIDTH_M),
        ];
        for fixed in 0..self.n {
            for leg in 0..self.n - 1 {
                let a = self.line_m(leg) + SIDEWALK_OUTER_M;
                let b = self.line_m(leg + 1) - SIDEWALK_OUTER_M;
                let c = self.line_m(fixed);
                for &(off, kind, width_m) in &lines {
                    // East-west road at y = c, and north-south road at x = c.
                    out.push(LaneMarking { start: [a, c + off], end: [b, c + off], kind, width_m });
                    out.push(LaneMarking { start: [c + off, a], end: [c + off, b], kind, width_m });
                }
            }
        }
        out
    }

    /// A random walk over junctions (no U-turns, staying in the grid) of at least `min_length_m`.
    pub fn random_route(&self, rng: &mut SimRng, min_length_m: f64) -> Vec<[f64; 2]> {
        let n = self.n as i64;
        let mut cur = (rng.gen_range(0..n), rng.gen_range(0..n));
        let dirs = [(1i64, 0i64), (0, 1), (-1, 0), (0, -1)];
        let valid = |p: (i64, i64), d: (i64, i64)| (0..n).contains(&(p.0 + d.0)) && (0..n).contains(&(p.1 + d.1));
        let mut d = dirs[rng.gen_range(0..4)];
        while !valid(cur, d) {
            d = dirs[rng.gen_range(0..4)];
        }
        let mut nodes = vec![self.node(cur.0 as usize, cur.1 as usize)];
        let mut length = 0.0;
        // The first leg is entered part way, so ask for one spare leg.
        while length < min_length_m + self.spacing_m {
            cur = (cur.0 + d.0, cur.1 + d.1);
            nodes.push(self.node(cur.0 as usize, cur.1 as usize));
            length += self.spacing_m;
            let left = (-d.1, d.0);
            let right = (d.1, -d.0);
            let options: Vec<((i64, i64), f64)> =
                [(d, 2.0), (left, 1.0), (right, 1.0)].into_iter().filter(|&(o, _)| valid(cur, o)).collect();
            let total: f64 = options.iter().map(|o| o.1).sum();
            let mut pick = rng.gen::<f64>() * total;
            d = options.last().map_or((-d.0, -d.1), |o| o.0);
            for (o, w) in options {
                if pick < w {
                    d = o;
                    break;
                }
                pick -= w;
            }
        }
        nodes
    }
}

/// Paint across a road: `across` from the centre line (m), `along` the road (m).
fn road_paint(across: f64, along: f64) -> Material {
    let a = across.abs();
    if (0.1..=0.2).contains(&a) {
        return Material::MarkingYellow;
    }
    if (a - LANE_WIDTH_M).abs() <= LINE_HALF_WIDTH_M && along.rem_euclid(DASH_PERIOD_M) < DASH_PAINT_M {
        return Material::MarkingWhite;
    }
    if (a - CARRIAGEWAY_HALF_M).abs() <= LINE_HALF_WIDTH_M {
        return Material::MarkingWhite;
    }
    Material::Asphalt
}

/// Zebra crossing: 0.5 m stripes along the crossed road, `across_crossed_road` (m) from its centre.
fn crosswalk(across_crossed_road: f64) -> Material {
    if across_crossed_road.abs() < CARRIAGEWAY_HALF_M && across_crossed_road.rem_euclid(1.0) < 0.5 {
        Material::MarkingWhite
    } else {
        Material::Asphalt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_section_has_lanes_parking_sidewalk_and_lawn() {
        let g = TownGrid { n: 3, spacing_m: 80.0 };
        // Between junctions (0,0) and (1,0) on the east-west road at y = -80.
        let y0 = g.line_m(0);
        let x = -40.0;
        assert_eq!(g.ground_material(x, y0 + 2.0), Material::Asphalt);
        assert_eq!(g.ground_material(x, y0 + 0.15), Material::MarkingYellow);
        assert_eq!(g.ground_material(x, y0 + CARRIAGEWAY_HALF_M), Material::MarkingWhite);
        assert_eq!(g.ground_material(x, y0 + 11.0), Material::Concrete);
        assert_eq!(g.ground_material(x, y0 + 30.0), Material::Grass);
        assert!(!g.markings().is_empty());
    }
}
