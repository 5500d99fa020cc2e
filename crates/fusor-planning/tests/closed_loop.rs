//! Closed loop on the tiny map: a kinematic ego follows the local path along the route to the goal.
//!
//! The ego here is the planner's own kinematic model (a bicycle model with pure-pursuit steering
//! and a first-order speed loop), not fusor-sim: the loop with the simulator (its ego driven by
//! fusor's local path, its tracks fed back through perception) is still to do. Tracks are given
//! as ground truth.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{box_at, ego, footprint, gap, tiny_map, track};
use fusor_core::{Duration, ObjectClass, Stamp};
use fusor_planning::geometry::{wrap_angle, P2};
use fusor_planning::{EgoState, GlobalPlanner, Goal, LaneletId, LocalPlanner, ReplanReason, RouteConfig};

const WHEELBASE_M: f64 = 2.7;
const DT_S: f64 = 0.1;

/// One control step: pure pursuit on the path's poses, speed towards the path's speed 0.5 s ahead.
fn step(state: &mut EgoState, path: &fusor_planning::LocalPath) {
    let poses = &path.path.poses;
    let lookahead = (0.8 * state.speed_mps).max(4.0);
    let target = poses
        .iter()
        .find(|p| (P2::new(p.position.x, p.position.y) - state.position).norm() >= lookahead)
        .or(poses.last())
        .map(|p| P2::new(p.position.x, p.position.y))
        .unwrap_or(state.position);
    let to = target - state.position;
    let alpha = wrap_angle(to.y.atan2(to.x) - state.yaw_rad);
    let ld = to.norm().max(1e-3);
    let steer = (2.0 * WHEELBASE_M * alpha.sin() / ld).atan().clamp(-0.6, 0.6);
    let t_ahead = state.stamp + Duration::from_secs_f64(0.5);
    let v_cmd = poses.iter().find(|p| p.stamp >= t_ahead).or(poses.last()).map(|p| p.speed_mps).unwrap_or(0.0);
    let accel = ((v_cmd - state.speed_mps) / 0.5).clamp(-7.0, 2.0);
    state.speed_mps = (state.speed_mps + accel * DT_S).max(0.0);
    state.position += nalgebra::Vector2::new(state.yaw_rad.cos(), state.yaw_rad.sin()) * state.speed_mps * DT_S;
    state.yaw_rad = wrap_angle(state.yaw_rad + state.speed_mps / WHEELBASE_M * steer.tan() * DT_S);
    state.stamp = state.stamp + Duration::from_secs_f64(DT_S);
}

#[test]
fn kinematic_ego_passes_a_parked_car_and_reaches_the_goal_round_the_curve() {
    let map = tiny_map();
    let mut global = GlobalPlanner::new(RouteConfig { lane_change_penalty_s: 3.0, ..RouteConfig::default() });
    global.set_goal(Goal::Map { x_m: 430.0, y_m: 25.0 });
    let mut local = LocalPlanner::default();
    let parked = track(5, ObjectClass::Car, [60.0, -0.6], [4.5, 1.8], 0.0, [0.0, 0.0]);
    let mut state = ego(5.0, 0.0, 0.0, 0.0);
    let start = state.stamp;
    let mut replans = Vec::new();
    let mut min_gap = f64::INFINITY;
    let mut reached = None;
    for _ in 0..1200 {
        if let Some(reason) = global.update(&map, &state).unwrap() {
            replans.push(reason);
        }
        let route = global.route().unwrap();
        let path = local.plan(route, &state, std::slice::from_ref(&parked)).unwrap();
        step(&mut state, &path);
        min_gap = min_gap.min(gap(&footprint(state.position, state.yaw_rad), &box_at(&parked, 0.0)));
        // Always on a lane of the map.
        let on_lane = map.locate(state.position, Some(state.yaw_rad), 1.8);
        assert!(on_lane.is_some(), "left the road at {:?}", state.position);
        if (state.position - P2::new(430.0, 25.0)).norm() < 1.5 && state.speed_mps < 0.2 {
            reached = Some((state.stamp - start).secs_f64());
            break;
        }
    }
    let t = reached.unwrap_or_else(|| panic!("goal not reached; ego at {:?}", state));
    println!("goal reached after {t:.1} s; replans {replans:?}; smallest gap to the parked car {min_gap:.2} m");
    assert!(t < 60.0);
    assert!(min_gap >= 1.5, "{min_gap}");
    // Passing moved the ego into the left lane, which replanned the route from there.
    assert_eq!(replans[0], ReplanReason::NoRoute);
    assert!(replans.iter().any(|r| matches!(r, ReplanReason::LeftRoute { .. })), "{replans:?}");
    assert_eq!(global.route().unwrap().goal_lanelet(), Some(LaneletId(1011)));
    let _ = Stamp::ZERO;
}
