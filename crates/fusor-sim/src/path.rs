//! Planar paths parameterised by arc length: straight lines joined by circular arcs.
//!
//! Vehicles, cyclists and pedestrians all follow such paths; the analytic curvature gives smooth
//! yaw rates for the ego kinematics and the IMU.

use std::f64::consts::FRAC_PI_2;

/// One piece of a path (map frame, metres, radians).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Segment {
    /// A straight line.
    Line {
        /// Start (x, y).
        start: [f64; 2],
        /// Heading about +z from +x.
        heading_rad: f64,
        /// Length.
        length_m: f64,
    },
    /// A circular arc; a positive sweep turns left (counter-clockwise).
    Arc {
        /// Circle centre (x, y).
        center: [f64; 2],
        /// Radius.
        radius_m: f64,
        /// Polar angle of the start point about the centre.
        start_angle_rad: f64,
        /// Signed swept angle.
        sweep_rad: f64,
    },
}

impl Segment {
    /// Arc length in metres.
    pub fn length_m(&self) -> f64 {
        match *self {
            Self::Line { length_m, .. } => length_m,
            Self::Arc { radius_m, sweep_rad, .. } => radius_m * sweep_rad.abs(),
        }
    }

    fn sample(&self, s: f64) -> PathSample {
        match *self {
            Self::Line { start, heading_rad, .. } => {
                let (sn, cs) = heading_rad.sin_cos();
                PathSample { x: start[0] + s * cs, y: start[1] + s * sn, heading_rad, curvature_per_m: 0.0 }
            }
            Self::Arc { center, radius_m, start_angle_rad, sweep_rad } => {
                let sign = sweep_rad.signum();
                let a = start_angle_rad + sign * s / radius_m;
                PathSample {
                    x: center[0] + radius_m * a.cos(),
                    y: center[1] + radius_m * a.sin(),
                    heading_rad: a + sign * FRAC_PI_2,
                    curvature_per_m: sign / radius_m,
                }
            }
        }
    }
}

/// A pose on a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathSample {
    /// x in metres (map).
    pub x: f64,
    /// y in metres (map).
    pub y: f64,
    /// Heading about +z in radians.
    pub heading_rad: f64,
    /// Signed curvature in 1/m (positive turning left).
    pub curvature_per_m: f64,
}

/// A continuous path of segments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Path {
    segments: Vec<Segment>,
    starts_m: Vec<f64>,
    length_m: f64,
}

impl Path {
    /// A path through `segments` (each should start where the previous ends).
    pub fn new(segments: Vec<Segment>) -> Self {
        let mut starts_m = Vec::with_capacity(segments.len());
        let mut s = 0.0;
        for seg in &segments {
            starts_m.push(s);
            s += seg.length_m();
        }
        Self { segments, starts_m, length_m: s }
    }

    /// Total length in metres.
    pub fn length_m(&self) -> f64 {
        self.length_m
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Pose at arc length `s` (m). Before the start and past the end the path continues straight.
    pub fn sample(&self, s: f64) -> PathSample {
        let Some(first) = self.segments.first() else {
            return PathSample { x: 0.0, y: 0.0, heading_rad: 0.0, curvature_per_m: 0.0 };
        };
        if s <= 0.0 {
            let p = first.sample(0.0);
            let (sn, cs) = p.heading_rad.sin_cos();
            return PathSample { x: p.x + s * cs, y: p.y + s * sn, curvature_per_m: 0.0, ..p };
        }
        if s >= self.length_m {
            let last = self.segments.len() - 1;
            let p = self.segments[last].sample(self.segments[last].length_m());
            let (sn, cs) = p.heading_rad.sin_cos();
            let ds = s - self.length_m;
            return PathSample { x: p.x + ds * cs, y: p.y + ds * sn, curvature_per_m: 0.0, ..p };
        }
        let i = self.starts_m.partition_point(|&start| start <= s).saturating_sub(1);
        self.segments[i].sample(s - self.starts_m[i])
    }

    /// Arc length (m) of the start of each arc with its radius (m), in order.
    pub fn arcs(&self) -> impl Iterator<Item = (f64, f64, f64)> + '_ {
        self.segments.iter().zip(&self.starts_m).filter_map(|(seg, &s)| match *seg {
            Segment::Arc { radius_m, .. } => Some((s, s + seg.length_m(), radius_m)),
            Segment::Line { .. } => None,
        })
    }
}

