//! The road map: Lanelet2 OSM XML loaded into lanelets and a lane-level routing graph in `map`.
//!
//! # Supported subset of Lanelet2
//! - **Nodes** carry `lat`/`lon` (WGS84, projected into `map`, the ENU frame at
//!   [`MapConfig::origin`], by fusor-core geodesy) and/or the tags `local_x`/`local_y` (metres,
//!   taken to be in `map` already, as Autoware's maps store them). See [`NodeCoordinates`].
//! - **Ways** are line strings; their `type`/`subtype` tags give the line type used for lane-change
//!   permission (below).
//! - **Lanelets** are relations tagged `type=lanelet` with exactly one `left` and one `right` way
//!   member. Their `subtype` (road, highway, crosswalk, …), `location`, `one_way`,
//!   `participant:vehicle` and `speed_limit` tags are read; `regulatory_element` members of
//!   subtype `speed_limit` set the speed limit (see [`SpeedDefaults`]). Other relations
//!   (multipolygons, traffic lights, right of way) are ignored.
//! - **Bound direction**: as Lanelet2's loader does, the bounds are oriented by their roles, not by
//!   the ways' node order: the left bound is reversed unless the right bound lies to its right,
//!   then the right bound unless the left bound lies to its left. A way can so bound one lanelet
//!   forwards and its neighbour (or an oncoming lanelet) backwards.
//! - **Successors** are not stored in the file: lane B follows lane A when B's left and right
//!   bounds start at the very nodes (by id) where A's end, as Lanelet2's routing graph derives it.
//!   A lanelet with `one_way=no` yields two lanes, the second inverted (left and right bounds
//!   swapped and reversed).
//! - **Neighbours**: B is left of A when A's left bound is B's right bound (same way, same
//!   direction). A lane change is allowed across `virtual` lines and `dashed` line_thin/line_thick,
//!   across `solid_dashed` from its right side only and across `dashed_solid` from its left side
//!   only (sides relative to the way's direction), never across solid lines, kerbs or borders.

mod osm;

use crate::error::{Element, PlanningError, Result};
use crate::geometry::{self, wrap_angle, Polyline, P2};
use fusor_core::geodesy::{Geodetic, LocalEnu};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// A lanelet's id: the id of its OSM `<relation>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LaneletId(pub i64);

impl fmt::Display for LaneletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which node coordinates a map is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeCoordinates {
    /// `local_x`/`local_y` when every node has them, else `lat`/`lon`.
    #[default]
    Auto,
    /// `lat`/`lon` projected into ENU at the origin; a node without them is an error.
    LatLon,
    /// `local_x`/`local_y` as metres in `map`; a node without them is an error.
    Local,
}

/// Speed limits used where a lanelet carries none (no `speed_limit` tag or regulatory element),
/// in m/s. The defaults are German rules (`region=de`), as Lanelet2's German traffic rules apply
/// them: 50 km/h in towns (`location=urban`, also when no location is tagged), 100 km/h outside
/// (`location=nonurban`), 130 km/h (the advisory speed) on `subtype=highway`, walking pace
/// (7 km/h) on `subtype=play_street`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedDefaults {
    /// `location=urban` or no location tag, m/s.
    pub urban_mps: f64,
    /// `location=nonurban`, m/s.
    pub nonurban_mps: f64,
    /// `subtype=highway`, m/s.
    pub highway_mps: f64,
    /// `subtype=play_street`, m/s.
    pub play_street_mps: f64,
}

impl Default for SpeedDefaults {
    fn default() -> Self {
        Self { urban_mps: 50.0 / 3.6, nonurban_mps: 100.0 / 3.6, highway_mps: 130.0 / 3.6, play_street_mps: 7.0 / 3.6 }
    }
}

/// How to read a map.
#[derive(Debug, Clone)]
pub struct MapConfig {
    /// Origin of `map` (ENU), used to project `lat`/`lon` nodes and geodetic goals.
    pub origin: Geodetic,
    /// Which node coordinates to read.
    pub coordinates: NodeCoordinates,
    /// Speed limits where the map gives none.
    pub speed_defaults: SpeedDefaults,
    /// Lanelet subtypes a car may drive on when no `participant:vehicle` tag says otherwise.
    pub vehicle_subtypes: Vec<String>,
}

