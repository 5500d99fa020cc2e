//! The town's Lanelet2 export: well-formed OSM, complete references, one lanelet per lane and
//! junction movement, and successors implied by shared bound end nodes.
// The parser helpers run only inside tests: a malformed file should fail the test right there.
#![allow(clippy::unwrap_used)]

use fusor_core::geodesy::{Geodetic, LocalEnu};
use fusor_sim::geometry::Material;
use fusor_sim::lanelet2::{lanelet_count, leg_lane_count};
use fusor_sim::road::{export_lanelet2_osm, TownGrid};
use fusor_sim::Scenario;
use nalgebra::Point3;
use quick_xml::events::{BytesStart, Event};
use std::collections::{HashMap, HashSet};

/// A relation: id, members (type, ref, role) and tags.
type Relation = (i64, Vec<(String, i64, String)>, HashMap<String, String>);

#[derive(Debug, Default)]
struct Osm {
    nodes: HashMap<i64, (f64, f64, HashMap<String, String>)>,
    ways: HashMap<i64, (Vec<i64>, HashMap<String, String>)>,
    /// id → (members (type, ref, role), tags), in file order.
    relations: Vec<Relation>,
}

fn attr(e: &BytesStart<'_>, key: &str) -> String {
    let a = e.try_get_attribute(key).unwrap().unwrap_or_else(|| panic!("no attribute {key}"));
    a.unescape_value().unwrap().into_owned()
}

/// Parses OSM XML with quick-xml (a reader independent of the writer).
fn parse(xml: &str) -> Osm {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut osm = Osm::default();
    let mut current: Option<(&'static str, i64)> = None;
    let mut tags = HashMap::new();
    let mut refs = Vec::new();
    let mut members = Vec::new();
    let mut latlon = (0.0, 0.0);
    loop {
        let event = reader.read_event().unwrap();
        let (e, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if let Some((kind, id)) = current.take() {
                    assert_eq!(kind, name, "unbalanced element");
                    match kind {
                        "node" => {
                            osm.nodes.insert(id, (latlon.0, latlon.1, std::mem::take(&mut tags)));
                        }
                        "way" => {
                            osm.ways.insert(id, (std::mem::take(&mut refs), std::mem::take(&mut tags)));
                        }
                        _ => osm.relations.push((id, std::mem::take(&mut members), std::mem::take(&mut tags))),
                    }
                }
                (None, false)
            }
            Event::Eof => break,
            _ => (None, false),
        };
        let Some(e) = e else { continue };
        match e.name().as_ref() {
            b"node" | b"way" | b"relation" => {
                let id: i64 = attr(&e, "id").parse().unwrap();
                assert!(id > 0);
                let kind = match e.name().as_ref() {
                    b"node" => {
                        latlon = (attr(&e, "lat").parse().unwrap(), attr(&e, "lon").parse().unwrap());
                        "node"
                    }
                    b"way" => "way",
                    _ => "relation",
                };
                assert!(!empty, "{kind} {id} without children");
                current = Some((kind, id));
            }
            b"tag" => {
                tags.insert(attr(&e, "k"), attr(&e, "v"));
            }
            b"nd" => refs.push(attr(&e, "ref").parse().unwrap()),
            b"member" => members.push((attr(&e, "type"), attr(&e, "ref").parse().unwrap(), attr(&e, "role"))),
            _ => {}
        }
    }
    osm
}

fn default_town_and_origin() -> (TownGrid, LocalEnu) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../recordings/town-day.toml");
    let s = Scenario::load(path).unwrap();
    let town = TownGrid { n: s.world.junctions_per_side, spacing_m: s.world.block_m };
    (town, LocalEnu::new(s.origin.lat_deg, s.origin.lon_deg, s.origin.alt_m).unwrap())
}

/// A lanelet's bounds as node ids in driving direction: the right bound as drawn, the left one
/// reversed when it does not start next to the right bound's start (Lanelet2's rule).
fn oriented_bounds(osm: &Osm, members: &[(String, i64, String)]) -> (Vec<i64>, Vec<i64>) {
    let way = |role: &str| {
        let m: Vec<_> = members.iter().filter(|m| m.2 == role).collect();
        assert_eq!(m.len(), 1, "exactly one {role} member");
        assert_eq!(m[0].0, "way");
        osm.ways[&m[0].1].0.clone()
    };
    let (mut left, right) = (way("left"), way("right"));
    let xy = |n: i64| {
        let t = &osm.nodes[&n].2;
        (t["local_x"].parse::<f64>().unwrap(), t["local_y"].parse::<f64>().unwrap())
    };
    let dist = |a: i64, b: i64| {
        let (p, q) = (xy(a), xy(b));
        (p.0 - q.0).hypot(p.1 - q.1)
    };
    if dist(left[0], right[0]) > dist(*left.last().unwrap(), right[0]) {
        left.reverse();
    }
    (left, right)
}

