//! Planar geometry in the `map` frame (x east, y north, metres): polylines with arc length,
//! projection, segment intersection, distance to oriented rectangles.

use nalgebra::{Point2, Vector2};

/// A point in metres in the `map` frame (x east, y north).
pub type P2 = Point2<f64>;

/// Wraps an angle to (-π, π].
pub fn wrap_angle(a: f64) -> f64 {
    let w = (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI;
    if w <= -std::f64::consts::PI {
        w + std::f64::consts::TAU
    } else {
        w
    }
}

fn cross(a: Vector2<f64>, b: Vector2<f64>) -> f64 {
    a.x * b.y - a.y * b.x
}

/// True when the closed segments `a0-a1` and `b0-b1` share a point.
pub(crate) fn segments_intersect(a0: P2, a1: P2, b0: P2, b1: P2) -> bool {
    let d1 = cross(a1 - a0, b0 - a0);
    let d2 = cross(a1 - a0, b1 - a0);
    let d3 = cross(b1 - b0, a0 - b0);
    let d4 = cross(b1 - b0, a1 - b0);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    let on = |p: P2, q0: P2, q1: P2, d: f64| {
        d == 0.0 && p.x >= q0.x.min(q1.x) && p.x <= q0.x.max(q1.x) && p.y >= q0.y.min(q1.y) && p.y <= q0.y.max(q1.y)
    };
    on(b0, a0, a1, d1) || on(b1, a0, a1, d2) || on(a0, b0, b1, d3) || on(a1, b0, b1, d4)
}

/// The first pair of non-adjacent segments `(i, j)` (segment `i` runs from point `i` to `i + 1`)
/// of an open polyline that touch or cross, if any. A closed polyline (first point equal to the
/// last) does not count its closing vertex as an intersection.
pub(crate) fn self_intersection(pts: &[P2]) -> Option<(usize, usize)> {
    let n = pts.len();
    if n < 4 {
        return None;
    }
    let closed = pts[0] == pts[n - 1];
    for i in 0..n - 1 {
        for j in i + 2..n - 1 {
            if closed && i == 0 && j == n - 2 {
                continue;
            }
            if segments_intersect(pts[i], pts[i + 1], pts[j], pts[j + 1]) {
                return Some((i, j));
            }
        }
    }
    None
}

/// Where a point projects onto a [`Polyline`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// Arc length of the foot point from the polyline's start, in metres.
    pub s_m: f64,
    /// Signed lateral offset in metres, positive to the left of the direction of travel.
    pub d_m: f64,
    /// Index of the segment holding the foot point.
    pub segment: usize,
}

/// A polyline with cumulative arc length, in metres in `map`.
#[derive(Debug, Clone, PartialEq)]
pub struct Polyline {
    points: Vec<P2>,
    s: Vec<f64>,
}

impl Polyline {
    /// A polyline through `points`; consecutive duplicates are dropped. At least one point.
    pub fn new(points: Vec<P2>) -> Self {
        let mut pts: Vec<P2> = Vec::with_capacity(points.len());
        for p in points {
            if pts.last().is_none_or(|q| (p - q).norm() > 1e-9) {
                pts.push(p);
            }
        }
        let mut s = Vec::with_capacity(pts.len());
        let mut acc = 0.0;
        for (i, p) in pts.iter().enumerate() {
            if i > 0 {
                acc += (p - pts[i - 1]).norm();
            }
            s.push(acc);
        }
        Self { points: pts, s }
    }

    /// The vertices.
    pub fn points(&self) -> &[P2] {
        &self.points
    }

    /// Arc length at each vertex, in metres.
    pub fn arc_lengths(&self) -> &[f64] {
        &self.s
    }

    /// Total length in metres.
    pub fn length(&self) -> f64 {
        self.s.last().copied().unwrap_or(0.0)
    }

    fn locate(&self, s_m: f64) -> (usize, f64) {
        let n = self.points.len();
        if n < 2 {
            return (0, 0.0);
        }
        let s_m = s_m.clamp(0.0, self.length());
        let i = match self.s.binary_search_by(|v| v.total_cmp(&s_m)) {
            Ok(i) => i.min(n - 2),
            Err(i) => i.saturating_sub(1).min(n - 2),
        };
        let seg = self.s[i + 1] - self.s[i];
        let t = if seg > 0.0 { (s_m - self.s[i]) / seg } else { 0.0 };
        (i, t)
    }

    /// The point at arc length `s_m` (clamped to the polyline).
    pub fn point_at(&self, s_m: f64) -> P2 {
        if self.points.len() < 2 {
            return self.points.first().copied().unwrap_or_else(P2::origin);
        }
        let (i, t) = self.locate(s_m);
        self.points[i] + (self.points[i + 1] - self.points[i]) * t
    }

