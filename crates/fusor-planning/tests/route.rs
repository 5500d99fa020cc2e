//! Global route on the hand-written tiny map (`recordings/maps/tiny.osm`), where travel times can
//! be computed by hand: 50 km/h = 13.889 m/s, 30 km/h = 8.333 m/s, lanes 100 m long.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{ego, tiny_map};
use fusor_planning::geometry::P2;
use fusor_planning::{
    plan_route, GlobalPlanner, Goal, LaneletId, PlanningError, ReplanReason, RouteConfig, Transition,
};

const V50: f64 = 50.0 / 3.6;
const V30: f64 = 30.0 / 3.6;

fn config(lane_change_penalty_s: f64) -> RouteConfig {
    RouteConfig { lane_change_penalty_s, ..RouteConfig::default() }
}

#[test]
fn keeps_right_through_the_30_zone_when_lane_changes_cost_3_s() {
    // Start on 1001 at x = 10, goal on 1007 at x = 390 (both on the right lane's centreline).
    // Keep right: 90 m + 100 m at 50 km/h, then 100 m + 90 m at 30 km/h: 13.68 + 22.8 = 36.48 s.
    // Via the left lane (1002, 1004, 1006, then back at 1008 → 1007): 90 m + 200 m at 50 km/h,
    // 90 m at 30 km/h, two lane changes: 20.88 + 10.8 + 2 × 3 = 37.68 s. Keeping right wins.
    let map = tiny_map();
    let route = plan_route(&map, P2::new(10.0, 0.0), 0.0, P2::new(390.0, 0.0), &config(3.0)).unwrap();
    assert_eq!(route.lanelet_ids(), [1001, 1003, 1005, 1007]);
    let hand = 190.0 / V50 + 190.0 / V30;
    assert!((route.travel_time_s - hand).abs() < 1e-3, "{} vs {hand}", route.travel_time_s);
    assert!((route.length_m - 380.0).abs() < 1e-6, "{}", route.length_m);
    assert!(route.points.iter().all(|p| p.position.y.abs() < 1e-9));
    // Speed limits ride along the path.
    let at = |x: f64| route.points.iter().find(|p| p.position.x >= x).unwrap().speed_limit_mps;
    assert!((at(150.0) - V50).abs() < 1e-9 && (at(250.0) - V30).abs() < 1e-9);
}

#[test]
fn overtakes_the_30_zone_on_the_left_lane_when_lane_changes_cost_2_s() {
    // Same trip; via the left lane now costs 20.88 + 10.8 + 2 × 2 = 35.68 s < 36.48 s.
    let map = tiny_map();
    let route = plan_route(&map, P2::new(10.0, 0.0), 0.0, P2::new(390.0, 0.0), &config(2.0)).unwrap();
    assert_eq!(route.lanelet_ids(), [1001, 1002, 1004, 1006, 1008, 1007]);
    let transitions: Vec<Transition> = route.steps.iter().map(|s| s.transition).collect();
    use Transition::*;
    assert_eq!(transitions, [Start, ChangeLeft, Follow, Follow, Follow, ChangeRight]);
    let hand = 290.0 / V50 + 90.0 / V30 + 4.0;
    assert!((route.travel_time_s - hand).abs() < 1e-3, "{} vs {hand}", route.travel_time_s);
    // The path blends from one lane centre to the other: no jump between points, and it is on
    // the left lane (y = 3.5) in the middle of the trip, back on the right at the goal.
    assert!(route.points.windows(2).all(|w| (w[1].position - w[0].position).norm() < 1.5));
    let at = |x: f64| route.points.iter().find(|p| p.position.x >= x).unwrap().position.y;
    assert!((at(200.0) - 3.5).abs() < 1e-9);
    assert!(at(389.0).abs() < 1e-9);
    // On the left lane, the right lane is room to move into across 1001/1002's dashed line only.
    let p = route.points.iter().find(|p| p.position.x >= 150.0).unwrap();
    assert!((p.left_room_m - 1.75).abs() < 1e-9 && (p.right_room_m - 1.75).abs() < 1e-9, "solid line at x = 150");
}

#[test]
fn a_goal_given_in_latitude_longitude_routes_like_the_same_goal_in_map() {
    let map = tiny_map();
    let geo = map.enu().geodetic_from_enu(&nalgebra::Point3::new(390.0, 0.0, 0.0)).unwrap();
    let mut planner = GlobalPlanner::new(config(3.0));
    planner.set_goal(Goal::Geodetic(geo));
    assert_eq!(planner.update(&map, &ego(10.0, 0.0, 0.0, 0.0)).unwrap(), Some(ReplanReason::NoRoute));
    let route = planner.route().unwrap();
    assert_eq!(route.lanelet_ids(), [1001, 1003, 1005, 1007]);
    assert!((route.goal - P2::new(390.0, 0.0)).norm() < 1e-3, "{:?}", route.goal);
}