impl MapConfig {
    /// A configuration with `map` at the WGS84 origin (`lat_deg`, `lon_deg`, `alt_m` above the
    /// ellipsoid) and defaults otherwise: [`NodeCoordinates::Auto`], German speed defaults,
    /// vehicles on `road`, `highway` and `play_street`.
    pub fn new(lat_deg: f64, lon_deg: f64, alt_m: f64) -> Result<Self> {
        Ok(Self {
            origin: Geodetic::new(lat_deg, lon_deg, alt_m)?,
            coordinates: NodeCoordinates::Auto,
            speed_defaults: SpeedDefaults::default(),
            vehicle_subtypes: ["road", "highway", "play_street"].iter().map(|s| (*s).to_owned()).collect(),
        })
    }
}

/// One bound of a lanelet, oriented in the lanelet's driving direction.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The OSM way.
    pub way: i64,
    /// True when the bound runs against the way's stored node order.
    pub reversed: bool,
    /// Node ids in bound order.
    pub nodes: Vec<i64>,
    /// Points in metres in `map`, in bound order.
    pub points: Vec<P2>,
    /// The way's `type` tag (`line_thin`, `curbstone`, `virtual`, …; empty when absent).
    pub line_type: String,
    /// The way's `subtype` tag (`dashed`, `solid`, `high`, …; empty when absent).
    pub line_subtype: String,
}

impl Bound {
    fn reversed(&self) -> Bound {
        let mut b = self.clone();
        b.reversed = !b.reversed;
        b.nodes.reverse();
        b.points.reverse();
        b
    }

    fn first_node(&self) -> i64 {
        self.nodes.first().copied().unwrap_or_default()
    }

    fn last_node(&self) -> i64 {
        self.nodes.last().copied().unwrap_or_default()
    }

    /// May a vehicle cross this bound from its right side (relative to the bound's direction) to
    /// its left side? (`false` for the other direction.)
    fn crossable(&self, right_to_left: bool) -> bool {
        // Line subtypes describe the way as stored; a reversed bound swaps the sides.
        let right_to_left_of_way = right_to_left != self.reversed;
        match (self.line_type.as_str(), self.line_subtype.as_str()) {
            ("virtual", _) => true,
            ("line_thin" | "line_thick", "dashed") => true,
            ("line_thin" | "line_thick", "solid_dashed") => right_to_left_of_way,
            ("line_thin" | "line_thick", "dashed_solid") => !right_to_left_of_way,
            _ => false,
        }
    }
}

/// A lanelet as the map gives it (not inverted).
#[derive(Debug, Clone)]
pub struct Lanelet {
    /// Relation id.
    pub id: LaneletId,
    /// `subtype` tag (`road`, `crosswalk`, …).
    pub subtype: String,
    /// Drivable in the bounds' direction only.
    pub one_way: bool,
    /// A car may drive on it.
    pub vehicle: bool,
    /// Speed limit in m/s.
    pub speed_limit_mps: f64,
    /// Left bound (driving direction).
    pub left: Bound,
    /// Right bound (driving direction; reversed on load when drawn the other way).
    pub right: Bound,
}

/// A drivable lane: a vehicle lanelet in one direction of travel. The lane-level routing graph's
/// vertices.
#[derive(Debug, Clone)]
pub struct Lane {
    /// The lanelet.
    pub lanelet: LaneletId,
    /// True for the reverse direction of a `one_way=no` lanelet.
    pub inverted: bool,
    /// Speed limit in m/s.
    pub speed_limit_mps: f64,
    /// Centreline in metres in `map`, in the driving direction (mean of the bounds resampled at the
    /// same arc-length fractions, about 1 m apart).
    pub centerline: Polyline,
    /// Left bound in `map`, in the driving direction.
    pub left: Polyline,
    /// Right bound in `map`, in the driving direction.
    pub right: Polyline,
    pub(crate) left_bound: Bound,
    pub(crate) right_bound: Bound,
    /// Indices (into [`LaneletMap::lanes`]) of the lanes that follow this one.
    pub successors: Vec<usize>,
    /// Index of the left neighbour when a lane change into it is allowed.
    pub change_left: Option<usize>,
    /// Index of the right neighbour when a lane change into it is allowed.
    pub change_right: Option<usize>,
    bbox_min: P2,
    bbox_max: P2,
}

impl Lane {
    /// Centreline length in metres.
    pub fn length_m(&self) -> f64 {
        self.centerline.length()
    }

    /// Half the distance between the bounds at a fraction `f` ∈ [0, 1] of the length, in metres.
    pub fn half_width_at(&self, f: f64) -> f64 {
        0.5 * (self.left.point_at_fraction(f) - self.right.point_at_fraction(f)).norm()
    }
}