    /// Heading (radians from +x towards +y) of the segment at arc length `s_m`.
    pub fn heading_at(&self, s_m: f64) -> f64 {
        if self.points.len() < 2 {
            return 0.0;
        }
        let (i, _) = self.locate(s_m);
        let d = self.points[i + 1] - self.points[i];
        d.y.atan2(d.x)
    }

    /// The point at a fraction in [0, 1] of the length.
    pub fn point_at_fraction(&self, f: f64) -> P2 {
        self.point_at(f.clamp(0.0, 1.0) * self.length())
    }

    /// Projection of `p` on the segments `first..last` (segment indices, clamped).
    pub fn project_range(&self, p: P2, first: usize, last: usize) -> Option<Projection> {
        let n = self.points.len();
        if n < 2 {
            return None;
        }
        let last = last.min(n - 2);
        let mut best: Option<(f64, Projection)> = None;
        for i in first.min(last)..=last {
            let a = self.points[i];
            let ab = self.points[i + 1] - a;
            let len2 = ab.norm_squared();
            let t = if len2 > 0.0 { ((p - a).dot(&ab) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let foot = a + ab * t;
            let dist2 = (p - foot).norm_squared();
            if best.as_ref().is_none_or(|(b, _)| dist2 < *b) {
                let side = cross(ab, p - a);
                let d = dist2.sqrt() * if side < 0.0 { -1.0 } else { 1.0 };
                best = Some((dist2, Projection { s_m: self.s[i] + t * len2.sqrt(), d_m: d, segment: i }));
            }
        }
        best.map(|(_, pr)| pr)
    }

    /// Projection of `p` on the whole polyline (nearest foot point).
    pub fn project(&self, p: P2) -> Option<Projection> {
        self.project_range(p, 0, usize::MAX)
    }

    /// `n + 1` points evenly spaced in arc length from start to end.
    pub fn resample(&self, n: usize) -> Vec<P2> {
        let n = n.max(1);
        (0..=n).map(|i| self.point_at_fraction(i as f64 / n as f64)).collect()
    }
}

/// Distance in metres from `p` to an oriented rectangle (centre, half length along `yaw_rad`,
/// half width); 0 inside.
pub(crate) fn distance_to_rect(p: P2, center: P2, yaw_cos: f64, yaw_sin: f64, half_l: f64, half_w: f64) -> f64 {
    let d = p - center;
    let along = (yaw_cos * d.x + yaw_sin * d.y).abs() - half_l;
    let across = (-yaw_sin * d.x + yaw_cos * d.y).abs() - half_w;
    let ox = along.max(0.0);
    let oy = across.max(0.0);
    (ox * ox + oy * oy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_with_signed_offset_left_positive() {
        let pl = Polyline::new(vec![P2::new(0.0, 0.0), P2::new(10.0, 0.0), P2::new(10.0, 10.0)]);
        assert_eq!(pl.length(), 20.0);
        let pr = pl.project(P2::new(4.0, 2.0)).unwrap();
        assert!((pr.s_m - 4.0).abs() < 1e-12 && (pr.d_m - 2.0).abs() < 1e-12);
        let pr = pl.project(P2::new(12.0, 5.0)).unwrap();
        assert!((pr.s_m - 15.0).abs() < 1e-12 && (pr.d_m + 2.0).abs() < 1e-12);
        assert_eq!(pl.point_at(15.0), P2::new(10.0, 5.0));
    }

    #[test]
    fn finds_a_figure_eight_but_not_a_zigzag() {
        let eight = [P2::new(0.0, 0.0), P2::new(2.0, 2.0), P2::new(2.0, 0.0), P2::new(0.0, 2.0)];
        assert_eq!(self_intersection(&eight), Some((0, 2)));
        let zigzag = [P2::new(0.0, 0.0), P2::new(1.0, 1.0), P2::new(2.0, 0.0), P2::new(3.0, 1.0)];
        assert_eq!(self_intersection(&zigzag), None);
    }

    #[test]
    fn rectangle_distance_is_zero_inside_and_euclidean_outside() {
        let (c, s) = (0.0f64.cos(), 0.0f64.sin());
        assert_eq!(distance_to_rect(P2::new(0.5, 0.2), P2::origin(), c, s, 2.0, 1.0), 0.0);
        assert!((distance_to_rect(P2::new(5.0, 5.0), P2::origin(), c, s, 2.0, 1.0) - 5.0).abs() < 1e-12);
    }
}
