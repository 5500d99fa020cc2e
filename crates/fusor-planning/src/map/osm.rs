//! OSM XML 0.6 as Lanelet2 writes it: `<node>`, `<way>` with `<nd ref>`, `<relation>` with
//! `<member type role ref>`, all with `<tag k v>`. Parsed into plain tables keyed by id; no
//! Lanelet2 meaning yet.

use crate::error::{Element, PlanningError, Result};
use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub(crate) struct Tags(pub(crate) Vec<(String, String)>);

impl Tags {
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct OsmNode {
    pub(crate) lat_lon: Option<(f64, f64)>,
    pub(crate) local_xy: Option<(f64, f64)>,
    pub(crate) ele_m: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct OsmWay {
    pub(crate) nodes: Vec<i64>,
    pub(crate) tags: Tags,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) kind: String,
    pub(crate) role: String,
    pub(crate) id: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct OsmRelation {
    pub(crate) members: Vec<Member>,
    pub(crate) tags: Tags,
}

#[derive(Debug, Default)]
pub(crate) struct Osm {
    pub(crate) nodes: HashMap<i64, OsmNode>,
    pub(crate) ways: HashMap<i64, OsmWay>,
    pub(crate) relations: HashMap<i64, OsmRelation>,
    /// Relation ids in file order (lanelets are built in this order, for deterministic output).
    pub(crate) relation_order: Vec<i64>,
}

fn id_of(node: roxmltree::Node<'_, '_>, what: &str) -> Result<i64> {
    let pos = node.document().text_pos_at(node.range().start);
    let raw =
        node.attribute("id").ok_or_else(|| PlanningError::Xml(format!("<{what}> at {pos} has no id attribute")))?;
    raw.trim().parse().map_err(|_| PlanningError::Xml(format!("<{what}> at {pos} has a non-integer id {raw:?}")))
}

fn float_attr(value: &str, element: Element, key: &str) -> Result<f64> {
    let v: f64 =
        value.trim().parse().map_err(|_| PlanningError::map(element, format!("{key}={value:?} is not a number")))?;
    if !v.is_finite() {
        return Err(PlanningError::map(element, format!("{key}={value:?} is not finite")));
    }
    Ok(v)
}

fn tags_of(node: roxmltree::Node<'_, '_>) -> Tags {
    Tags(
        node.children()
            .filter(|c| c.has_tag_name("tag"))
            .filter_map(|t| Some((t.attribute("k")?.to_owned(), t.attribute("v")?.to_owned())))
            .collect(),
    )
}

/// Parses OSM XML text. Elements whose `action` is `delete` (JOSM's pending deletions) are
/// skipped; duplicate ids, non-numeric or non-finite coordinates and references without an id
/// are errors naming the element.
pub(crate) fn parse(text: &str) -> Result<Osm> {
    let doc = roxmltree::Document::parse(text).map_err(|e| PlanningError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name("osm") {
        return Err(PlanningError::Xml(format!("root element is <{}>, expected <osm>", root.tag_name().name())));
    }
    let mut osm = Osm::default();
    for el in root.children().filter(roxmltree::Node::is_element) {
        if el.attribute("action") == Some("delete") {
            continue;
        }
        match el.tag_name().name() {
            "node" => {
                let id = id_of(el, "node")?;
                let e = Element::Node(id);
                let tags = tags_of(el);
                let lat_lon = match (el.attribute("lat"), el.attribute("lon")) {
                    (Some(lat), Some(lon)) => Some((float_attr(lat, e, "lat")?, float_attr(lon, e, "lon")?)),
                    (None, None) => None,
                    _ => return Err(PlanningError::map(e, "has only one of lat and lon")),
                };
                let local_xy = match (tags.get("local_x"), tags.get("local_y")) {
                    (Some(x), Some(y)) => Some((float_attr(x, e, "local_x")?, float_attr(y, e, "local_y")?)),
                    (None, None) => None,
                    _ => return Err(PlanningError::map(e, "has only one of the tags local_x and local_y")),
                };
                let ele_m = tags.get("ele").map(|v| float_attr(v, e, "ele")).transpose()?;
                if osm.nodes.insert(id, OsmNode { lat_lon, local_xy, ele_m }).is_some() {
                    return Err(PlanningError::map(e, "appears twice"));
                }
            }
            "way" => {
                let id = id_of(el, "way")?;
                let mut nodes = Vec::new();
                for nd in el.children().filter(|c| c.has_tag_name("nd")) {
                    let r = nd
                        .attribute("ref")
                        .and_then(|r| r.trim().parse().ok())
                        .ok_or_else(|| PlanningError::map(Element::Way(id), "has an <nd> without an integer ref"))?;
                    nodes.push(r);
                }
                if osm.ways.insert(id, OsmWay { nodes, tags: tags_of(el) }).is_some() {
                    return Err(PlanningError::map(Element::Way(id), "appears twice"));
                }
            }
            "relation" => {
                let id = id_of(el, "relation")?;
                let mut members = Vec::new();
                for m in el.children().filter(|c| c.has_tag_name("member")) {
                    let kind = m.attribute("type").unwrap_or_default().to_owned();
                    let role = m.attribute("role").unwrap_or_default().to_owned();
                    let r = m.attribute("ref").and_then(|r| r.trim().parse().ok()).ok_or_else(|| {
                        PlanningError::map(Element::Relation(id), format!("member {role:?} has no integer ref"))
                    })?;
                    members.push(Member { kind, role, id: r });
                }
                if osm.relations.insert(id, OsmRelation { members, tags: tags_of(el) }).is_some() {
                    return Err(PlanningError::map(Element::Relation(id), "appears twice"));
                }
                osm.relation_order.push(id);
            }
            _ => {}
        }
    }
    Ok(osm)
}
