//! The town's road network as a Lanelet2 map (OSM XML 0.6), for route planning.
//!
//! Conventions follow Lanelet2 and its example maps (`maps/lanelet2_mapping_example.osm` in the
//! shared data):
//!
//! - Every node has WGS84 `lat`/`lon` (from the scenario origin through `fusor-core` geodesy),
//!   `ele` (ellipsoidal height of the flat map plane), and `local_x`/`local_y` tags: its position
//!   in metres in the simulator's `map` frame (ENU at the origin), so no projection is needed to
//!   compare the map with a drive.
//! - Lane bounds are ways: the centre line `type=line_thin subtype=solid_solid color=yellow`,
//!   lane dividers `line_thin dashed`, carriageway edges `line_thin solid`, all white unless
//!   said; bounds inside junction boxes are `type=virtual`.
//! - Each lane of each road leg between two junction boxes, and each movement through a junction
//!   (straight on from both lanes, right turn from the outer lane, left turn from the inner one;
//!   at the town's corners, where neither lane has those, both lanes take the one turn there is),
//!   is a `type=lanelet subtype=road` relation with `left` and `right` way members and tags
//!   `location=urban`, `one_way=yes`, `speed_limit=50` (km/h), `participant:vehicle=yes`;
//!   junction lanelets add `turn_direction=straight|left|right`.
//! - Ways are shared: the dashed divider is the right bound of the inner lane and the left bound
//!   of the outer lane; the centre line is the left bound of the inner lanes of both directions,
//!   oriented with one of them and inverted for the other, as in Lanelet2 maps (a reader orients
//!   a left bound so that it starts next to the right bound's start; right bounds always run with
//!   the traffic).
//! - Connectivity is not stored: a lanelet follows another when its (oriented) bounds start at
//!   the nodes where the other's end, as Lanelet2's routing graph derives it.

use crate::road::{TownGrid, CARRIAGEWAY_HALF_M, LANES_PER_DIRECTION, LANE_WIDTH_M, SIDEWALK_OUTER_M};
use crate::Result;
use fusor_core::geodesy::LocalEnu;
use nalgebra::Point3;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Speed limit written on every lanelet, in km/h.
pub const SPEED_LIMIT_KMH: u32 = 50;
/// Straight lane bounds get a node at least every this many metres.
const NODE_SPACING_M: f64 = 10.0;
/// Points per quarter circle of a turning lanelet's bounds (segments).
const ARC_SEGMENTS: usize = 8;

/// What a lane bound is painted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    CentreDoubleYellow,
    Dashed,
    Solid,
    Virtual,
}

impl LineKind {
    fn tags(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::CentreDoubleYellow => &[("type", "line_thin"), ("subtype", "solid_solid"), ("color", "yellow")],
            Self::Dashed => &[("type", "line_thin"), ("subtype", "dashed"), ("color", "white")],
            Self::Solid => &[("type", "line_thin"), ("subtype", "solid"), ("color", "white")],
            Self::Virtual => &[("type", "virtual")],
        }
    }
}

/// Paint of the bound `offset_m` to the right of a leg's centre line.
fn leg_line(offset_m: f64) -> LineKind {
    if offset_m.abs() < 1e-9 {
        LineKind::CentreDoubleYellow
    } else if (offset_m.abs() - CARRIAGEWAY_HALF_M).abs() < 1e-9 {
        LineKind::Solid
    } else {
        LineKind::Dashed
    }
}

/// A lanelet before serialisation: bound polylines (map metres, in travel direction) and tags.
#[derive(Debug, Clone)]
struct LaneletSpec {
    left: Vec<[f64; 2]>,
    right: Vec<[f64; 2]>,
    left_kind: LineKind,
    right_kind: LineKind,
    turn: Option<&'static str>,
}