/// Where a position lies on a lane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaneMatch {
    /// Index into [`LaneletMap::lanes`].
    pub lane: usize,
    /// Arc length along the lane's centreline in metres.
    pub s_m: f64,
    /// Lateral offset from the centreline in metres, left positive.
    pub d_m: f64,
}

/// A loaded road map in `map`.
#[derive(Debug, Clone)]
pub struct LaneletMap {
    enu: LocalEnu,
    lanelets: Vec<Lanelet>,
    by_id: HashMap<LaneletId, usize>,
    lanes: Vec<Lane>,
    max_speed_mps: f64,
    reversed_bounds: usize,
}

fn node_point(
    osm: &osm::Osm,
    enu: &LocalEnu,
    use_local: bool,
    id: i64,
    way: i64,
    cache: &mut HashMap<i64, P2>,
) -> Result<P2> {
    if let Some(p) = cache.get(&id) {
        return Ok(*p);
    }
    let node = osm.nodes.get(&id).ok_or_else(|| {
        PlanningError::map(Element::Way(way), format!("refers to node {id}, which is not in the map"))
    })?;
    let p = if use_local {
        let (x, y) =
            node.local_xy.ok_or_else(|| PlanningError::map(Element::Node(id), "has no local_x/local_y tags"))?;
        P2::new(x, y)
    } else {
        let (lat, lon) = node.lat_lon.ok_or_else(|| PlanningError::map(Element::Node(id), "has no lat/lon"))?;
        let geo = Geodetic::new(lat, lon, node.ele_m.unwrap_or(0.0))
            .map_err(|e| PlanningError::map(Element::Node(id), e.to_string()))?;
        let p = enu.enu_from_geodetic(geo).map_err(|e| PlanningError::map(Element::Node(id), e.to_string()))?;
        P2::new(p.x, p.y)
    };
    cache.insert(id, p);
    Ok(p)
}

/// Parses a `speed_limit` value: a number in km/h, optionally followed by `km/h`, `kmh`, `mph`
/// or `mps`/`m/s`. Returns m/s.
fn parse_speed(v: &str) -> Option<f64> {
    let v = v.trim();
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let number: f64 = v[..split].parse().ok()?;
    let factor = match v[split..].trim().to_ascii_lowercase().as_str() {
        "" | "km/h" | "kmh" | "kph" => 1.0 / 3.6,
        "mph" => 0.447_04,
        "mps" | "m/s" => 1.0,
        _ => return None,
    };
    let mps = number * factor;
    (mps.is_finite() && mps > 0.0).then_some(mps)
}

