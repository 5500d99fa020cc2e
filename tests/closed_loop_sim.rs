//! Closed loop with the simulator's ego: fusor-planning's route and local path drive fusor-sim's
//! [`ControlledEgo`] through the default town (`recordings/town-day.toml`) among its actors.
//!
//! At 10 Hz the world's ground truth at time t (cars, parked cars, pedestrians, cyclists with
//! their velocities) becomes `map` tracks for the local planner, which plans along the global
//! planner's route; at 100 Hz a pure-pursuit steering and a speed loop turn the latest local path
//! into commands, and the sim ego steps. The speed loop also keeps to a lateral acceleration limit on the path's curvature
//! ahead, as a velocity smoother between planner and controller would. The actors are scripted:
//! they do not react to the ego. `CLOSED_LOOP_TRACE=1` prints every planning tick.
//!
//! Three runs: the default town from the default drive's start (a goal 266 m of lanes away, with
//! crossing traffic and pedestrians), the same streets empty (two junction turns), and one
//! pedestrian crossing in front. An ignored test draws the first as `docs/closed_loop_sim.png`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use fusor_core::{Box3, ObjectClass, Stamp, Track};
use fusor_planning::geometry::{wrap_angle, Polyline, P2};
use fusor_planning::{
    Decision, EgoState, GlobalPlanner, Goal, LaneletMap, LocalConfig, LocalPath, LocalPlanner, MapConfig, RouteConfig,
    StopReason, VehicleShape,
};
use fusor_sim::ego::{EgoTrajectory, EGO_STEP_S};
use fusor_sim::world::{Actor, Motion};
use fusor_sim::{ControlledEgo, EgoCommand, Scenario, VehicleConfig, World};
use std::path::Path;

/// Planning period, in sim steps (10 Hz at 100 Hz).
const STEPS_PER_PLAN: usize = 10;
/// The speed loop stops this far short of the end of a stopping path, m.
const STOP_SHORT_M: f64 = 1.0;
/// Deceleration the speed loop plans stops with, m/s² (the planner's comfortable one).
const STOP_DECEL_M_S2: f64 = 2.5;
/// Lateral acceleration the speed loop allows on the path's curvature, m/s² (the planner's).
const MAX_LATERAL_M_S2: f64 = 2.0;
/// The ego is at the goal when `base_link` stands within this distance of it, m.
const GOAL_TOLERANCE_M: f64 = 2.0;

fn scenario() -> Scenario {
    Scenario::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("../recordings/town-day.toml")).unwrap()
}

/// The town's road network through fusor-sim's Lanelet2 export, loaded by fusor-planning.
fn town_map(scenario: &Scenario, world: &World) -> LaneletMap {
    let o = scenario.origin;
    let enu = fusor_core::geodesy::LocalEnu::new(o.lat_deg, o.lon_deg, o.alt_m).unwrap();
    let osm = fusor_sim::lanelet2::export_lanelet2_osm(world.town().unwrap(), &enu).unwrap();
    LaneletMap::from_osm_str(&osm, &MapConfig::new(o.lat_deg, o.lon_deg, o.alt_m).unwrap()).unwrap()
}

/// Bird's-eye corners, counter-clockwise from the front left, of a box at `centre` heading `yaw`
/// that spans `along` = (rear, front) metres along the heading and `half_w` either side.
fn rect(centre: [f64; 2], yaw: f64, along: (f64, f64), half_w: f64) -> [P2; 4] {
    let (s, c) = yaw.sin_cos();
    let f = |a: f64, b: f64| P2::new(centre[0] + c * a - s * b, centre[1] + s * a + c * b);
    [f(along.1, half_w), f(along.0, half_w), f(along.0, -half_w), f(along.1, -half_w)]
}

