//! Oriented box fitting: the minimum-area rectangle of the cluster's bird's-eye-view convex hull
//! (rotating calipers over the hull edges: the optimal rectangle has a side collinear with a hull
//! edge), and the height from the local ground under the cluster to its highest point.

use fusor_core::{Box3, FrameId};
use nalgebra::{Point3, Vector3};

/// Convex hull (Andrew's monotone chain) of `pts`, counter-clockwise, into `hull`; collinear and
/// duplicate points are dropped. `pts` is sorted in place.
pub fn convex_hull(pts: &mut [[f32; 2]], hull: &mut Vec<[f32; 2]>) {
    hull.clear();
    pts.sort_unstable_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| {
        f64::from(a[0] - o[0]) * f64::from(b[1] - o[1]) - f64::from(a[1] - o[1]) * f64::from(b[0] - o[0])
    };
    for &p in pts.iter() {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in pts.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
    if hull.len() == 1 && pts.len() > 1 && pts[0] != pts[pts.len() - 1] {
        hull.push(pts[pts.len() - 1]);
    }
}

/// How the BEV rectangle is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxFitMethod {
    /// L-shape fitting (after Zhang et al. 2017, closeness criterion): among candidate headings
    /// (every hull edge, and a 3° grid refined to 0.5°), the one whose bounding rectangle leaves
    /// the points closest to its edges. A lidar sees one or two faces of a car, which lie on the
    /// rectangle's edges only at the true heading; the minimum-area rectangle of an L is
    /// ambiguous (its hull is a triangle).
    #[default]
    LShape,
    /// Minimum-area rectangle of the convex hull (rotating calipers).
    MinArea,
}

/// Bounds of the points along heading `yaw`: (lo_u, hi_u, lo_v, hi_v).
fn bounds(pts: &[[f32; 2]], yaw: f64) -> (f64, f64, f64, f64) {
    let (s, c) = yaw.sin_cos();
    let (mut lo_u, mut hi_u, mut lo_v, mut hi_v) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for p in pts {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        let (u, v) = (c * x + s * y, -s * x + c * y);
        lo_u = lo_u.min(u);
        hi_u = hi_u.max(u);
        lo_v = lo_v.min(v);
        hi_v = hi_v.max(v);
    }
    (lo_u, hi_u, lo_v, hi_v)
}

/// Closeness cost of heading `yaw`: summed distance of each point to its nearest rectangle edge.
fn closeness_cost(pts: &[[f32; 2]], yaw: f64) -> f64 {
    let (lo_u, hi_u, lo_v, hi_v) = bounds(pts, yaw);
    let (s, c) = yaw.sin_cos();
    pts.iter()
        .map(|p| {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            let (u, v) = (c * x + s * y, -s * x + c * y);
            (u - lo_u).min(hi_u - u).min(v - lo_v).min(hi_v - v)
        })
        .sum()
}

/// The box of a cluster: BEV points `pts` (metres), bottom and top z (metres) in `frame`.
/// Length (`size.x`) is the longer BEV side, `yaw_rad` in (−π/2, π/2]; every edge is at least
/// `min_extent_m`. `hull` is scratch. Degenerate clusters (one point, a line) get a box too.
/// Work is O(n log n) for n points, plus O(256 · 44) for the L-shape search.
pub fn fit_box(
    pts: &mut [[f32; 2]],
    z_bottom_m: f32,
    z_top_m: f32,
    min_extent_m: f32,
    method: BoxFitMethod,
    frame: &FrameId,
    hull: &mut Vec<[f32; 2]>,
) -> Box3 {
    use std::f64::consts::FRAC_PI_2;
    let mut sample = Vec::new();
    convex_hull(pts, hull);
    let h = hull.len();
    let edge_yaw = |e: usize| {
        let (a, b) = (hull[e], hull[(e + 1) % h]);
        f64::from(b[1] - a[1]).atan2(f64::from(b[0] - a[0])).rem_euclid(FRAC_PI_2)
    };
    let mut yaw = 0.0;
    if h >= 3 {
        match method {
            BoxFitMethod::MinArea => {
                let mut best = f64::INFINITY;
                for e in 0..h {
                    let a = edge_yaw(e);
                    let (lo_u, hi_u, lo_v, hi_v) = bounds(hull, a);
                    let area = (hi_u - lo_u) * (hi_v - lo_v);
                    if area < best {
                        (best, yaw) = (area, a);
                    }
                }
            }
            BoxFitMethod::LShape => {
                // The criterion on an even sample of at most 256 points: the heading needs no
                // more, and big clusters (walls) stay cheap. Bounds use the full hull below.
                let step = pts.len().div_ceil(256).max(1);
                sample.clear();
                sample.extend(pts.iter().step_by(step).copied());
                let pts = &sample[..];
                let grid = (0..30).map(|k| f64::from(k) * FRAC_PI_2 / 30.0);
                let mut best = f64::INFINITY;
                for a in (0..h).map(edge_yaw).chain(grid) {
                    let cost = closeness_cost(pts, a);
                    if cost < best - 1e-9 {
                        (best, yaw) = (cost, a);
                    }
                }
                let coarse = yaw;
                for k in -3..=3 {
                    let a = coarse + f64::from(k) * 0.5f64.to_radians();
                    let cost = closeness_cost(pts, a);
                    if cost < best - 1e-9 {
                        (best, yaw) = (cost, a);
                    }
                }
            }
        }
    } else if h == 2 {
        yaw = edge_yaw(0);
    }
    let (lo_u, hi_u, lo_v, hi_v) = if h == 0 { (0.0, 0.0, 0.0, 0.0) } else { bounds(hull, yaw) };
    let (cu, cv) = ((lo_u + hi_u) / 2.0, (lo_v + hi_v) / 2.0);
    let (mut len, mut wid) = (hi_u - lo_u, hi_v - lo_v);
    let (s, c) = yaw.sin_cos();
    let (cx, cy) = (c * cu - s * cv, s * cu + c * cv);
    if wid > len {
        std::mem::swap(&mut len, &mut wid);
        yaw += FRAC_PI_2;
    }
    yaw = normalise_half_turn(yaw);
    let min_e = f64::from(min_extent_m);
    let (bottom, top) = (f64::from(z_bottom_m), f64::from(z_top_m.max(z_bottom_m)));
    let height = (top - bottom).max(min_e);
    Box3 {
        frame_id: frame.clone(),
        center: Point3::new(cx, cy, bottom + height / 2.0),
        size: Vector3::new(len.max(min_e), wid.max(min_e), height),
        yaw_rad: yaw,
    }
}