impl LaneletMap {
    /// Loads a Lanelet2 OSM file.
    pub fn load(path: impl AsRef<Path>, config: &MapConfig) -> Result<Self> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| PlanningError::Io { path: path.to_owned(), source })?;
        Self::from_osm_str(&text, config)
    }

    /// Builds a map from Lanelet2 OSM XML text.
    pub fn from_osm_str(text: &str, config: &MapConfig) -> Result<Self> {
        let osm = osm::parse(text)?;
        let enu = LocalEnu::new(config.origin.lat_deg, config.origin.lon_deg, config.origin.alt_m)?;
        let use_local = match config.coordinates {
            NodeCoordinates::Local => true,
            NodeCoordinates::LatLon => false,
            NodeCoordinates::Auto => !osm.nodes.is_empty() && osm.nodes.values().all(|n| n.local_xy.is_some()),
        };
        // Every way's node references must resolve, lanelet bound or not.
        for way_id in sorted_keys(&osm.ways) {
            if let Some(missing) = osm.ways[&way_id].nodes.iter().find(|n| !osm.nodes.contains_key(n)) {
                return Err(PlanningError::map(
                    Element::Way(way_id),
                    format!("refers to node {missing}, which is not in the map"),
                ));
            }
        }
        let mut cache = HashMap::new();
        let mut lanelets = Vec::new();
        let mut reversed_bounds = 0;
        for &rel_id in &osm.relation_order {
            let rel = &osm.relations[&rel_id];
            if rel.tags.get("type") != Some("lanelet") {
                continue;
            }
            let element = Element::Relation(rel_id);
            let mut bound = |role: &str| -> Result<Bound> {
                let mut found = rel.members.iter().filter(|m| m.role == role);
                let m =
                    found.next().ok_or_else(|| PlanningError::map(element, format!("lanelet has no {role} bound")))?;
                if found.next().is_some() {
                    return Err(PlanningError::map(element, format!("lanelet has more than one {role} bound")));
                }
                if m.kind != "way" {
                    return Err(PlanningError::map(
                        element,
                        format!("{role} bound is a {} member ({}), not a way", m.kind, m.id),
                    ));
                }
                let way = osm.ways.get(&m.id).ok_or_else(|| {
                    PlanningError::map(element, format!("{role} bound refers to way {}, which is not in the map", m.id))
                })?;
                if way.nodes.len() < 2 {
                    return Err(PlanningError::map(
                        Element::Way(m.id),
                        format!("{role} bound of lanelet {rel_id} has {} node(s), needs at least 2", way.nodes.len()),
                    ));
                }
                let points = way
                    .nodes
                    .iter()
                    .map(|&n| node_point(&osm, &enu, use_local, n, m.id, &mut cache))
                    .collect::<Result<Vec<_>>>()?;
                if let Some((i, j)) = geometry::self_intersection(&points) {
                    return Err(PlanningError::map(
                        Element::Way(m.id),
                        format!("{role} bound of lanelet {rel_id} intersects itself (segments {i} and {j})"),
                    ));
                }
                Ok(Bound {
                    way: m.id,
                    reversed: false,
                    nodes: way.nodes.clone(),
                    points,
                    line_type: way.tags.get("type").unwrap_or_default().to_owned(),
                    line_subtype: way.tags.get("subtype").unwrap_or_default().to_owned(),
                })
            };
            let mut left = bound("left")?;
            let mut right = bound("right")?;
            if left.way == right.way {
                return Err(PlanningError::map(element, format!("left and right bound are the same way {}", left.way)));
            }
            // Orient the bounds as Lanelet2's loader does: the left bound is reversed unless the
            // right bound's middle lies to its right, then the right bound unless the left
            // bound's middle lies to its left. The roles, not the ways' directions, give the
            // driving direction.
            if signed_distance(&left.points, middle(&right.points)) >= 0.0 {
                left = left.reversed();
                reversed_bounds += 1;
            }
            if signed_distance(&right.points, middle(&left.points)) <= 0.0 {
                right = right.reversed();
                reversed_bounds += 1;
            }
            let subtype = rel.tags.get("subtype").unwrap_or_default().to_owned();
            let vehicle = match rel.tags.get("participant:vehicle") {
                Some(v) => matches!(v, "yes" | "true"),
                None => config.vehicle_subtypes.contains(&subtype),
            };
            let one_way = match rel.tags.get("one_way") {
                Some("yes" | "true") | None => true,
                Some("no" | "false") => false,
                Some(other) => {
                    return Err(PlanningError::map(element, format!("one_way={other:?} is neither yes nor no")))
                }
            };
            let speed_limit_mps = speed_limit(&osm, rel_id, rel, &subtype, &config.speed_defaults)?;
            lanelets.push(Lanelet { id: LaneletId(rel_id), subtype, one_way, vehicle, speed_limit_mps, left, right });
        }
        let by_id = lanelets.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
        let mut map = Self { enu, lanelets, by_id, lanes: Vec::new(), max_speed_mps: 0.0, reversed_bounds };
        map.build_lanes();
        if map.lanes.is_empty() {
            return Err(PlanningError::NoRoutableLanelet { lanelets: map.lanelets.len() });
        }
        Ok(map)
    }

    fn build_lanes(&mut self) {
        let mut lanes = Vec::new();
        for ll in self.lanelets.iter().filter(|l| l.vehicle) {
            let mut directions = vec![(false, ll.left.clone(), ll.right.clone())];
            if !ll.one_way {
                directions.push((true, ll.right.reversed(), ll.left.reversed()));
            }
            for (inverted, left_bound, right_bound) in directions {
                let left = Polyline::new(left_bound.points.clone());
                let right = Polyline::new(right_bound.points.clone());
                let n = (left.length().max(right.length()) / 1.0).ceil().clamp(1.0, 5000.0) as usize;
                let centerline = Polyline::new(
                    left.resample(n)
                        .iter()
                        .zip(right.resample(n))
                        .map(|(a, b)| P2::from((a.coords + b.coords) * 0.5))
                        .collect(),
                );
                let all = left_bound.points.iter().chain(&right_bound.points);
                let bbox_min =
                    all.clone().fold(P2::new(f64::INFINITY, f64::INFINITY), |m, p| P2::new(m.x.min(p.x), m.y.min(p.y)));
                let bbox_max =
                    all.fold(P2::new(f64::NEG_INFINITY, f64::NEG_INFINITY), |m, p| P2::new(m.x.max(p.x), m.y.max(p.y)));
                lanes.push(Lane {
                    lanelet: ll.id,
                    inverted,
                    speed_limit_mps: ll.speed_limit_mps,
                    centerline,
                    left,
                    right,
                    left_bound,
                    right_bound,
                    successors: Vec::new(),
                    change_left: None,
                    change_right: None,
                    bbox_min,
                    bbox_max,
                });
            }
        }
        let mut by_start: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        let mut by_right: HashMap<(i64, bool), Vec<usize>> = HashMap::new();
        for (i, lane) in lanes.iter().enumerate() {
            by_start.entry((lane.left_bound.first_node(), lane.right_bound.first_node())).or_default().push(i);
            by_right.entry((lane.right_bound.way, lane.right_bound.reversed)).or_default().push(i);
        }
        for i in 0..lanes.len() {
            let key = (lanes[i].left_bound.last_node(), lanes[i].right_bound.last_node());
            let succ: Vec<usize> =
                by_start.get(&key).map(|v| v.iter().copied().filter(|&j| j != i).collect()).unwrap_or_default();
            lanes[i].successors = succ;
            let left_key = (lanes[i].left_bound.way, lanes[i].left_bound.reversed);
            if let Some(&j) =
                by_right.get(&left_key).and_then(|v| v.iter().find(|&&j| lanes[j].lanelet != lanes[i].lanelet))
            {
                // `j` lies left of `i` across i's left bound (which is j's right bound).
                if lanes[i].left_bound.crossable(true) {
                    lanes[i].change_left = Some(j);
                }
                if lanes[j].right_bound.crossable(false) {
                    lanes[j].change_right = Some(i);
                }
            }
        }
        self.max_speed_mps = lanes.iter().map(|l| l.speed_limit_mps).fold(0.0, f64::max);
        self.lanes = lanes;
    }

    /// All lanelets, in file order.
    pub fn lanelets(&self) -> &[Lanelet] {
        &self.lanelets
    }

    /// The lanelet with this id.
    pub fn lanelet(&self, id: LaneletId) -> Option<&Lanelet> {
        self.by_id.get(&id).map(|&i| &self.lanelets[i])
    }

    /// All drivable lanes (the routing graph's vertices).
    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    /// Index of the lane of `lanelet` in the given direction.
    pub fn lane_index(&self, lanelet: LaneletId, inverted: bool) -> Option<usize> {
        self.lanes.iter().position(|l| l.lanelet == lanelet && l.inverted == inverted)
    }

    /// The lanelets that follow `lanelet` when driven in its own direction.
    pub fn successors(&self, lanelet: LaneletId) -> Vec<LaneletId> {
        self.lane_index(lanelet, false)
            .map(|i| self.lanes[i].successors.iter().map(|&j| self.lanes[j].lanelet).collect())
            .unwrap_or_default()
    }

    /// The ENU frame of `map`.
    pub fn enu(&self) -> &LocalEnu {
        &self.enu
    }

    /// Position in `map` (metres; the planner is planar, height dropped) of a WGS84 position.
    pub fn map_from_geodetic(&self, geo: Geodetic) -> Result<P2> {
        let p = self.enu.enu_from_geodetic(geo)?;
        Ok(P2::new(p.x, p.y))
    }

    /// Highest speed limit on any lane, m/s (the A* heuristic divides by it).
    pub fn max_speed_mps(&self) -> f64 {
        self.max_speed_mps
    }

    /// Number of lanelet bounds whose way runs against the driving direction (used reversed).
    pub fn reversed_bounds(&self) -> usize {
        self.reversed_bounds
    }

    /// The lane a position lies on: among lanes within `max_distance_m` of `p` (metres in `map`),
    /// the one whose centreline is nearest, lanes containing `p` first. With `yaw_rad` (heading in
    /// `map`), lanes pointing more than 90° away are skipped.
    pub fn locate(&self, p: P2, yaw_rad: Option<f64>, max_distance_m: f64) -> Option<LaneMatch> {
        let mut best: Option<(f64, LaneMatch)> = None;
        for (i, lane) in self.lanes.iter().enumerate() {
            if p.x < lane.bbox_min.x - max_distance_m
                || p.y < lane.bbox_min.y - max_distance_m
                || p.x > lane.bbox_max.x + max_distance_m
                || p.y > lane.bbox_max.y + max_distance_m
            {
                continue;
            }
            let Some(pr) = lane.centerline.project(p) else { continue };
            let dist = (p - lane.centerline.point_at(pr.s_m)).norm();
            if dist > max_distance_m {
                continue;
            }
            let mut score = dist;
            if let Some(yaw) = yaw_rad {
                let dyaw = wrap_angle(yaw - lane.centerline.heading_at(pr.s_m)).abs();
                if dyaw > std::f64::consts::FRAC_PI_2 {
                    continue;
                }
                score += dyaw;
            }
            let f = if lane.length_m() > 0.0 { pr.s_m / lane.length_m() } else { 0.0 };
            if pr.d_m.abs() > lane.half_width_at(f) {
                score += 100.0;
            }
            if best.as_ref().is_none_or(|(b, _)| score < *b) {
                best = Some((score, LaneMatch { lane: i, s_m: pr.s_m, d_m: pr.d_m }));
            }
        }
        best.map(|(_, m)| m)
    }

    /// Distance in metres from `p` to the nearest lane centreline (infinite when there is none).
    pub(crate) fn distance_to_nearest_lane(&self, p: P2) -> f64 {
        self.lanes
            .iter()
            .filter_map(|l| l.centerline.project(p).map(|pr| (p - l.centerline.point_at(pr.s_m)).norm()))
            .fold(f64::INFINITY, f64::min)
    }
}