#[test]
fn the_curve_and_the_two_way_lanelet_are_routable_in_its_forward_direction() {
    let map = tiny_map();
    let route = plan_route(&map, P2::new(310.0, 0.0), 0.0, P2::new(430.0, 29.0), &config(2.0)).unwrap();
    assert_eq!(route.lanelet_ids(), [1007, 1011]);
    assert!(!route.steps[1].inverted);
    let arc = 30.0 * std::f64::consts::FRAC_PI_2;
    assert!((route.length_m - (90.0 + arc - 1.0)).abs() < 0.2, "{}", route.length_m);
}

#[test]
fn an_unreachable_goal_is_a_no_route_error_naming_both_lanelets() {
    // 1010 runs west, south of 1007; no lane leads into it.
    let map = tiny_map();
    let err = plan_route(&map, P2::new(10.0, 0.0), 0.0, P2::new(350.0, -3.5), &config(2.0)).unwrap_err();
    assert!(matches!(err, PlanningError::NoRoute { start: 1001, goal: 1010 }), "{err}");
    assert_eq!(err.to_string(), "no route from lanelet 1001 to lanelet 1010");
    // Behind the start on a one-way road: also no route.
    let err = plan_route(&map, P2::new(50.0, 0.0), 0.0, P2::new(20.0, 0.0), &config(2.0)).unwrap_err();
    assert!(matches!(err, PlanningError::NoRoute { start: 1001, goal: 1001 }), "{err}");
    // Far from any lane: off the map, with the distance.
    let err = plan_route(&map, P2::new(10.0, 0.0), 0.0, P2::new(200.0, 60.0), &config(2.0)).unwrap_err();
    assert!(matches!(err, PlanningError::OffMap { what: "goal", .. }), "{err}");
}

#[test]
fn replans_when_the_ego_leaves_the_route_or_the_goal_moves_and_not_otherwise() {
    let map = tiny_map();
    let mut planner = GlobalPlanner::new(config(3.0));
    assert_eq!(planner.update(&map, &ego(10.0, 0.0, 0.0, 10.0)).unwrap(), None, "no goal yet");
    planner.set_goal(Goal::Map { x_m: 390.0, y_m: 0.0 });
    assert_eq!(planner.update(&map, &ego(10.0, 0.0, 0.0, 10.0)).unwrap(), Some(ReplanReason::NoRoute));
    // Driving along the route, a little off-centre: kept.
    assert_eq!(planner.update(&map, &ego(60.0, 1.0, 0.05, 10.0)).unwrap(), None);
    assert_eq!(planner.update(&map, &ego(60.0, 1.0, 0.05, 10.0)).unwrap(), None);
    // The ego moved into the left lane (3.5 m off the route): replanned from there.
    let reason = planner.update(&map, &ego(80.0, 3.5, 0.0, 10.0)).unwrap();
    assert!(
        matches!(reason, Some(ReplanReason::LeftRoute { lateral_m }) if (lateral_m - 3.5).abs() < 1e-9),
        "{reason:?}"
    );
    assert_eq!(planner.route().unwrap().start_lanelet(), Some(LaneletId(1002)));
    // A new goal on the curve.
    planner.set_goal(Goal::Map { x_m: 430.0, y_m: 29.0 });
    assert_eq!(planner.update(&map, &ego(80.0, 3.5, 0.0, 10.0)).unwrap(), Some(ReplanReason::GoalChanged));
    assert_eq!(planner.route().unwrap().goal_lanelet(), Some(LaneletId(1011)));
    // An unreachable goal: the error, and no stale route left to follow.
    planner.set_goal(Goal::Map { x_m: 350.0, y_m: -3.5 });
    assert!(matches!(planner.update(&map, &ego(80.0, 3.5, 0.0, 10.0)), Err(PlanningError::NoRoute { .. })));
    assert!(planner.route().is_none());
    // NaN pose: refused.
    assert!(planner.update(&map, &ego(f64::NAN, 0.0, 0.0, 0.0)).is_err());
}

#[test]
fn the_route_converts_to_a_path_in_map() {
    let map = tiny_map();
    let route = plan_route(&map, P2::new(10.0, 0.0), 0.0, P2::new(390.0, 0.0), &config(3.0)).unwrap();
    let stamp = fusor_core::Stamp::from_nanos(42);
    let path = route.to_path(stamp);
    assert_eq!(path.frame_id.as_str(), "map");
    assert_eq!(path.poses.len(), route.points.len());
    assert!(path.poses.iter().all(|p| p.stamp == stamp && p.yaw_rad.abs() < 1e-9));
    assert!((path.poses[0].orientation().angle()).abs() < 1e-9);
}
