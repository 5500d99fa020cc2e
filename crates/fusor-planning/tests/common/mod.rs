//! Shared helpers for the planning tests: the maps, tracks and the ego footprint.
#![allow(dead_code, clippy::unwrap_used)]

use fusor_core::{Box3, FrameId, ObjectClass, Stamp, Track};
use fusor_planning::geometry::P2;
use fusor_planning::{EgoState, LaneletMap, MapConfig};
use nalgebra::{Point3, Vector3};
use std::path::{Path, PathBuf};

/// The hand-written map `recordings/maps/tiny.osm` (local coordinates; origin as Lanelet2's
/// examples use, lat 49.0 lon 8.4).
pub fn tiny_map() -> LaneletMap {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recordings/maps/tiny.osm");
    LaneletMap::load(path, &MapConfig::new(49.0, 8.4, 0.0).unwrap()).unwrap()
}

/// The Lanelet2 example map in the shared data (`$FUSOR_DATA`, else
/// `<CARGO_MANIFEST_DIR>/../../../shared/data`), read in place; `None` (and a note) when absent.
pub fn real_map_path() -> Option<PathBuf> {
    let dir = std::env::var_os("FUSOR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = dir.join("maps/lanelet2_mapping_example.osm");
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipping: no map at {} (set FUSOR_DATA)", path.display());
        None
    }
}

/// An ego state at `(x, y)` m in `map`, heading `yaw` rad, speed `v` m/s, at t = 1000 s.
pub fn ego(x: f64, y: f64, yaw: f64, v: f64) -> EgoState {
    EgoState { stamp: Stamp::from_nanos(1_000_000_000_000), position: P2::new(x, y), yaw_rad: yaw, speed_mps: v }
}

/// A confirmed track in `map`.
pub fn track(id: u64, class: ObjectClass, center: [f64; 2], size: [f64; 2], yaw: f64, velocity: [f64; 2]) -> Track {
    Track {
        id,
        stamp: Stamp::from_nanos(1_000_000_000_000),
        bbox: Box3 {
            frame_id: FrameId::new(FrameId::MAP),
            center: Point3::new(center[0], center[1], 0.8),
            size: Vector3::new(size[0], size[1], 1.6),
            yaw_rad: yaw,
        },
        velocity: Vector3::new(velocity[0], velocity[1], 0.0),
        class,
        score: 0.9,
        hits: 10,
    }
}

fn rect(center: P2, yaw: f64, along: (f64, f64), half_w: f64) -> [P2; 4] {
    let (s, c) = yaw.sin_cos();
    let f = |a: f64, b: f64| P2::new(center.x + c * a - s * b, center.y + s * a + c * b);
    [f(along.1, half_w), f(along.0, half_w), f(along.0, -half_w), f(along.1, -half_w)]
}

/// The ego footprint (4.5 m × 1.8 m, rear overhang 0.9 m) for `base_link` at `p`, heading `yaw`.
pub fn footprint(p: P2, yaw: f64) -> [P2; 4] {
    rect(p, yaw, (-0.9, 3.6), 0.9)
}

/// The bird's-eye corners of a track's box at time `t` s (constant velocity).
pub fn box_at(t: &Track, dt: f64) -> [P2; 4] {
    let c = P2::new(t.bbox.center.x + t.velocity.x * dt, t.bbox.center.y + t.velocity.y * dt);
    rect(c, t.bbox.yaw_rad, (-t.bbox.size.x / 2.0, t.bbox.size.x / 2.0), t.bbox.size.y / 2.0)
}

fn seg_dist(p: P2, a: P2, b: P2) -> f64 {
    let ab = b - a;
    let t = ((p - a).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
    (p - (a + ab * t)).norm()
}

fn inside(p: P2, poly: &[P2; 4]) -> bool {
    (0..4).all(|i| {
        let (a, b) = (poly[i], poly[(i + 1) % 4]);
        (b - a).x * (p - a).y - (b - a).y * (p - a).x >= 0.0
    })
}

/// Gap in metres between two convex quadrilaterals (counter-clockwise); 0 when they overlap.
pub fn gap(a: &[P2; 4], b: &[P2; 4]) -> f64 {
    if a.iter().any(|p| inside(*p, b)) || b.iter().any(|p| inside(*p, a)) {
        return 0.0;
    }
    let mut best = f64::INFINITY;
    for i in 0..4 {
        for j in 0..4 {
            best = best.min(seg_dist(a[i], b[j], b[(j + 1) % 4])).min(seg_dist(b[j], a[i], a[(i + 1) % 4]));
        }
    }
    best
}