#[test]
fn exported_town_map_is_well_formed_lanelet2_with_every_reference_resolved() {
    let (town, enu) = default_town_and_origin();
    let xml = export_lanelet2_osm(&town, &enu).unwrap();
    let osm = parse(&xml);
    for (id, (lat, lon, tags)) in &osm.nodes {
        // lat/lon and local_x/local_y are the same place (to a millimetre).
        let x: f64 = tags["local_x"].parse().unwrap();
        let y: f64 = tags["local_y"].parse().unwrap();
        let ele: f64 = tags["ele"].parse().unwrap();
        let p = enu.enu_from_geodetic(Geodetic::new(*lat, *lon, ele).unwrap()).unwrap();
        assert!((p - Point3::new(x, y, 0.0)).norm() < 1e-3, "node {id}: {p:?} vs ({x}, {y})");
    }
    for (id, (refs, tags)) in &osm.ways {
        assert!(refs.len() >= 2, "way {id} has {} nodes", refs.len());
        assert!(refs.iter().all(|r| osm.nodes.contains_key(r)), "way {id} references a missing node");
        assert!(matches!(tags["type"].as_str(), "line_thin" | "virtual"), "way {id}: {tags:?}");
    }
    let mut legs = 0;
    for (id, members, tags) in &osm.relations {
        assert!(members.iter().all(|m| m.0 == "way" && osm.ways.contains_key(&m.1)), "relation {id}");
        for (k, v) in [("type", "lanelet"), ("subtype", "road"), ("one_way", "yes"), ("speed_limit", "50")] {
            assert_eq!(tags.get(k).map(String::as_str), Some(v), "relation {id} tag {k}");
        }
        let (left, right) = oriented_bounds(&osm, members);
        if tags.get("turn_direction").is_some_and(|t| t != "straight") {
            // Turns are quarter circles drawn in short chords (a sweep the wrong way would jump).
            for w in left.windows(2).chain(right.windows(2)) {
                let (a, b) = (&osm.nodes[&w[0]].2, &osm.nodes[&w[1]].2);
                let d = |k: &str| a[k].parse::<f64>().unwrap() - b[k].parse::<f64>().unwrap();
                assert!(d("local_x").hypot(d("local_y")) < 4.0, "lanelet {id}: a turn's bound jumps");
            }
        }
        if !tags.contains_key("turn_direction") {
            legs += 1;
            // A leg lane runs over road surface, between its painted lines.
            let mid = |w: &[i64]| {
                let t = &osm.nodes[&w[w.len() / 2]].2;
                (t["local_x"].parse::<f64>().unwrap(), t["local_y"].parse::<f64>().unwrap())
            };
            let (l, r) = (mid(&left), mid(&right));
            let m = town.ground_material((l.0 + r.0) / 2.0, (l.1 + r.1) / 2.0);
            assert_eq!(m, Material::Asphalt, "lanelet {id} centre is on {m:?}");
            assert!(((l.0 - r.0).hypot(l.1 - r.1) - 3.5).abs() < 1e-6, "lanelet {id} is not 3.5 m wide");
        }
    }
    assert_eq!(osm.relations.len(), lanelet_count(&town));
    assert_eq!(legs, leg_lane_count(&town));
    // 5 × 5 junctions: 40 legs × 2 directions × 2 lanes.
    assert_eq!(legs, 160);
}

#[test]
fn connected_lanelets_share_bound_end_nodes() {
    let (town, enu) = default_town_and_origin();
    let osm = parse(&export_lanelet2_osm(&town, &enu).unwrap());
    // (id, left bound, right bound, turn_direction)
    type Lane = (i64, Vec<i64>, Vec<i64>, Option<String>);
    let lanes: Vec<Lane> = osm
        .relations
        .iter()
        .map(|(id, members, tags)| {
            let (l, r) = oriented_bounds(&osm, members);
            (*id, l, r, tags.get("turn_direction").cloned())
        })
        .collect();
    let starts: HashMap<(i64, i64), Vec<usize>> = lanes.iter().enumerate().fold(HashMap::new(), |mut m, (i, l)| {
        m.entry((l.1[0], l.2[0])).or_default().push(i);
        m
    });
    let mut reached = HashSet::new();
    for (id, left, right, turn) in &lanes {
        let next = starts.get(&(*left.last().unwrap(), *right.last().unwrap())).cloned().unwrap_or_default();
        reached.extend(next.iter().copied());
        match turn {
            // Through a junction to exactly one leg lane.
            Some(_) => {
                assert_eq!(next.len(), 1, "junction lanelet {id} has {} successors", next.len());
                assert!(lanes[next[0]].3.is_none());
            }
            // Into a junction, where every lane goes on somewhere (every junction has two legs
            // or more).
            None => {
                assert!(!next.is_empty(), "leg lanelet {id} leads nowhere");
                assert!(next.iter().all(|&j| lanes[j].3.is_some()));
            }
        }
    }
    // Every lanelet can be entered from another one.
    assert_eq!(reached.len(), lanes.len(), "lanelets without a predecessor");
}

#[test]
fn committed_default_town_map_matches_the_export() {
    let (town, enu) = default_town_and_origin();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../recordings/town-day.osm");
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        committed == export_lanelet2_osm(&town, &enu).unwrap(),
        "recordings/town-day.osm is stale: cargo run -p fusor-sim --example export_map"
    );
}
