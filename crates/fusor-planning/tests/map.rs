//! The road map: the hand-written tiny map's topology, malformed maps, and the real Lanelet2
//! example map (Karlsruhe) read in place from the shared data.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{real_map_path, tiny_map};
use fusor_planning::geometry::P2;
use fusor_planning::{plan_route, Element, LaneletId, LaneletMap, MapConfig, PlanningError, RouteConfig};
use std::time::Instant;

fn ids(v: Vec<LaneletId>) -> Vec<i64> {
    let mut v: Vec<i64> = v.into_iter().map(|l| l.0).collect();
    v.sort_unstable();
    v
}

#[test]
fn tiny_map_has_its_lanelets_lanes_and_speed_limits() {
    let map = tiny_map();
    assert_eq!(map.lanelets().len(), 11);
    // Ten car lanelets, one of them two-way (1011), and the crosswalk 1020 for pedestrians only.
    assert_eq!(map.lanes().len(), 11);
    assert!(!map.lanelet(LaneletId(1020)).unwrap().vehicle);
    let kmh = |id| map.lanelet(LaneletId(id)).unwrap().speed_limit_mps * 3.6;
    assert!((kmh(1001) - 50.0).abs() < 1e-9, "urban default in Germany");
    assert!((kmh(1005) - 30.0).abs() < 1e-9, "speed_limit tag");
    assert!((kmh(1007) - 30.0).abs() < 1e-9, "speed_limit regulatory element");
    // The right bound of 1007 (way 2011) is drawn against the driving direction and was reversed.
    assert_eq!(map.reversed_bounds(), 1);
    let l1007 = map.lanelet(LaneletId(1007)).unwrap();
    assert!(l1007.right.reversed && l1007.right.points[0] == P2::new(300.0, -1.75));
}

#[test]
fn successors_come_from_shared_bound_end_nodes() {
    let map = tiny_map();
    assert_eq!(ids(map.successors(LaneletId(1001))), [1003]);
    assert_eq!(ids(map.successors(LaneletId(1004))), [1006]);
    // Only because way 2011 was reversed for 1007:
    assert_eq!(ids(map.successors(LaneletId(1005))), [1007]);
    assert_eq!(ids(map.successors(LaneletId(1007))), [1011]);
    assert!(map.successors(LaneletId(1008)).is_empty(), "1008 is a dead end");
    // Nothing leads into the westbound 1010.
    assert!(map.lanes().iter().all(|l| l.successors.iter().all(|&j| map.lanes()[j].lanelet != LaneletId(1010))));
}

#[test]
fn lane_changes_are_allowed_across_dashed_lines_only() {
    let map = tiny_map();
    let lane = |id| &map.lanes()[map.lane_index(LaneletId(id), false).unwrap()];
    let lanelet_of = |i: Option<usize>| i.map(|i| map.lanes()[i].lanelet.0);
    assert_eq!(lanelet_of(lane(1001).change_left), Some(1002));
    assert_eq!(lanelet_of(lane(1002).change_right), Some(1001));
    assert_eq!(lanelet_of(lane(1007).change_left), Some(1008));
    assert_eq!(lanelet_of(lane(1008).change_right), Some(1007));
    for solid in [1003, 1004, 1005, 1006] {
        assert_eq!((lane(solid).change_left, lane(solid).change_right), (None, None), "lanelet {solid}");
    }
    // Kerbs: 1007 may not change right into the oncoming 1010.
    assert_eq!(lane(1007).change_right, None);
}

#[test]
fn a_two_way_lanelet_gives_an_inverted_lane_and_a_centreline_on_its_arc() {
    let map = tiny_map();
    let fwd = &map.lanes()[map.lane_index(LaneletId(1011), false).unwrap()];
    let back = &map.lanes()[map.lane_index(LaneletId(1011), true).unwrap()];
    assert!((fwd.centerline.points()[0] - P2::new(400.0, 0.0)).norm() < 1e-9);
    assert!((back.centerline.points()[0] - P2::new(430.0, 30.0)).norm() < 1e-9);
    // The centreline is the mean of the bounds: on the 30 m arc about (400, 30), within the
    // chord sag of the 7.5° polyline.
    for p in fwd.centerline.points() {
        assert!(((p - P2::new(400.0, 30.0)).norm() - 30.0).abs() < 0.07, "{p:?}");
    }
    assert!((fwd.length_m() - 30.0 * std::f64::consts::FRAC_PI_2).abs() < 0.1, "{}", fwd.length_m());
}

