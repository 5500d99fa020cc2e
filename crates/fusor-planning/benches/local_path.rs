//! Local path per fused frame (budget: 10 ms) and A* on the real Lanelet2 example map.
//!
//! `cargo bench -p fusor-planning --bench local_path`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fusor_core::{Box3, FrameId, ObjectClass, Stamp, Track};
use fusor_planning::geometry::P2;
use fusor_planning::{plan_route, EgoState, LaneletId, LaneletMap, LocalPlanner, MapConfig, RouteConfig};
use nalgebra::{Point3, Vector3};
use std::path::{Path, PathBuf};

fn track(id: u64, class: ObjectClass, center: [f64; 2], size: [f64; 2], yaw: f64, velocity: [f64; 2]) -> Track {
    Track {
        id,
        stamp: Stamp::ZERO,
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

fn local_path(c: &mut Criterion) {
    let map_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recordings/maps/tiny.osm");
    let Ok(config) = MapConfig::new(49.0, 8.4, 0.0) else { return };
    let Ok(map) = LaneletMap::load(map_path, &config) else { return };
    let route_config = RouteConfig { lane_change_penalty_s: 3.0, ..RouteConfig::default() };
    let Ok(route) = plan_route(&map, P2::new(10.0, 0.0), 0.0, P2::new(390.0, 0.0), &route_config) else { return };
    let ego = EgoState { stamp: Stamp::ZERO, position: P2::new(20.0, 0.0), yaw_rad: 0.0, speed_mps: 10.0 };
    // A busy frame: a parked car in the ego lane, cars in the left lane, pedestrians on the
    // pavement, one crossing further on, and clutter behind.
    let mut busy = vec![track(1, ObjectClass::Car, [50.0, -0.6], [4.5, 1.8], 0.0, [0.0, 0.0])];
    for i in 0..6u32 {
        let x = 30.0 + 15.0 * f64::from(i);
        busy.push(track(10 + u64::from(i), ObjectClass::Car, [x, 3.5], [4.5, 1.8], 0.0, [12.0, 0.0]));
        busy.push(track(20 + u64::from(i), ObjectClass::Pedestrian, [x, -3.5], [0.6, 0.6], 0.0, [1.2, 0.0]));
    }
    busy.push(track(30, ObjectClass::Pedestrian, [64.0, -3.0], [0.6, 0.6], 1.57, [0.0, 1.3]));
    for i in 0..5u32 {
        busy.push(track(
            40 + u64::from(i),
            ObjectClass::Other,
            [-10.0 - 5.0 * f64::from(i), 8.0],
            [1.0, 1.0],
            0.0,
            [0.0, 0.0],
        ));
    }
    let mut group = c.benchmark_group("local_path");
    for (name, tracks) in [("empty_road", Vec::new()), ("parked_car", busy[..1].to_vec()), ("busy_19_tracks", busy)] {
        let mut planner = LocalPlanner::default();
        group.bench_function(name, |b| b.iter(|| planner.plan(black_box(&route), black_box(&ego), black_box(&tracks))));
    }
    group.finish();
}

fn real_map_route(c: &mut Criterion) {
    let dir = std::env::var_os("FUSOR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let Ok(config) = MapConfig::new(49.0, 8.4, 0.0) else { return };
    let Ok(map) = LaneletMap::load(dir.join("maps/lanelet2_mapping_example.osm"), &config) else {
        eprintln!("no real map under {}; skipping the A* bench", dir.display());
        return;
    };
    let lane = |id| map.lane_index(LaneletId(id), false).map(|i| &map.lanes()[i]);
    let (Some(from), Some(to)) = (lane(45252), lane(45566)) else { return };
    let start = from.centerline.point_at_fraction(0.5);
    let yaw = from.centerline.heading_at(from.length_m() / 2.0);
    let goal = to.centerline.point_at_fraction(0.5);
    let route_config = RouteConfig::default();
    c.bench_function("astar_real_map_465m", |b| {
        b.iter(|| plan_route(black_box(&map), start, yaw, goal, &route_config))
    });
}

criterion_group!(benches, local_path, real_map_route);
criterion_main!(benches);
