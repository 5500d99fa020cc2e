//! Local path scenarios, open loop: one frame planned on the tiny map around tracks built here.
//! Gaps are measured between the true ego footprint (4.5 m × 1.8 m, `base_link` 0.9 m ahead of
//! the rear bumper) at each pose and the obstacle's box predicted (constant velocity) to the
//! pose's time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{box_at, ego, footprint, gap, tiny_map, track};
use fusor_core::{FrameId, ObjectClass, Track};
use fusor_planning::geometry::P2;
use fusor_planning::{plan_route, Decision, LaneletId, LocalPath, LocalPlanner, Route, RouteConfig, StopReason};

/// The keep-right route from x = 10 to the goal at x = 390 (1001, 1003, 1005, 1007).
fn keep_right_route() -> Route {
    let map = tiny_map();
    let config = RouteConfig { lane_change_penalty_s: 3.0, ..RouteConfig::default() };
    plan_route(&map, P2::new(10.0, 0.0), 0.0, P2::new(390.0, 0.0), &config).unwrap()
}

fn pose_xy(path: &LocalPath, i: usize) -> (P2, f64) {
    let p = &path.path.poses[i];
    (P2::new(p.position.x, p.position.y), p.yaw_rad)
}

/// Smallest gap (m) between the ego footprint along the path and the track at the same times.
fn min_gap(path: &LocalPath, t: &Track) -> f64 {
    let t0 = path.path.stamp;
    (0..path.path.poses.len())
        .map(|i| {
            let (p, yaw) = pose_xy(path, i);
            let dt = (path.path.poses[i].stamp - t0).secs_f64();
            gap(&footprint(p, yaw), &box_at(t, dt))
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn an_empty_road_is_followed_on_the_centreline_at_the_speed_limit() {
    let route = keep_right_route();
    let mut planner = LocalPlanner::default();
    let path = planner.plan(&route, &ego(20.0, 0.0, 0.0, 12.0), &[]).unwrap();
    assert_eq!(path.decision, Decision::Follow);
    assert_eq!(path.path.frame_id.as_str(), FrameId::MAP);
    assert!(path.path.poses.len() >= 50, "{}", path.path.poses.len());
    let last = path.path.poses.last().unwrap();
    assert!((last.position.x - 70.0).abs() < 1.01, "50 m ahead: {}", last.position.x);
    for p in &path.path.poses {
        assert!(p.position.y.abs() < 0.2, "{p:?}");
        assert!(p.speed_mps <= 50.0 / 3.6 + 1e-9);
    }
    // Stamps increase along the path, and the speed reaches the limit.
    assert!(path.path.poses.windows(2).all(|w| w[1].stamp > w[0].stamp));
    assert!((last.speed_mps - 50.0 / 3.6).abs() < 1e-6);
}

#[test]
fn an_empty_curve_is_followed_within_0_2_m_of_the_lane_centreline() {
    let map = tiny_map();
    let route = plan_route(&map, P2::new(310.0, 0.0), 0.0, P2::new(430.0, 29.0), &RouteConfig::default()).unwrap();
    let mut planner = LocalPlanner::default();
    let path = planner.plan(&route, &ego(395.0, 0.0, 0.0, 8.0), &[]).unwrap();
    let curve = &map.lanes()[map.lane_index(LaneletId(1011), false).unwrap()];
    let straight = &map.lanes()[map.lane_index(LaneletId(1007), false).unwrap()];
    let mut worst: f64 = 0.0;
    for i in 0..path.path.poses.len() {
        let (p, _) = pose_xy(&path, i);
        let d = [curve, straight]
            .iter()
            .map(|l| l.centerline.project(p).map(|pr| (p - l.centerline.point_at(pr.s_m)).norm()).unwrap())
            .fold(f64::INFINITY, f64::min);
        worst = worst.max(d);
    }
    println!("largest distance from the lane centreline on the curve: {worst:.3} m");
    assert!(worst < 0.2, "{worst}");
    assert!(path.path.poses.iter().any(|p| p.position.y > 10.0), "the path goes round the curve");
    // The lateral acceleration limit is 2 m/s²: 7.75 m/s on the 30 m radius. Curvature is
    // estimated from the polyline centreline (7.5° kinks), so allow 10 %.
    let in_curve: Vec<f64> = path.path.poses.iter().filter(|p| p.position.x > 405.0).map(|p| p.speed_mps).collect();
    assert!(in_curve.len() > 10);
    assert!(in_curve.iter().all(|v| v * v / 30.0 < 2.2), "{in_curve:?}");
}

#[test]
fn the_speed_comes_down_before_a_curve_not_in_it() {
    // At the 50 km/h limit 30 m before the 30 m radius curve: braking must start on the straight
    // so that the curve is entered at its 7.75 m/s (2 m/s² lateral), not braked through.
    let map = tiny_map();
    let route = plan_route(&map, P2::new(310.0, 0.0), 0.0, P2::new(430.0, 29.0), &RouteConfig::default()).unwrap();
    let mut planner = LocalPlanner::default();
    let path = planner.plan(&route, &ego(370.0, 0.0, 0.0, 50.0 / 3.6), &[]).unwrap();
    let in_curve: Vec<f64> = path.path.poses.iter().filter(|p| p.position.x > 405.0).map(|p| p.speed_mps).collect();
    assert!(in_curve.len() > 10);
    assert!(in_curve.iter().all(|v| v * v / 30.0 < 2.2), "{in_curve:?}");
    // Braking at the comfortable 2.5 m/s² from 13.9 to 7.75 m/s takes ~27 m: it starts on the
    // straight, well before x = 400.
    let at_385 = path.path.poses.iter().find(|p| p.position.x >= 385.0).unwrap().speed_mps;
    assert!(at_385 < 50.0 / 3.6 - 1.0, "still at {at_385} m/s 15 m before the curve");
}

#[test]
fn a_parked_car_in_the_ego_lane_is_passed_in_the_left_lane_with_2_m_clearance() {
    // Section 0–100 m, dashed line: the left lane is room to pass. The car is parked against the
    // kerb (centre 0.6 m right of the lane centre), 30 m ahead.
    let route = keep_right_route();
    let car = track(7, ObjectClass::Car, [50.0, -0.6], [4.5, 1.8], 0.0, [0.0, 0.0]);
    let mut planner = LocalPlanner::default();
    let path = planner.plan(&route, &ego(20.0, 0.0, 0.0, 10.0), std::slice::from_ref(&car)).unwrap();
    let g = min_gap(&path, &car);
    println!("{:?}, gap {g:.2} m, {}/{} candidates free", path.decision, path.free_candidates, path.candidates);
    assert!(matches!(path.decision, Decision::ChangeLane(d) if d > 3.0), "{:?}", path.decision);
    assert!(g >= 2.0, "gap {g}");
    // It passes: the path goes beyond the car at speed.
    let last = path.path.poses.last().unwrap();
    assert!(last.position.x > 60.0 && last.speed_mps > 5.0);
}

#[test]
fn a_parked_car_where_the_line_is_solid_is_stopped_for_2_m_short() {
    // Section 100–200 m: solid line, no room to pass: stop behind it.
    let route = keep_right_route();
    let car = track(8, ObjectClass::Car, [150.0, 0.0], [4.5, 1.8], 0.0, [0.0, 0.0]);
    let mut planner = LocalPlanner::default();
    let path = planner.plan(&route, &ego(115.0, 0.0, 0.0, 10.0), std::slice::from_ref(&car)).unwrap();
    println!("{:?}", path.decision);
    assert!(matches!(path.decision, Decision::Stop { reason: StopReason::Blocked(8), .. }), "{:?}", path.decision);
    let last = path.path.poses.last().unwrap();
    assert_eq!(last.speed_mps, 0.0);
    let g = min_gap(&path, &car);
    assert!((2.0..4.0).contains(&g), "stops {g} m short");
    assert!(path.path.poses.iter().all(|p| p.position.y.abs() < 0.2), "stays in lane");
}

#[test]
fn a_pedestrian_crossing_ahead_is_yielded_to_with_a_stop_before_its_path() {
    // 25 m ahead, stepping off the right kerb, walking north across both lanes at 1.4 m/s.
    let route = keep_right_route();
    let ped = track(3, ObjectClass::Pedestrian, [45.0, -3.0], [0.6, 0.6], std::f64::consts::FRAC_PI_2, [0.0, 1.4]);
    let mut planner = LocalPlanner::default();
    let path = planner.plan(&route, &ego(20.0, 0.0, 0.0, 10.0), std::slice::from_ref(&ped)).unwrap();
    println!("{:?}", path.decision);
    assert!(matches!(path.decision, Decision::Stop { reason: StopReason::Yield(3), .. }), "{:?}", path.decision);
    let last = path.path.poses.last().unwrap();
    assert_eq!(last.speed_mps, 0.0);
    // The front bumper stops at least 2 m before the pedestrian's line of walk.
    let front_x = last.position.x + 3.6 * last.yaw_rad.cos();
    assert!(front_x <= 45.0 - 0.3 - 2.0, "front bumper at x = {front_x}");
    assert!(min_gap(&path, &ped) > 0.5);
    // Braking stays comfortable (≤ 3 m/s²) from 10 m/s.
    let a = path
        .path
        .poses
        .windows(2)
        .map(|w| (w[0].speed_mps.powi(2) - w[1].speed_mps.powi(2)) / 2.0)
        .fold(0.0f64, f64::max);
    assert!(a <= 3.0, "{a}");
}

#[test]
fn a_pedestrian_walking_along_the_pavement_is_not_yielded_to() {
    let route = keep_right_route();
    let ped = track(4, ObjectClass::Pedestrian, [45.0, -4.0], [0.6, 0.6], 0.0, [1.4, 0.0]);
    let path = LocalPlanner::default().plan(&route, &ego(20.0, 0.0, 0.0, 10.0), &[ped]).unwrap();
    assert!(matches!(path.decision, Decision::Follow | Decision::Nudge(_)), "{:?}", path.decision);
}

#[test]
fn the_path_stops_at_the_goal() {
    let route = keep_right_route();
    let path = LocalPlanner::default().plan(&route, &ego(360.0, 0.0, 0.0, 8.0), &[]).unwrap();
    assert!(matches!(path.decision, Decision::Stop { reason: StopReason::Goal, .. }), "{:?}", path.decision);
    let last = path.path.poses.last().unwrap();
    assert!((last.position.x - 390.0).abs() <= 1.0 && last.speed_mps == 0.0, "{last:?}");
}

#[test]
fn a_car_appearing_too_close_to_avoid_gives_an_emergency_stop() {
    let route = keep_right_route();
    let car = track(9, ObjectClass::Car, [128.0, 0.0], [4.5, 1.8], 0.0, [0.0, 0.0]);
    let path = LocalPlanner::default().plan(&route, &ego(120.0, 0.0, 0.0, 13.0), &[car]).unwrap();
    assert_eq!(path.decision, Decision::EmergencyStop);
    assert_eq!(path.path.poses.last().unwrap().speed_mps, 0.0);
}

#[test]
fn tracks_outside_map_and_non_finite_states_are_refused() {
    let route = keep_right_route();
    let mut car = track(1, ObjectClass::Car, [50.0, 0.0], [4.5, 1.8], 0.0, [0.0, 0.0]);
    car.bbox.frame_id = FrameId::new("base_link");
    let mut planner = LocalPlanner::default();
    assert!(planner.plan(&route, &ego(20.0, 0.0, 0.0, 10.0), &[car]).is_err());
    let mut nan = track(2, ObjectClass::Car, [50.0, 0.0], [4.5, 1.8], 0.0, [0.0, 0.0]);
    nan.velocity.x = f64::NAN;
    assert!(planner.plan(&route, &ego(20.0, 0.0, 0.0, 10.0), &[nan]).is_err());
    assert!(planner.plan(&route, &ego(20.0, 0.0, f64::INFINITY, 10.0), &[]).is_err());
}