const HEADER: &str = "<?xml version='1.0'?><osm version='0.6'>";

fn nodes_ok() -> String {
    "<node id='1' lat='49.0' lon='8.4'/><node id='2' lat='49.0' lon='8.401'/>\
     <node id='3' lat='49.00003' lon='8.4'/><node id='4' lat='49.00003' lon='8.401'/>"
        .to_owned()
}

fn lanelet(left: i64, right: i64) -> String {
    format!(
        "<relation id='7'><member type='way' role='left' ref='{left}'/><member type='way' role='right' ref='{right}'/>\
         <tag k='type' v='lanelet'/><tag k='subtype' v='road'/></relation>"
    )
}

fn load(body: &str) -> Result<LaneletMap, PlanningError> {
    LaneletMap::from_osm_str(&format!("{HEADER}{body}</osm>"), &MapConfig::new(49.0, 8.4, 0.0).unwrap())
}

fn map_error(body: &str) -> (Element, String) {
    match load(body) {
        Err(PlanningError::Map { element, message }) => (element, message),
        other => panic!("expected a map error, got {other:?}"),
    }
}

#[test]
fn a_minimal_lat_lon_map_loads_in_enu_at_the_origin() {
    let ways = "<way id='10'><nd ref='3'/><nd ref='4'/></way><way id='11'><nd ref='1'/><nd ref='2'/></way>";
    let map = load(&format!("{}{ways}{}", nodes_ok(), lanelet(10, 11))).unwrap();
    let lane = &map.lanes()[0];
    // 0.001° of longitude at 49° N is 73.1 m; 0.00003° of latitude 3.34 m.
    assert!((lane.length_m() - 73.14).abs() < 0.05, "{}", lane.length_m());
    assert!((lane.centerline.points()[0].y - 1.67).abs() < 0.01);
}

#[test]
fn malformed_maps_are_refused_naming_the_element() {
    let ways = "<way id='10'><nd ref='3'/><nd ref='4'/></way><way id='11'><nd ref='1'/><nd ref='2'/></way>";
    // A way refers to a node that is not there.
    let (e, m) = map_error(&format!("{}<way id='10'><nd ref='3'/><nd ref='99'/></way>", nodes_ok()));
    assert_eq!(e, Element::Way(10));
    assert!(m.contains("node 99"), "{m}");
    // A lanelet refers to a way that is not there.
    let (e, m) = map_error(&format!("{}{ways}{}", nodes_ok(), lanelet(10, 12)));
    assert_eq!(e, Element::Relation(7));
    assert!(m.contains("way 12"), "{m}");
    // A lanelet without a right bound.
    let (e, m) = map_error(&format!(
        "{}{ways}<relation id='7'><member type='way' role='left' ref='10'/><tag k='type' v='lanelet'/></relation>",
        nodes_ok()
    ));
    assert_eq!(e, Element::Relation(7));
    assert!(m.contains("no right bound"), "{m}");
    // NaN and missing coordinates.
    let (e, m) = map_error("<node id='5' lat='NaN' lon='8.4'/>");
    assert_eq!(e, Element::Node(5));
    assert!(m.contains("not finite"), "{m}");
    let (e, m) = map_error(&format!(
        "{}<node id='6'/><way id='10'><nd ref='3'/><nd ref='6'/></way><way id='11'><nd ref='1'/><nd ref='2'/></way>{}",
        nodes_ok(),
        lanelet(10, 11)
    ));
    assert_eq!(e, Element::Node(6));
    assert!(m.contains("no lat/lon"), "{m}");
    // A self-intersecting (figure-of-eight) bound.
    let (e, m) = map_error(&format!(
        "{}<way id='10'><nd ref='1'/><nd ref='4'/><nd ref='2'/><nd ref='3'/></way><way id='11'><nd ref='1'/><nd ref='2'/></way>{}",
        nodes_ok(),
        lanelet(10, 11)
    ));
    assert_eq!(e, Element::Way(10));
    assert!(m.contains("intersects itself"), "{m}");
    // A bad tag value and a one-node bound.
    let (e, m) = map_error(&format!(
        "{}{ways}<relation id='7'><member type='way' role='left' ref='10'/><member type='way' role='right' ref='11'/>\
         <tag k='type' v='lanelet'/><tag k='one_way' v='maybe'/></relation>",
        nodes_ok()
    ));
    assert_eq!(e, Element::Relation(7));
    assert!(m.contains("one_way"), "{m}");
    let (e, _) = map_error(&format!(
        "{}<way id='10'><nd ref='3'/></way><way id='11'><nd ref='1'/><nd ref='2'/></way>{}",
        nodes_ok(),
        lanelet(10, 11)
    ));
    assert_eq!(e, Element::Way(10));
    // Not XML, no drivable lanelet, a file that is not there.
    assert!(matches!(load("<node id='1'"), Err(PlanningError::Xml(_))));
    assert!(matches!(load(&nodes_ok()), Err(PlanningError::NoRoutableLanelet { lanelets: 0 })));
    let missing = LaneletMap::load("/nonexistent/map.osm", &MapConfig::new(49.0, 8.4, 0.0).unwrap());
    assert!(matches!(missing, Err(PlanningError::Io { .. })));
}