/// The lanelets of the town: legs first (per junction pair, direction and lane), then junction
/// movements.
fn lanelets(town: &TownGrid) -> Vec<LaneletSpec> {
    let n = town.n;
    let box_m = SIDEWALK_OUTER_M;
    let lanes: Vec<(f64, f64)> =
        (0..LANES_PER_DIRECTION).map(|k| (LANE_WIDTH_M * k as f64, LANE_WIDTH_M * (k + 1) as f64)).collect();
    let right_of = |u: [f64; 2]| [u[1], -u[0]];
    // A point `along` metres from junction `j` in direction `u`, `off` to the right of `u`.
    let at = |j: [f64; 2], u: [f64; 2], along: f64, off: f64| {
        let r = right_of(u);
        [j[0] + along * u[0] + off * r[0], j[1] + along * u[1] + off * r[1]]
    };
    let mut out = Vec::new();
    // Legs: every pair of neighbouring junctions, both directions.
    let dirs: [[i64; 2]; 4] = [[1, 0], [0, 1], [-1, 0], [0, -1]];
    for i in 0..n as i64 {
        for j in 0..n as i64 {
            for d in dirs {
                let (i2, j2) = (i + d[0], j + d[1]);
                if !(0..n as i64).contains(&i2) || !(0..n as i64).contains(&j2) {
                    continue;
                }
                let p = town.node(i as usize, j as usize);
                let q = town.node(i2 as usize, j2 as usize);
                let u = [d[0] as f64, d[1] as f64];
                let length = town.spacing_m - 2.0 * box_m;
                let steps = (length / NODE_SPACING_M).ceil().max(1.0) as usize;
                let line = |off: f64| -> Vec<[f64; 2]> {
                    let mut pts: Vec<[f64; 2]> =
                        (0..steps).map(|s| at(p, u, box_m + length * s as f64 / steps as f64, off)).collect();
                    // The last node is computed as the junction movements compute it (from `q`),
                    // so shared end points are bit-identical.
                    pts.push(at(q, u, -box_m, off));
                    pts
                };
                for &(l, r) in &lanes {
                    out.push(LaneletSpec {
                        left: line(l),
                        right: line(r),
                        left_kind: leg_line(l),
                        right_kind: leg_line(r),
                        turn: None,
                    });
                }
            }
        }
    }
    // Junction movements: enter travelling `u_in`, leave travelling `u_out`.
    for i in 0..n as i64 {
        for j in 0..n as i64 {
            let c = town.node(i as usize, j as usize);
            let exists = |d: [i64; 2]| (0..n as i64).contains(&(i + d[0])) && (0..n as i64).contains(&(j + d[1]));
            for d_in in dirs {
                // Entering travelling d_in means coming from the neighbour at −d_in.
                if !exists([-d_in[0], -d_in[1]]) {
                    continue;
                }
                let u_in = [d_in[0] as f64, d_in[1] as f64];
                let left_of_in = [-d_in[1], d_in[0]];
                let right_of_in = [d_in[1], -d_in[0]];
                let moves: Vec<([i64; 2], &'static str)> =
                    [(d_in, "straight"), (left_of_in, "left"), (right_of_in, "right")]
                        .into_iter()
                        .filter(|&(d, _)| exists(d))
                        .collect();
                for (k, &(l, r)) in lanes.iter().enumerate() {
                    // Straight on from every lane, left turns from the inner lane, right turns
                    // from the outer one; a lane with none of these (at the town's corners) may
                    // take whatever turn there is.
                    let preferred = |turn: &str| match turn {
                        "straight" => true,
                        "left" => k == 0,
                        _ => k + 1 == LANES_PER_DIRECTION,
                    };
                    let any_preferred = moves.iter().any(|&(_, t)| preferred(t));
                    for &(d_out, turn) in &moves {
                        if any_preferred && !preferred(turn) {
                            continue;
                        }
                        let u_out = [d_out[0] as f64, d_out[1] as f64];
                        let bound = |off: f64| -> Vec<[f64; 2]> {
                            let a = at(c, u_in, -box_m, off);
                            let b = at(c, u_out, box_m, off);
                            if turn == "straight" {
                                return vec![a, b];
                            }
                            // A quarter circle about the junction box corner on the turning side.
                            let side = if turn == "left" { 1.0 } else { -1.0 };
                            let ul = [-u_in[1] * side, u_in[0] * side];
                            let k_c = [c[0] - box_m * u_in[0] + box_m * ul[0], c[1] - box_m * u_in[1] + box_m * ul[1]];
                            let radius = ((a[0] - k_c[0]).powi(2) + (a[1] - k_c[1]).powi(2)).sqrt();
                            let a0 = (a[1] - k_c[1]).atan2(a[0] - k_c[0]);
                            let mut pts = vec![a];
                            for s in 1..ARC_SEGMENTS {
                                let ang = a0 + side * std::f64::consts::FRAC_PI_2 * s as f64 / ARC_SEGMENTS as f64;
                                pts.push([k_c[0] + radius * ang.cos(), k_c[1] + radius * ang.sin()]);
                            }
                            pts.push(b);
                            pts
                        };
                        out.push(LaneletSpec {
                            left: bound(l),
                            right: bound(r),
                            left_kind: LineKind::Virtual,
                            right_kind: LineKind::Virtual,
                            turn: Some(turn),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Number of lanelets [`export_lanelet2_osm`] writes for `town`: one per lane of each directed
/// road leg, plus the junction movements.
pub fn lanelet_count(town: &TownGrid) -> usize {
    lanelets(town).len()
}

/// Number of directed lanes between junctions in `town`: legs × 2 directions × lanes.
pub fn leg_lane_count(town: &TownGrid) -> usize {
    let legs = 2 * town.n * (town.n - 1);
    legs * 2 * LANES_PER_DIRECTION
}

/// The town's road network as Lanelet2 OSM XML (see the module docs), georeferenced by `enu`
/// (the scenario's `map` origin). Node, way and relation ids are positive and assigned in a fixed
/// order: the same town gives the same text.
pub fn export_lanelet2_osm(town: &TownGrid, enu: &LocalEnu) -> Result<String> {
    let specs = lanelets(town);
    let mut nodes: Vec<[f64; 2]> = Vec::new();
    let mut node_ids: HashMap<[i64; 2], usize> = HashMap::new();
    // Nodes are shared by position (to the millimetre).
    let mut node = |p: [f64; 2]| -> usize {
        let key = [(p[0] * 1000.0).round() as i64, (p[1] * 1000.0).round() as i64];
        *node_ids.entry(key).or_insert_with(|| {
            nodes.push(p);
            nodes.len()
        })
    };
    // Ways are shared by node sequence, either way round.
    let mut ways: Vec<(Vec<usize>, LineKind)> = Vec::new();
    let mut way_ids: HashMap<Vec<usize>, usize> = HashMap::new();
    let mut relations = Vec::with_capacity(specs.len());
    for spec in &specs {
        let mut way = |pts: &[[f64; 2]], kind: LineKind| -> usize {
            let seq: Vec<usize> = pts.iter().map(|&p| node(p)).collect();
            let rev: Vec<usize> = seq.iter().rev().copied().collect();
            if let Some(&id) = way_ids.get(&seq).or_else(|| way_ids.get(&rev)) {
                return id;
            }
            ways.push((seq.clone(), kind));
            let id = ways.len();
            way_ids.insert(seq, id);
            id
        };
        let left = way(&spec.left, spec.left_kind);
        let right = way(&spec.right, spec.right_kind);
        relations.push((left, right, spec.turn));
    }
    // Ids: nodes 1.., ways after the nodes, relations after the ways (one id space reads best).
    let way_base = nodes.len();
    let rel_base = way_base + ways.len();
    let mut xml = String::with_capacity(400 * nodes.len() + 200 * ways.len() + 400 * relations.len());
    xml.push_str("<?xml version='1.0' encoding='UTF-8'?>\n<osm version='0.6' generator='fusor-sim'>\n");
    for (i, p) in nodes.iter().enumerate() {
        let g = enu.geodetic_from_enu(&Point3::new(p[0], p[1], 0.0))?;
        let _ = writeln!(
            xml,
            "  <node id='{}' lat='{:.11}' lon='{:.11}'>\n    <tag k='ele' v='{:.3}' />\n    \
             <tag k='local_x' v='{:.3}' />\n    <tag k='local_y' v='{:.3}' />\n  </node>",
            i + 1,
            g.lat_deg,
            g.lon_deg,
            g.alt_m,
            p[0],
            p[1]
        );
    }
    for (i, (seq, kind)) in ways.iter().enumerate() {
        let _ = writeln!(xml, "  <way id='{}'>", way_base + i + 1);
        for n in seq {
            let _ = writeln!(xml, "    <nd ref='{n}' />");
        }
        for (k, v) in kind.tags() {
            let _ = writeln!(xml, "    <tag k='{k}' v='{v}' />");
        }
        xml.push_str("  </way>\n");
    }
    for (i, (left, right, turn)) in relations.iter().enumerate() {
        let _ = writeln!(xml, "  <relation id='{}'>", rel_base + i + 1);
        let _ = writeln!(xml, "    <member type='way' ref='{}' role='left' />", way_base + left);
        let _ = writeln!(xml, "    <member type='way' ref='{}' role='right' />", way_base + right);
        let mut tags = vec![
            ("type", "lanelet".to_owned()),
            ("subtype", "road".to_owned()),
            ("location", "urban".to_owned()),
            ("one_way", "yes".to_owned()),
            ("speed_limit", SPEED_LIMIT_KMH.to_string()),
            ("participant:vehicle", "yes".to_owned()),
        ];
        if let Some(t) = turn {
            tags.push(("turn_direction", (*t).to_owned()));
        }
        for (k, v) in tags {
            let _ = writeln!(xml, "    <tag k='{k}' v='{v}' />");
        }
        xml.push_str("  </relation>\n");
    }
    xml.push_str("</osm>\n");
    Ok(xml)
}