/// Wraps an angle into (−π/2, π/2] (a box is symmetric under a half turn).
fn normalise_half_turn(mut a: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    if !a.is_finite() {
        return 0.0;
    }
    a %= PI;
    if a > FRAC_PI_2 {
        a -= PI;
    } else if a <= -FRAC_PI_2 {
        a += PI;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect_points(cx: f32, cy: f32, l: f32, w: f32, yaw: f32) -> Vec<[f32; 2]> {
        let (s, c) = yaw.sin_cos();
        let mut pts = Vec::new();
        for i in 0..=20 {
            for j in 0..=10 {
                let (u, v) = (l * (i as f32 / 20.0 - 0.5), w * (j as f32 / 10.0 - 0.5));
                pts.push([cx + c * u - s * v, cy + s * u + c * v]);
            }
        }
        pts
    }

    #[test]
    fn recovers_a_rotated_car_footprint_with_either_method() {
        let mut pts = rect_points(10.0, -3.0, 4.2, 1.8, 0.6);
        let b = fit_box(&mut pts, -1.7, -0.2, 0.1, BoxFitMethod::LShape, &FrameId::new("lidar"), &mut Vec::new());
        assert!((b.yaw_rad - 0.6).abs() < 1e-2, "{}", b.yaw_rad);
        let b = fit_box(&mut pts, -1.7, -0.2, 0.1, BoxFitMethod::MinArea, &FrameId::new("lidar"), &mut Vec::new());
        assert!((b.center.x - 10.0).abs() < 1e-3 && (b.center.y + 3.0).abs() < 1e-3, "{}", b.center);
        assert!((b.size.x - 4.2).abs() < 1e-3 && (b.size.y - 1.8).abs() < 1e-3, "{}", b.size);
        assert!((b.yaw_rad - 0.6).abs() < 1e-4, "{}", b.yaw_rad);
        assert!((b.center.z + 0.95).abs() < 1e-6 && (b.size.z - 1.5).abs() < 1e-6);
    }

    #[test]
    fn an_l_shaped_partial_view_gets_the_right_heading() {
        // Only the rear and one side of a car seen at a slant, as a lidar sees it.
        let (s, c) = 0.3f32.sin_cos();
        let mut pts: Vec<[f32; 2]> = (0..40)
            .map(|i| (i as f32 * 0.1, 0.0))
            .chain((0..18).map(|j| (0.0, j as f32 * 0.1)))
            .map(|(u, v)| [20.0 + c * u - s * v, 5.0 + s * u + c * v])
            .collect();
        let b = fit_box(&mut pts, 0.0, 1.0, 0.1, BoxFitMethod::LShape, &FrameId::new("lidar"), &mut Vec::new());
        assert!((b.yaw_rad - 0.3).abs() < 1e-3, "{}", b.yaw_rad);
        assert!((b.size.x - 3.9).abs() < 1e-3 && (b.size.y - 1.7).abs() < 1e-3, "{}", b.size);
    }

    #[test]
    fn degenerate_clusters_get_a_minimal_box() {
        let frame = FrameId::new("lidar");
        let mut one = vec![[0.0f32, 0.0]; 5];
        let b = fit_box(&mut one, 0.0, 0.0, 0.1, BoxFitMethod::LShape, &frame, &mut Vec::new());
        assert!([b.size.x, b.size.y, b.size.z].iter().all(|v| (v - 0.1).abs() < 1e-6), "{}", b.size);
        assert!(b.center.x.abs() < 1e-9);
        let mut line: Vec<[f32; 2]> = (0..10).map(|i| [i as f32, 2.0 * i as f32]).collect();
        let b = fit_box(&mut line, 0.0, 1.0, 0.1, BoxFitMethod::LShape, &frame, &mut Vec::new());
        assert!((b.size.x - 405f64.sqrt()).abs() < 1e-3 && (b.size.y - 0.1).abs() < 1e-6, "{}", b.size);
        let b = fit_box(&mut [], 0.0, 1.0, 0.1, BoxFitMethod::LShape, &frame, &mut Vec::new());
        assert!(b.center.x.is_finite());
    }
}