/// The two lanelets farthest apart (387 m between their middles) with a route between them. The
/// example map is several separately drawn areas: its car lanes form 37 weakly connected pieces
/// (the largest 145 lanes), since where a lane widens or meets a road without turn lanelets no
/// lanelet shares both end nodes; Lanelet2's routing graph, which uses the same rule, has the
/// same gaps.
const REAL_FROM: i64 = 45252;
const REAL_TO: i64 = 45566;
/// The pair Lanelet2's Python tutorial routes between.
const TUTORIAL: (i64, i64) = (4_984_315, 2_925_017);

#[test]
fn real_lanelet2_example_map_parses_connects_and_routes() {
    let Some(path) = real_map_path() else { return };
    let t0 = Instant::now();
    let map = LaneletMap::load(&path, &MapConfig::new(49.0, 8.4, 0.0).unwrap()).unwrap();
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(map.lanelets().len(), 371);
    assert_eq!(map.lanelets().iter().filter(|l| l.subtype == "road").count(), 337);
    let successors: usize = map.lanes().iter().map(|l| l.successors.len()).sum();
    let changes: usize = map.lanes().iter().map(|l| l.change_left.iter().count() + l.change_right.iter().count()).sum();
    println!(
        "real map: {} lanelets, {} lanes, {successors} successor edges, {changes} lane-change edges, {} bounds reversed, loaded in {load_ms:.1} ms",
        map.lanelets().len(),
        map.lanes().len(),
        map.reversed_bounds()
    );
    assert!(successors > map.lanes().len() / 2, "connectivity graph is trivial: {successors} edges");
    assert!(changes > 10);
    // Every node lies inside the documented extent (lat 49.00179–49.01115, lon 8.41195–8.45876)
    // seen from the origin (49.0, 8.4): ~0.87–4.3 km east, ~0.2–1.24 km north.
    for l in map.lanelets() {
        for p in l.left.points.iter().chain(&l.right.points) {
            assert!(p.x > 860.0 && p.x < 4_310.0 && p.y > 190.0 && p.y < 1_250.0, "lanelet {} point {p:?}", l.id);
        }
    }
    let from = &map.lanes()[map.lane_index(LaneletId(REAL_FROM), false).unwrap()];
    let to = &map.lanes()[map.lane_index(LaneletId(REAL_TO), false).unwrap()];
    let start = from.centerline.point_at_fraction(0.5);
    let goal = to.centerline.point_at_fraction(0.5);
    assert!((goal - start).norm() > 350.0, "{}", (goal - start).norm());
    let t0 = Instant::now();
    let route =
        plan_route(&map, start, from.centerline.heading_at(from.length_m() / 2.0), goal, &RouteConfig::default())
            .unwrap();
    let astar_ms = t0.elapsed().as_secs_f64() * 1e3;
    println!(
        "route {REAL_FROM} -> {REAL_TO}: {} lanelets, {:.0} m, {:.1} s travel time, planned in {astar_ms:.2} ms",
        route.steps.len(),
        route.length_m,
        route.travel_time_s
    );
    assert_eq!(route.start_lanelet(), Some(LaneletId(REAL_FROM)));
    assert_eq!(route.goal_lanelet(), Some(LaneletId(REAL_TO)));
    assert!(route.length_m > (goal - start).norm());
    assert!(route.steps.len() > 40, "{}", route.steps.len());
    // Consecutive route points are about 1 m apart: the path is continuous.
    assert!(route.points.windows(2).all(|w| (w[1].position - w[0].position).norm() < 2.5));

    let from = &map.lanes()[map.lane_index(LaneletId(TUTORIAL.0), false).unwrap()];
    let to = &map.lanes()[map.lane_index(LaneletId(TUTORIAL.1), false).unwrap()];
    let route = plan_route(
        &map,
        from.centerline.point_at_fraction(0.5),
        from.centerline.heading_at(from.length_m() / 2.0),
        to.centerline.point_at_fraction(0.5),
        &RouteConfig::default(),
    )
    .unwrap();
    println!("tutorial route {:?}: {} lanelets, {:.0} m", TUTORIAL, route.steps.len(), route.length_m);
    assert_eq!(route.goal_lanelet(), Some(LaneletId(TUTORIAL.1)));
}