/// Builds a path that follows the polyline `nodes` (axis-aligned legs, no U-turns) offset
/// `offset_right_m` to the right of travel, with corners rounded to `turn_radius_m`.
/// The path starts `start_frac` of the way along the first leg.
pub fn offset_path(nodes: &[[f64; 2]], offset_right_m: f64, turn_radius_m: f64, start_frac: f64) -> Path {
    let mut segments = Vec::new();
    if nodes.len() < 2 {
        return Path::new(segments);
    }
    let dir = |a: [f64; 2], b: [f64; 2]| {
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let l = dx.hypot(dy).max(1e-9);
        [dx / l, dy / l]
    };
    let right = |d: [f64; 2]| [d[1], -d[0]];
    let d0 = dir(nodes[0], nodes[1]);
    let r0 = right(d0);
    let mut p = [
        nodes[0][0] + start_frac * (nodes[1][0] - nodes[0][0]) + offset_right_m * r0[0],
        nodes[0][1] + start_frac * (nodes[1][1] - nodes[0][1]) + offset_right_m * r0[1],
    ];
    let push_line = |segments: &mut Vec<Segment>, from: [f64; 2], to: [f64; 2], d: [f64; 2]| {
        let len = (to[0] - from[0]) * d[0] + (to[1] - from[1]) * d[1];
        if len > 1e-9 {
            segments.push(Segment::Line { start: from, heading_rad: d[1].atan2(d[0]), length_m: len });
        }
    };
    for i in 1..nodes.len() - 1 {
        let d1 = dir(nodes[i - 1], nodes[i]);
        let d2 = dir(nodes[i], nodes[i + 1]);
        let cross = d1[0] * d2[1] - d1[1] * d2[0];
        if cross.abs() < 1e-6 {
            continue; // Straight on through the junction.
        }
        let (r1, r2) = (right(d1), right(d2));
        let corner = [nodes[i][0] + offset_right_m * (r1[0] + r2[0]), nodes[i][1] + offset_right_m * (r1[1] + r2[1])];
        let t1 = [corner[0] - d1[0] * turn_radius_m, corner[1] - d1[1] * turn_radius_m];
        let t2 = [corner[0] + d2[0] * turn_radius_m, corner[1] + d2[1] * turn_radius_m];
        push_line(&mut segments, p, t1, d1);
        let side = if cross > 0.0 { [-d1[1], d1[0]] } else { r1 };
        let center = [t1[0] + side[0] * turn_radius_m, t1[1] + side[1] * turn_radius_m];
        segments.push(Segment::Arc {
            center,
            radius_m: turn_radius_m,
            start_angle_rad: (t1[1] - center[1]).atan2(t1[0] - center[0]),
            sweep_rad: FRAC_PI_2 * cross.signum(),
        });
        p = t2;
    }
    let n = nodes.len();
    let dl = dir(nodes[n - 2], nodes[n - 1]);
    let rl = right(dl);
    let end = [nodes[n - 1][0] + offset_right_m * rl[0], nodes[n - 1][1] + offset_right_m * rl[1]];
    push_line(&mut segments, p, end, dl);
    Path::new(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_turn_path_is_continuous_and_keeps_offset() {
        // East then south: a right turn at (100, 0).
        let nodes = [[0.0, 0.0], [100.0, 0.0], [100.0, -100.0]];
        let path = offset_path(&nodes, 2.0, 10.0, 0.0);
        let start = path.sample(0.0);
        assert!((start.y + 2.0).abs() < 1e-9);
        let mut prev = path.sample(0.0);
        let mut s = 0.1;
        while s < path.length_m() {
            let p = path.sample(s);
            assert!(((p.x - prev.x).hypot(p.y - prev.y) - 0.1).abs() < 1e-3, "jump at s={s}");
            prev = p;
            s += 0.1;
        }
        let end = path.sample(path.length_m());
        assert!((end.x - 98.0).abs() < 1e-9 && (end.y + 100.0).abs() < 1e-9);
        assert!(path.arcs().all(|(_, _, r)| r == 10.0));
    }
}