/// The middle of a line string as Lanelet2 takes it: its middle vertex, or the mean of its two
/// end points when it has only two.
fn middle(pts: &[P2]) -> P2 {
    match pts.len() {
        0 => P2::origin(),
        1 | 2 => P2::from((pts[0].coords + pts[pts.len() - 1].coords) * 0.5),
        n => pts[n / 2],
    }
}

/// Signed distance (m) from a line string to `p`, positive on its left.
fn signed_distance(pts: &[P2], p: P2) -> f64 {
    Polyline::new(pts.to_vec()).project(p).map(|pr| pr.d_m).unwrap_or(0.0)
}

fn sorted_keys<V>(m: &HashMap<i64, V>) -> Vec<i64> {
    let mut k: Vec<i64> = m.keys().copied().collect();
    k.sort_unstable();
    k
}

/// The speed limit of a lanelet in m/s: its `speed_limit` tag, else a `speed_limit` regulatory
/// element (its own `speed_limit` tag, or a referred traffic sign `de274_1`, the German 30 km/h
/// zone), else [`SpeedDefaults`] by subtype and location.
fn speed_limit(osm: &osm::Osm, rel_id: i64, rel: &osm::OsmRelation, subtype: &str, d: &SpeedDefaults) -> Result<f64> {
    let element = Element::Relation(rel_id);
    if let Some(v) = rel.tags.get("speed_limit") {
        return parse_speed(v).ok_or_else(|| PlanningError::map(element, format!("speed_limit={v:?} is not a speed")));
    }
    for m in rel.members.iter().filter(|m| m.role == "regulatory_element") {
        let reg = osm
            .relations
            .get(&m.id)
            .ok_or_else(|| PlanningError::map(element, format!("regulatory element {} is not in the map", m.id)))?;
        if reg.tags.get("subtype") != Some("speed_limit") {
            continue;
        }
        if let Some(v) = reg.tags.get("speed_limit") {
            return parse_speed(v).ok_or_else(|| {
                PlanningError::map(Element::Relation(m.id), format!("speed_limit={v:?} is not a speed"))
            });
        }
        let zone_30 =
            reg.members.iter().filter(|r| r.role == "refers").any(|r| {
                osm.ways.get(&r.id).and_then(|w| w.tags.get("subtype")).is_some_and(|s| s.starts_with("de274_1"))
            });
        if zone_30 {
            return Ok(30.0 / 3.6);
        }
    }
    Ok(match (subtype, rel.tags.get("location")) {
        ("highway", _) => d.highway_mps,
        ("play_street", _) => d.play_street_mps,
        (_, Some("nonurban")) => d.nonurban_mps,
        _ => d.urban_mps,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_speed;

    #[test]
    fn speed_limits_parse_in_kmh_by_default() {
        assert!((parse_speed("50").unwrap() - 13.888_888).abs() < 1e-5);
        assert!((parse_speed("30 km/h").unwrap() - 8.333_333).abs() < 1e-5);
        assert!((parse_speed("10mps").unwrap() - 10.0).abs() < 1e-12);
        assert!(parse_speed("fast").is_none());
        assert!(parse_speed("0").is_none());
    }
}