#[test]
fn the_simulators_town_export_loads_in_both_coordinates_and_routes_across_town() {
    // fusor-sim's Lanelet2 export of the default town (recordings/town-day.osm), whose nodes carry
    // both lat/lon and local_x/local_y in the scenario's `map` (origin 49.011, 8.4165, 115 m).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recordings/town-day.osm");
    let mut config = MapConfig::new(49.011, 8.4165, 115.0).unwrap();
    let local = LaneletMap::load(&path, &config).unwrap();
    config.coordinates = fusor_planning::NodeCoordinates::LatLon;
    let projected = LaneletMap::load(&path, &config).unwrap();
    assert_eq!(local.lanes().len(), projected.lanes().len());
    let worst = local
        .lanelets()
        .iter()
        .zip(projected.lanelets())
        .flat_map(|(a, b)| {
            let pairs = a.left.points.iter().zip(&b.left.points).chain(a.right.points.iter().zip(&b.right.points));
            pairs.map(|(p, q)| (p - q).norm()).collect::<Vec<_>>()
        })
        .fold(0.0f64, f64::max);
    assert!(worst < 0.01, "lat/lon and local coordinates differ by {worst} m");
    // Every lane has a successor (a closed grid) and a route crosses the town.
    assert!(local.lanes().iter().all(|l| !l.successors.is_empty()));
    let first = &local.lanes()[0];
    let start = first.centerline.point_at_fraction(0.5);
    let far = local
        .lanes()
        .iter()
        .max_by(|a, b| {
            let (da, db) = (
                (a.centerline.point_at_fraction(0.5) - start).norm(),
                (b.centerline.point_at_fraction(0.5) - start).norm(),
            );
            da.total_cmp(&db)
        })
        .unwrap();
    let goal = far.centerline.point_at_fraction(0.5);
    let route =
        plan_route(&local, start, first.centerline.heading_at(first.length_m() / 2.0), goal, &RouteConfig::default())
            .unwrap();
    println!(
        "town: {} lanes; route across town {:.0} m ({:.0} m straight)",
        local.lanes().len(),
        route.length_m,
        (goal - start).norm()
    );
    assert!(route.length_m >= (goal - start).norm());
}