fn box_corners(b: &Box3) -> [P2; 4] {
    rect([b.center.x, b.center.y], b.yaw_rad, (-b.size.x / 2.0, b.size.x / 2.0), b.size.y / 2.0)
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
fn gap(a: &[P2; 4], b: &[P2; 4]) -> f64 {
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

/// Ground truth at `t_s` within `radius_m` of `at` as confirmed `map` tracks.
fn tracks_at(world: &World, t_s: f64, stamp: Stamp, at: P2, radius_m: f64) -> Vec<Track> {
    world
        .objects_at(t_s)
        .into_iter()
        .filter(|o| (P2::new(o.bbox.center.x, o.bbox.center.y) - at).norm() < radius_m)
        .map(|o| Track {
            id: u64::from(o.id),
            stamp,
            bbox: o.bbox,
            velocity: o.velocity_m_s,
            class: o.class,
            score: 1.0,
            hits: 10,
        })
        .collect()
}

/// Pure pursuit on the local path's poses and a speed loop on its speed profile.
fn control(ego: &ControlledEgo, path: &LocalPath) -> EgoCommand {
    let poses = &path.path.poses;
    let [x, y] = ego.position_xy();
    let here = P2::new(x, y);
    let v = ego.speed_m_s();
    let brake = EgoCommand { accel_m_s2: -ego.config().max_decel_m_s2, steer_rad: ego.steer_rad() };
    if poses.len() < 2 {
        return brake;
    }
    let line = Polyline::new(poses.iter().map(|p| P2::new(p.position.x, p.position.y)).collect());
    let Some(proj) = line.project(here) else { return brake };
    let s_end = line.length();
    // Beyond its end the path continues straight (a stop is held there by the speed loop).
    let point_at = |s: f64| {
        if s <= s_end {
            line.point_at(s)
        } else {
            let last = poses[poses.len() - 1].yaw_rad;
            line.point_at(s_end) + nalgebra::Vector2::new(last.cos(), last.sin()) * (s - s_end)
        }
    };
    let speed_at = |s: f64| {
        let s_k = line.arc_lengths();
        let i = s_k.partition_point(|&a| a <= s);
        if i == 0 {
            poses[0].speed_mps
        } else if i >= poses.len() {
            poses[poses.len() - 1].speed_mps
        } else {
            let u = (s - s_k[i - 1]) / (s_k[i] - s_k[i - 1]).max(1e-9);
            poses[i - 1].speed_mps + u * (poses[i].speed_mps - poses[i - 1].speed_mps)
        }
    };
    // Pure pursuit on the point `lookahead` metres along the path: the arc through it tangent to
    // the heading. Longer lookaheads cut corners and lag lane changes, shorter ones weave.
    let lookahead = (1.0 + 0.3 * v).clamp(2.5, 8.0);
    let target = point_at(proj.s_m + lookahead);
    let to = target - here;
    let alpha = wrap_angle(to.y.atan2(to.x) - ego.yaw_rad());
    let ld = to.norm().max(1e-3);
    let steer = (2.0 * ego.config().wheelbase_m * alpha.sin() / ld).atan();
    // Reach in 0.4 s the speed planned 0.4 s ahead.
    const PREVIEW_S: f64 = 0.4;
    let mut v_ref = speed_at(proj.s_m + (v * PREVIEW_S).max(0.5));
    // Velocity smoothing between planner and controller: no faster than the lateral acceleration
    // limit allows on the path's curvature ahead, braking for it at the comfortable rate.
    let s_k = line.arc_lengths();
    for k in 1..poses.len() - 1 {
        let (a, b) = (k.saturating_sub(2), (k + 2).min(poses.len() - 1));
        let ds = s_k[b] - s_k[a];
        if s_k[k] < proj.s_m || ds < 1e-6 {
            continue;
        }
        let kappa = wrap_angle(poses[b].yaw_rad - poses[a].yaw_rad).abs() / ds;
        let v_curve_sq = MAX_LATERAL_M_S2 / kappa.max(1e-6);
        v_ref = v_ref.min((v_curve_sq + 2.0 * STOP_DECEL_M_S2 * (s_k[k] - proj.s_m)).sqrt());
    }
    if poses[poses.len() - 1].speed_mps <= 0.0 {
        // The path stops at its end: brake for a point 1 m short of it (the planner puts a stop
        // at the ego one sample on, so the end never comes closer than that), and hold the
        // standstill with the brakes instead of creeping up to it.
        let room = (s_end - proj.s_m - STOP_SHORT_M).max(0.0);
        v_ref = v_ref.min((2.0 * STOP_DECEL_M_S2 * room).sqrt());
    }
    let accel = if v_ref < 0.05 && v < 1.0 { -ego.config().max_decel_m_s2 } else { (v_ref - v) / PREVIEW_S };
    EgoCommand { accel_m_s2: accel, steer_rad: steer }
}

/// A decision without its numbers, to log changes.
fn decision_kind(d: &Decision) -> String {
    match d {
        Decision::Follow => "follow".into(),
        Decision::Nudge(o) => format!("nudge {o:+.1}"),
        Decision::ChangeLane(o) => format!("change lane {o:+.1}"),
        Decision::Stop { reason: StopReason::Goal, .. } => "stop: goal".into(),
        Decision::Stop { reason: StopReason::Yield(id), .. } => format!("stop: yield to {id}"),
        Decision::Stop { reason: StopReason::Blocked(id), .. } => format!("stop: blocked by {id}"),
        Decision::EmergencyStop => "emergency stop".into(),
    }
}

/// One planning tick of a run.
#[derive(Debug, Clone)]
struct Tick {
    /// Sim time, s.
    t_s: f64,
    /// `base_link` in `map`.
    position: P2,
    /// Heading, rad.
    yaw_rad: f64,
    /// Speed, m/s.
    speed_m_s: f64,
    /// What the local path planned.
    decision: Decision,
    /// Signed offset of `base_link` from the route centreline, m (left positive).
    lateral_m: f64,
    /// True when this plan and every plan of the 3 s before kept to the route (end offset under
    /// 0.25 m): no obstacle forced a deviation.
    undisturbed: bool,
}

/// What a run measured.
#[derive(Debug)]
struct Run {
    /// Sim time at which the ego stood at the goal, s.
    reached_s: Option<f64>,
    /// Distance driven, m.
    distance_m: f64,
    /// Route length at the start, m.
    route_m: f64,
    /// Smallest gap between the ego footprint and any actor box over the run (100 Hz), m, with the
    /// actor id and the time.
    min_clearance: (f64, u32, f64),
    /// Smallest gap per actor id, m.
    clearance_by_actor: std::collections::BTreeMap<u32, f64>,
    /// Farthest a footprint corner got outside the lanes of the map that run its way, m.
    off_lane_m: f64,
    /// Planning ticks (10 Hz).
    ticks: Vec<Tick>,
    /// Global replans after the first plan.
    replans: usize,
}

impl Run {
    /// RMS and max of the lateral offset from the route over the undisturbed ticks, and their count.
    fn undisturbed_lateral(&self) -> (f64, f64, usize) {
        let lat: Vec<f64> = self.ticks.iter().filter(|t| t.undisturbed).map(|t| t.lateral_m).collect();
        let rms = (lat.iter().map(|d| d * d).sum::<f64>() / lat.len().max(1) as f64).sqrt();
        (rms, lat.iter().fold(0.0f64, |m, d| m.max(d.abs())), lat.len())
    }

    /// Decision changes: (time s, decision).
    fn decisions(&self) -> Vec<(f64, Decision)> {
        let mut out: Vec<(f64, Decision)> = Vec::new();
        for t in &self.ticks {
            if out.last().is_none_or(|(_, d)| decision_kind(d) != decision_kind(&t.decision)) {
                out.push((t.t_s, t.decision));
            }
        }
        out
    }

    /// Times (s) at which the ego came to a standstill (< 0.1 m/s) before the goal.
    fn stops_s(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut standing = true;
        for t in &self.ticks {
            if t.speed_m_s < 0.1 && !standing && self.reached_s.is_none_or(|r| t.t_s < r) {
                out.push(t.t_s);
                standing = true;
            } else if t.speed_m_s > 1.0 {
                standing = false;
            }
        }
        out
    }

    /// Ids of the actors the plans yielded to or stopped for.
    fn stopped_for(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .ticks
            .iter()
            .filter_map(|t| match t.decision {
                Decision::Stop { reason: StopReason::Yield(id) | StopReason::Blocked(id), .. } => Some(id),
                _ => None,
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// The closed loop: from `start` (position, heading) at rest at sim time 0 to `goal`, for at most
/// `limit_s` seconds of sim time.
fn drive(world: &World, map: &LaneletMap, start: (P2, f64), goal: P2, limit_s: f64) -> Run {
    let config = VehicleConfig::default();
    let mut ego = ControlledEgo::new(config.clone(), *world.ground(), start.0.x, start.0.y, start.1, 0.0).unwrap();
    let shape = VehicleShape { length_m: config.length_m, width_m: config.width_m, rear_overhang_m: config.rear_m() };
    // The planner plans with what the vehicle can do.
    let mut local = LocalPlanner::new(LocalConfig {
        vehicle: shape,
        max_decel_mps2: config.max_decel_m_s2,
        accel_mps2: config.max_accel_m_s2,
        ..LocalConfig::default()
    });
    let mut global = GlobalPlanner::new(RouteConfig::default());
    global.set_goal(Goal::Map { x_m: goal.x, y_m: goal.y });
    let t0 = 1_700_000_000.0;
    let ego_state = |ego: &ControlledEgo| {
        let [x, y] = ego.position_xy();
        EgoState {
            stamp: Stamp::from_secs_f64(t0 + ego.t_s()).unwrap(),
            position: P2::new(x, y),
            yaw_rad: ego.yaw_rad(),
            speed_mps: ego.speed_m_s(),
        }
    };
    global.update(map, &ego_state(&ego)).unwrap();
    let mut run = Run {
        reached_s: None,
        distance_m: 0.0,
        route_m: global.route().unwrap().length_m,
        min_clearance: (f64::INFINITY, 0, 0.0),
        clearance_by_actor: Default::default(),
        off_lane_m: 0.0,
        ticks: Vec::new(),
        replans: 0,
    };
    let mut last_deviation_s = f64::NEG_INFINITY;
    let plans = (limit_s / (EGO_STEP_S * STEPS_PER_PLAN as f64)).round() as usize;
    for _ in 0..plans {
        let t = ego.t_s();
        let state = ego_state(&ego);
        if global.update(map, &state).unwrap().is_some() {
            run.replans += 1;
        }
        let route = global.route().unwrap();
        let tracks = tracks_at(world, t, state.stamp, state.position, 90.0);
        let path = local.plan(route, &state, &tracks).unwrap();
        if path.end_offset_m.abs() >= 0.25 || !matches!(path.decision, Decision::Follow | Decision::Stop { .. }) {
            last_deviation_s = t;
        }
        let lateral_m = route.project(state.position).map(|p| p.d_m).unwrap_or(f64::INFINITY);
        run.ticks.push(Tick {
            t_s: t,
            position: state.position,
            yaw_rad: state.yaw_rad,
            speed_m_s: state.speed_mps,
            decision: path.decision,
            lateral_m,
            undisturbed: t - last_deviation_s > 3.0,
        });
        if std::env::var_os("CLOSED_LOOP_TRACE").is_some() {
            println!(
                "t {t:5.1} p ({:7.2},{:7.2}) yaw {:5.2} v {:5.2} steer {:5.2} lat {lateral_m:5.2} {} end {:+.1}",
                state.position.x,
                state.position.y,
                state.yaw_rad,
                state.speed_mps,
                ego.steer_rad(),
                decision_kind(&path.decision),
                path.end_offset_m,
            );
        }
        if (state.position - goal).norm() < GOAL_TOLERANCE_M && state.speed_mps < 0.1 {
            run.reached_s = Some(t);
            break;
        }
        for _ in 0..STEPS_PER_PLAN {
            ego.step(&control(&ego, &path)).unwrap();
            let [x, y] = ego.position_xy();
            let footprint = ego.footprint_xy().map(|[x, y]| P2::new(x, y));
            for corner in footprint {
                let off = map
                    .locate(corner, Some(ego.yaw_rad()), 5.0)
                    .map(|m| {
                        let lane = &map.lanes()[m.lane];
                        let f = m.s_m / lane.length_m().max(1e-9);
                        (m.d_m.abs() - lane.half_width_at(f)).max(0.0)
                    })
                    .unwrap_or(f64::INFINITY);
                run.off_lane_m = run.off_lane_m.max(off);
            }
            for o in world.objects_at(ego.t_s()) {
                if (P2::new(o.bbox.center.x, o.bbox.center.y) - P2::new(x, y)).norm() > 15.0 {
                    continue;
                }
                let g = gap(&footprint, &box_corners(&o.bbox));
                let best = run.clearance_by_actor.entry(o.id).or_insert(f64::INFINITY);
                *best = best.min(g);
                if g < run.min_clearance.0 {
                    run.min_clearance = (g, o.id, ego.t_s());
                }
            }
        }
    }
    run.distance_m = ego.odometer_m();
    run
}

fn actor(world: &World, id: u64) -> Option<&Actor> {
    world.actors().iter().find(|a| u64::from(a.id) == id)
}

fn report(name: &str, run: &Run, world: &World) {
    let (rms, max, n) = run.undisturbed_lateral();
    let closest = actor(world, u64::from(run.min_clearance.1))
        .map_or(String::new(), |a| format!("{} {:?} ({})", a.id, a.class, a.motion_kind()));
    println!(
        "{name}: route {:.0} m; goal {}; driven {:.1} m; min clearance {:.2} m to actor {closest} at {:.1} s; \
         lateral offset from the route where undisturbed: RMS {rms:.3} m, max {max:.2} m over {n} ticks ({:.1} s); \
         footprint outside the lanes by at most {:.2} m; {} route replans; came to a standstill at {:?} s",
        run.route_m,
        run.reached_s.map_or("not reached".to_string(), |t| format!("reached after {t:.1} s")),
        run.distance_m,
        run.min_clearance.0,
        run.min_clearance.2,
        n as f64 * EGO_STEP_S * STEPS_PER_PLAN as f64,
        run.off_lane_m,
        run.replans,
        run.stops_s().iter().map(|t| (t * 10.0).round() / 10.0).collect::<Vec<_>>(),
    );
    let mut by_kind: std::collections::BTreeMap<String, f64> = Default::default();
    for (id, gap) in &run.clearance_by_actor {
        if let Some(a) = actor(world, u64::from(*id)) {
            let kind = format!("{:?} ({})", a.class, a.motion_kind());
            let best = by_kind.entry(kind).or_insert(f64::INFINITY);
            *best = best.min(*gap);
        }
    }
    let by_kind: Vec<String> = by_kind.iter().map(|(k, g)| format!("{k} {g:.2} m")).collect();
    println!("{name}: min clearance by kind of actor within 15 m: {}", by_kind.join(", "));
    for (t, d) in run.decisions() {
        let who = match d {
            Decision::Stop { reason: StopReason::Yield(id) | StopReason::Blocked(id), .. } => {
                actor(world, id).map(|a| format!(" ({:?}, {})", a.class, a.motion_kind())).unwrap_or_default()
            }
            _ => String::new(),
        };
        println!("  {t:5.1} s  {}{who}", decision_kind(&d));
    }
}

/// Sim time (s) up to which every moving actor of `world` is still on its route (past its end it
/// drives straight on, through the town's blocks).
fn routes_valid_s(world: &World) -> f64 {
    world
        .actors()
        .iter()
        .filter_map(|a| match &a.motion {
            Motion::Follow { path, s0_m, speed_m_s } if *speed_m_s > 0.0 => Some((path.length_m() - s0_m) / speed_m_s),
            _ => None,
        })
        .fold(f64::INFINITY, f64::min)
}

/// The town of a scenario with no actors at all.
fn empty_town(world: &World) -> World {
    World::from_parts(*world.ground(), world.town().copied(), Vec::new(), Vec::new(), world.seed())
}

/// The default town's run: its world, map and what the run measured.
fn default_town_run() -> (World, LaneletMap, Run, P2) {
    let scenario = scenario();
    let world = World::generate(&scenario.world_config());
    let map = town_map(&scenario, &world);
    // Start where the default drive starts, at rest; the goal lies 270 m along the default
    // drive's route: up the street through two junctions with crossing traffic and pedestrians,
    // then right at the town's edge.
    let default = EgoTrajectory::plan(&world, scenario.seed, scenario.duration_s, &scenario.ego).unwrap();
    let p0 = default.path().sample(0.0);
    let pg = default.path().sample(270.0);
    let goal = P2::new(pg.x, pg.y);
    // The world's moving actors have routes for the scenario's 60 s and a little more.
    let limit_s = routes_valid_s(&world);
    assert!(limit_s >= scenario.duration_s);
    let run = drive(&world, &map, (P2::new(p0.x, p0.y), p0.heading_rad), goal, limit_s);
    report("default town", &run, &world);
    println!("default town: every moving actor is on its route for the first {limit_s:.1} s");
    (world, map, run, goal)
}

#[test]
fn sim_ego_follows_fusors_local_path_through_the_default_town_to_the_goal() {
    let (world, _, run, _) = default_town_run();

    // (a) The goal, ≥ 250 m of lane travel away, is reached while the actors are on their routes.
    assert!(run.route_m >= 250.0, "route {} m", run.route_m);
    assert!(run.reached_s.is_some(), "goal not reached: {:?}", run.ticks.last());
    assert!(run.distance_m >= 0.95 * run.route_m, "drove {} m", run.distance_m);
    // (b) No actor came closer to the footprint than the planner's safety margin.
    let margin = LocalConfig::default().safety_margin_m;
    assert!(run.min_clearance.0 >= margin, "min clearance {:?}", run.min_clearance);
    // (c) Where no obstacle pushed the plan off the route, the ego keeps to the route centreline,
    // and it never leaves the lanes running its way (lane changes stay on the carriageway).
    let (rms, max, n) = run.undisturbed_lateral();
    assert!(n >= 100, "only {n} undisturbed ticks");
    assert!(rms <= 0.3, "RMS lateral error {rms} m");
    assert!(max <= 0.6, "max lateral error {max} m");
    assert!(run.off_lane_m <= 0.3, "footprint {} m outside the lanes", run.off_lane_m);
    // (d) It had to react: it stopped for road users crossing its way (a pedestrian among them)
    // and stood still before the goal, and it left the route's centre to keep clear of others.
    let stopped_for: Vec<ObjectClass> =
        run.stopped_for().into_iter().filter_map(|id| actor(&world, id)).map(|a| a.class).collect();
    assert!(stopped_for.contains(&ObjectClass::Pedestrian), "{stopped_for:?}");
    assert!(stopped_for.contains(&ObjectClass::Car), "{stopped_for:?}");
    assert!(!run.stops_s().is_empty());
    assert!(run.ticks.iter().any(|t| matches!(t.decision, Decision::Nudge(_) | Decision::ChangeLane(_))));
}

#[test]
fn sim_ego_keeps_to_the_route_through_turns_on_empty_streets() {
    let scenario = scenario();
    let world = empty_town(&World::generate(&scenario.world_config()));
    let map = town_map(&scenario, &world);
    // North on the inner lane of the x = 0 street, then right and left again to the northbound
    // inner lane of x = 80: two junction turns.
    let start = (P2::new(1.75, -130.0), std::f64::consts::FRAC_PI_2);
    let goal = P2::new(81.75, 120.0);
    let run = drive(&world, &map, start, goal, 60.0);
    report("empty town", &run, &world);
    assert!(run.reached_s.is_some(), "goal not reached: {:?}", run.ticks.last());
    assert!(run.route_m >= 250.0);
    // Nothing to react to: the plan follows the route all the way.
    assert!(run
        .ticks
        .iter()
        .all(|t| matches!(t.decision, Decision::Follow | Decision::Stop { reason: StopReason::Goal, .. })));
    let lat: Vec<f64> = run.ticks.iter().map(|t| t.lateral_m).collect();
    let rms = (lat.iter().map(|d| d * d).sum::<f64>() / lat.len() as f64).sqrt();
    let max = lat.iter().fold(0.0f64, |m, d| m.max(d.abs()));
    println!("empty town: lateral offset from the route RMS {rms:.3} m, max {max:.2} m over the whole run");
    assert!(rms <= 0.3, "{rms}");
    assert!(max <= 0.6, "{max}");
    assert!(run.off_lane_m <= 0.3, "{}", run.off_lane_m);
}

#[test]
fn sim_ego_stops_for_a_pedestrian_crossing_in_front_and_then_goes_on() {
    let scenario = scenario();
    let town_world = World::generate(&scenario.world_config());
    let town = *town_world.town().unwrap();
    // North on the inner lane of the x = 0 street; a pedestrian leaves the right-hand pavement at
    // t = 4 s and walks across at 1.2 m/s, 45 m ahead of the start.
    let start = (P2::new(1.75, -145.0), std::f64::consts::FRAC_PI_2);
    let goal = P2::new(1.75, 60.0);
    let cross_y = -100.0;
    let walk_offset = fusor_sim::road::WALK_OFFSET_M;
    let (speed, pause, leaves_s) = (1.2, 10.0, 4.0);
    let walk_s = 2.0 * walk_offset / speed;
    let period = 2.0 * (walk_s + pause);
    let pedestrian = Actor {
        id: 1,
        class: ObjectClass::Pedestrian,
        size: fusor_sim::world::pedestrian_size(1.75),
        motion: Motion::Shuttle {
            a: [walk_offset, cross_y],
            b: [-walk_offset, cross_y],
            speed_m_s: speed,
            pause_s: pause,
            phase_s: period - leaves_s,
        },
        parts: Vec::new(),
    };
    let world = World::from_parts(*town_world.ground(), Some(town), Vec::new(), vec![pedestrian], 0);
    let map = town_map(&scenario, &world);
    let run = drive(&world, &map, start, goal, 60.0);
    report("pedestrian crossing", &run, &world);

    assert!(run.reached_s.is_some(), "goal not reached: {:?}", run.ticks.last());
    assert_eq!(run.stopped_for(), vec![1]);
    // It stood still before the crossing while the pedestrian was on the carriageway ahead ...
    let stops = run.stops_s();
    assert_eq!(stops.len(), 1, "{stops:?}");
    let stop = run.ticks.iter().find(|t| t.t_s == stops[0]).unwrap();
    let front_y = stop.position.y + VehicleConfig::default().front_m;
    let ped_x = world.objects_at(stop.t_s)[0].bbox.center.x;
    println!(
        "pedestrian crossing: stood still at {:.1} s with the front bumper {:.1} m before the crossing line, the \
         pedestrian at x = {ped_x:.1} m",
        stop.t_s,
        cross_y - front_y
    );
    assert!(cross_y - front_y >= 2.0, "front bumper {} m before the crossing", cross_y - front_y);
    assert!(ped_x.abs() < fusor_sim::road::CARRIAGEWAY_HALF_M + 1.0, "pedestrian at x = {ped_x}");
    // ... and went on once it had crossed its lane.
    let moving_again = run.ticks.iter().find(|t| t.t_s > stop.t_s && t.speed_m_s > 1.0).unwrap();
    let ped_x = world.objects_at(moving_again.t_s)[0].bbox.center.x;
    assert!(ped_x < 0.0, "went on with the pedestrian at x = {ped_x}");
    let config = LocalConfig::default();
    assert!(run.min_clearance.0 >= config.safety_margin_m + config.vulnerable_margin_m, "{:?}", run.min_clearance);
}

/// Writes `docs/closed_loop_sim.png`: the default town's run from above. Run it with
/// `cargo test -p fusor-tests --test closed_loop_sim -- --ignored`.
#[test]
#[ignore = "writes docs/closed_loop_sim.png"]
fn draw_the_default_town_run() {
    use plotters::prelude::*;
    const FONT: &str = "sans-serif";
    let text = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok();
    let (world, map, run, goal) = default_town_run();
    let reached = run.reached_s.unwrap();

    // Equal scales in x and y around the ego's trace.
    let (mut lo, mut hi) = (P2::new(f64::INFINITY, f64::INFINITY), P2::new(f64::NEG_INFINITY, f64::NEG_INFINITY));
    for t in &run.ticks {
        lo = P2::new(lo.x.min(t.position.x), lo.y.min(t.position.y));
        hi = P2::new(hi.x.max(t.position.x), hi.y.max(t.position.y));
    }
    let margin = 22.0;
    let half_w = (0.5 * (hi.x - lo.x) + margin).max(85.0);
    let mid_x = 0.5 * (lo.x + hi.x);
    let (x0, x1, y0, y1) = (mid_x - half_w, mid_x + half_w, lo.y - margin, hi.y + margin);
    let px_per_m = 4.0;
    let (w, h) = (((x1 - x0) * px_per_m) as u32 + 70, ((y1 - y0) * px_per_m) as u32 + 110);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/closed_loop_sim.png");
    let root = BitMapBackend::new(&path, (w, h)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let mut builder = ChartBuilder::on(&root);
    builder.margin(10).x_label_area_size(30).y_label_area_size(40);
    if text {
        builder.caption(
            format!(
                "fusor closed loop, default town: {:.0} m route, goal after {reached:.1} s, min clearance {:.2} m",
                run.route_m, run.min_clearance.0
            ),
            (FONT, 15),
        );
    }
    let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).unwrap();
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh();
    if text {
        mesh.x_desc("east (m)").y_desc("north (m)").x_labels(8).y_labels(12).label_style((FONT, 12));
    } else {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw().unwrap();
    let inside = |p: &P2| p.x > x0 - 50.0 && p.x < x1 + 50.0 && p.y > y0 - 50.0 && p.y < y1 + 50.0;
    let grey = RGBColor(190, 190, 190);
    for l in map.lanelets() {
        for bound in [&l.left, &l.right] {
            if bound.points.iter().any(inside) {
                let pts: Vec<(f64, f64)> = bound.points.iter().map(|p| (p.x, p.y)).collect();
                chart.draw_series(std::iter::once(PathElement::new(pts, grey.stroke_width(1)))).unwrap();
            }
        }
    }
    let outline = |c: [P2; 4]| c.iter().chain(std::iter::once(&c[0])).map(|p| (p.x, p.y)).collect::<Vec<_>>();
    // Parked cars.
    for o in world.objects_at(0.0) {
        let a = actor(&world, u64::from(o.id)).unwrap();
        if a.motion_kind() == "parked" && inside(&P2::new(o.bbox.center.x, o.bbox.center.y)) {
            let c = box_corners(&o.bbox);
            chart.draw_series(std::iter::once(Polygon::new(outline(c), RGBColor(150, 150, 150).filled()))).unwrap();
        }
    }
    // The road users the plans stopped for: their track over the run and their box when the ego
    // first yielded to them.
    let palette = [RGBColor(214, 39, 40), RGBColor(255, 127, 14), RGBColor(148, 103, 189), RGBColor(44, 160, 44)];
    for (i, id) in run.stopped_for().into_iter().enumerate() {
        let color = palette[i % palette.len()];
        let track: Vec<(f64, f64)> = (0..=(reached * 4.0) as usize)
            .filter_map(|k| world.objects_at(k as f64 * 0.25).into_iter().find(|o| u64::from(o.id) == id))
            .map(|o| (o.bbox.center.x, o.bbox.center.y))
            .collect();
        chart.draw_series(std::iter::once(PathElement::new(track, color.mix(0.5).stroke_width(1)))).unwrap();
        let first = run
            .ticks
            .iter()
            .find(|t| {
                matches!(t.decision, Decision::Stop { reason: StopReason::Yield(y) | StopReason::Blocked(y), .. } if y == id)
            })
            .unwrap();
        let o = world.objects_at(first.t_s).into_iter().find(|o| u64::from(o.id) == id).unwrap();
        chart.draw_series(std::iter::once(Polygon::new(outline(box_corners(&o.bbox)), color.filled()))).unwrap();
        if text {
            let class = actor(&world, id).map_or("?".to_string(), |a| format!("{:?}", a.class).to_lowercase());
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{class} {id} @ {:.1} s", first.t_s),
                    (o.bbox.center.x + 1.5, o.bbox.center.y),
                    (FONT, 11).into_font().color(&color),
                )))
                .unwrap();
        }
    }
    // The ego: trace, footprint every 4 s, standstills.
    let blue = RGBColor(31, 119, 180);
    let config = VehicleConfig::default();
    let trace: Vec<(f64, f64)> = run.ticks.iter().map(|t| (t.position.x, t.position.y)).collect();
    chart.draw_series(std::iter::once(PathElement::new(trace, blue.stroke_width(2)))).unwrap();
    for t in run.ticks.iter().step_by(40) {
        let c = rect([t.position.x, t.position.y], t.yaw_rad, (-config.rear_m(), config.front_m), config.width_m / 2.0);
        chart.draw_series(std::iter::once(PathElement::new(outline(c), blue.stroke_width(1)))).unwrap();
    }
    for s in run.stops_s() {
        let t = run.ticks.iter().find(|t| t.t_s == s).unwrap();
        chart.draw_series(std::iter::once(Circle::new((t.position.x, t.position.y), 4, RED.filled()))).unwrap();
        if text {
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("stop {s:.1} s"),
                    (t.position.x - 14.0, t.position.y),
                    (FONT, 11).into_font().color(&RED),
                )))
                .unwrap();
        }
    }
    let start = run.ticks[0].position;
    chart.draw_series(std::iter::once(Circle::new((start.x, start.y), 5, GREEN.filled()))).unwrap();
    chart.draw_series(std::iter::once(Cross::new((goal.x, goal.y), 6, BLACK.stroke_width(2)))).unwrap();
    if text {
        for (p, label) in [(start, "start"), (goal, "goal")] {
            chart
                .draw_series(std::iter::once(Text::new(label, (p.x + 2.0, p.y - 4.0), (FONT, 12).into_font())))
                .unwrap();
        }
    }
    root.present().unwrap();
    println!("wrote {}", path.display());
}
