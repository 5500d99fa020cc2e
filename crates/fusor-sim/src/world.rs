//! The procedural world: a town grid with buildings, trees, poles, bollards, parked and moving
//! cars, cyclists and pedestrians; ground truth for the scored classes.

use crate::geometry::{BoxPrim, CylinderPrim, Ground, Material, Primitive, Shape, Surface, V3};
use crate::path::{offset_path, Path};
use crate::rng::{stream, Purpose, SimRng};
use crate::road::{
    lane_offset_m, TownGrid, CARRIAGEWAY_HALF_M, CURB_OFFSET_M, PARKING_OFFSET_M, SIDEWALK_OUTER_M, WALK_OFFSET_M,
};
use crate::scene::{Grid, Prepared, Scene};
use fusor_core::{Box3, FrameId, ObjectClass};
use nalgebra::{Point3, Vector3};
use rand::Rng;

/// Edge of a grid cell in metres.
const CELL_M: f64 = 4.0;
/// Longest time a snapshot is used for (s): moving primitives' grid bounds are swept this far.
pub(crate) const SNAPSHOT_WINDOW_S: f64 = 0.15;

/// Parameters of a generated world.
#[derive(Debug, Clone, PartialEq)]
pub struct WorldConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Junctions per side of the town grid.
    pub junctions_per_side: usize,
    /// Distance between junctions in metres.
    pub block_m: f64,
    /// Multiplier on the number of parked and moving road users (1 = default town).
    pub traffic_density: f64,
    /// The ground plane.
    pub ground: Ground,
    /// How long (s) moving actors need routes for.
    pub duration_s: f64,
    /// Multiplier on the street clutter along the sidewalks' outer edge (bins, pay stations,
    /// planted shrubs: pedestrian-sized, unscored; see [`street_clutter`]). 0 = none.
    pub street_clutter: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            junctions_per_side: 5,
            block_m: 80.0,
            traffic_density: 1.0,
            ground: Ground::FLAT,
            duration_s: 60.0,
            street_clutter: 0.0,
        }
    }
}

/// One primitive of an actor in its body frame (x forward, y left, z up from the ground).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Part {
    /// Shape in the body frame (box yaw relative to the body).
    pub shape: Shape,
    /// Appearance (object id filled in from the actor).
    pub surface: Surface,
}

/// How an actor moves.
#[derive(Debug, Clone, PartialEq)]
pub enum Motion {
    /// Standing still at (x, y) m with heading `yaw_rad`.
    Parked {
        /// Position in metres (map).
        xy: [f64; 2],
        /// Heading in radians.
        yaw_rad: f64,
    },
    /// Along a path at constant speed, starting at arc length `s0_m`.
    Follow {
        /// The path (map).
        path: Path,
        /// Arc length at t = 0 in metres.
        s0_m: f64,
        /// Speed in m/s.
        speed_m_s: f64,
    },
    /// Back and forth between `a` and `b` (a road crossing), pausing at each end.
    Shuttle {
        /// One end (x, y) m.
        a: [f64; 2],
        /// Other end (x, y) m.
        b: [f64; 2],
        /// Walking speed in m/s.
        speed_m_s: f64,
        /// Pause at each end in seconds.
        pause_s: f64,
        /// Time offset into the cycle in seconds.
        phase_s: f64,
    },
}

/// A road user or parked car.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    /// Stable ground-truth id (≥ 1).
    pub id: u32,
    /// Class.
    pub class: ObjectClass,
    /// Box size: length, width, height in metres.
    pub size: V3,
    /// Motion over time.
    pub motion: Motion,
    /// Shape in the body frame.
    pub parts: Vec<Part>,
}

impl Actor {
    /// Short name of the motion (`parked`, `follow`, `shuttle`).
    pub fn motion_kind(&self) -> &'static str {
        match self.motion {
            Motion::Parked { .. } => "parked",
            Motion::Follow { .. } => "follow",
            Motion::Shuttle { .. } => "shuttle",
        }
    }
}

/// Kinematic state of an actor at one instant (map frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActorState {
    /// Position (x, y) in metres on the ground.
    pub xy: [f64; 2],
    /// Heading in radians.
    pub yaw_rad: f64,
    /// Velocity (x, y) in m/s.
    pub velocity: [f64; 2],
}

/// A ground-truth object at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct GtObject {
    /// Stable id over the drive.
    pub id: u32,
    /// Class.
    pub class: ObjectClass,
    /// Box in the `map` frame.
    pub bbox: Box3,
    /// Velocity in m/s in the `map` frame.
    pub velocity_m_s: Vector3<f64>,
}

/// The world: static primitives in a grid, actors with motions.
#[derive(Debug)]
pub struct World {
    town: Option<TownGrid>,
    ground: Ground,
    statics: Vec<Primitive>,
    prepared_statics: Vec<Prepared>,
    static_grid: Grid,
    area: [f64; 4],
    static_max_z: f64,
    actors: Vec<Actor>,
    seed: u64,
    /// Unit vector towards the sun (map), for camera shading.
    pub sun_dir: V3,
}

impl ActorState {
    fn at(motion: &Motion, t: f64) -> ActorState {
        match motion {
            Motion::Parked { xy, yaw_rad } => ActorState { xy: *xy, yaw_rad: *yaw_rad, velocity: [0.0; 2] },
            Motion::Follow { path, s0_m, speed_m_s } => {
                let p = path.sample(s0_m + speed_m_s * t);
                let (s, c) = p.heading_rad.sin_cos();
                ActorState { xy: [p.x, p.y], yaw_rad: p.heading_rad, velocity: [speed_m_s * c, speed_m_s * s] }
            }
            Motion::Shuttle { a, b, speed_m_s, pause_s, phase_s } => {
                let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                let dist = dx.hypot(dy).max(1e-6);
                let walk = dist / speed_m_s.max(1e-6);
                let period = 2.0 * (walk + pause_s);
                let tau = (t + phase_s).rem_euclid(period);
                let fwd = dy.atan2(dx);
                let (u, yaw, v) = if tau < walk {
                    (tau / walk, fwd, 1.0)
                } else if tau < walk + pause_s {
                    (1.0, fwd, 0.0)
                } else if tau < 2.0 * walk + pause_s {
                    (1.0 - (tau - walk - pause_s) / walk, fwd + std::f64::consts::PI, -1.0)
                } else {
                    (0.0, fwd + std::f64::consts::PI, 0.0)
                };
                let k = v * speed_m_s / dist;
                ActorState { xy: [a[0] + u * dx, a[1] + u * dy], yaw_rad: yaw, velocity: [k * dx, k * dy] }
            }
        }
    }
}

fn jitter_color(rng: &mut SimRng, c: [u8; 3], amount: f64) -> [u8; 3] {
    let k = 1.0 + amount * (2.0 * rng.gen::<f64>() - 1.0);
    c.map(|v| (f64::from(v) * k).clamp(0.0, 255.0) as u8)
}

fn surface(material: Material, color: [u8; 3]) -> Surface {
    Surface { material, color, object_id: 0 }
}

fn box_part(center: V3, half: V3, s: Surface) -> Part {
    Part { shape: Shape::Box(BoxPrim { center, half, yaw_rad: 0.0 }), surface: s }
}

fn cyl_part(xy: [f64; 2], r: f64, z0: f64, z1: f64, s: Surface) -> Part {
    Part { shape: Shape::Cylinder(CylinderPrim { xy, radius_m: r, z_min: z0, z_max: z1 }), surface: s }
}

const CAR_COLORS: [[u8; 3]; 8] = [
    [200, 200, 205],
    [30, 30, 35],
    [150, 25, 25],
    [25, 50, 120],
    [120, 120, 125],
    [230, 230, 230],
    [40, 90, 50],
    [180, 140, 40],
];
const CLOTHES: [[u8; 3]; 7] =
    [[180, 40, 40], [40, 80, 160], [200, 180, 60], [90, 130, 80], [220, 220, 215], [150, 90, 150], [120, 100, 80]];
const DARK_CLOTHES: [u8; 3] = [22, 22, 26];
const FACADES: [[u8; 3]; 5] = [[190, 170, 145], [150, 80, 60], [200, 200, 195], [120, 120, 130], [210, 190, 150]];

/// A car body: lower body, glass cabin, two axle blocks (wheels). Size l × w × h (m).
pub fn car_parts(rng: &mut SimRng, size: V3) -> Vec<Part> {
    let [l, w, h] = size;
    let paint = surface(Material::CarPaint, {
        let c = CAR_COLORS[rng.gen_range(0..CAR_COLORS.len())];
        jitter_color(rng, c, 0.1)
    });
    let body_top = 0.62 * h;
    vec![
        box_part([0.0, 0.0, (0.2 + body_top) / 2.0], [l / 2.0, w / 2.0, (body_top - 0.2) / 2.0], paint),
        box_part(
            [-0.05 * l, 0.0, (body_top + h) / 2.0],
            [0.28 * l, 0.45 * w, (h - body_top) / 2.0],
            surface(Material::Glass, Material::Glass.base_color()),
        ),
        box_part(
            [0.33 * l, 0.0, 0.11],
            [0.3, w / 2.0 - 0.02, 0.11],
            surface(Material::Rubber, Material::Rubber.base_color()),
        ),
        box_part(
            [-0.33 * l, 0.0, 0.11],
            [0.3, w / 2.0 - 0.02, 0.11],
            surface(Material::Rubber, Material::Rubber.base_color()),
        ),
    ]
}

/// Box size (length, width, height in metres) of a pedestrian of height `h` (m): tight around
/// [`pedestrian_parts`], mid-stride legs and swinging arms included.
pub fn pedestrian_size(h: f64) -> V3 {
    let k = h / 1.75;
    [0.6 * k, 0.6 * k, h]
}

/// A pedestrian of height `h` (m) in mid-stride: two legs (one ahead, one behind), torso, arms,
/// head. Dark clothing with probability 0.3.
pub fn pedestrian_parts(rng: &mut SimRng, h: f64) -> Vec<Part> {
    let dark = rng.gen_bool(0.3);
    let top = if dark { DARK_CLOTHES } else { CLOTHES[rng.gen_range(0..CLOTHES.len())] };
    let bottom = if dark { DARK_CLOTHES } else { jitter_color(rng, [50, 55, 80], 0.3) };
    let k = h / 1.75;
    let skin = surface(Material::Skin, jitter_color(rng, Material::Skin.base_color(), 0.3));
    let (legs, shirt) = (surface(Material::Clothing, bottom), surface(Material::Clothing, top));
    vec![
        cyl_part([0.22 * k, 0.08 * k], 0.08 * k, 0.0, 0.47 * h, legs),
        cyl_part([-0.22 * k, -0.08 * k], 0.08 * k, 0.0, 0.47 * h, legs),
        cyl_part([0.0, 0.0], 0.19 * k, 0.47 * h, 0.84 * h, shirt),
        cyl_part([-0.08 * k, 0.245 * k], 0.055 * k, 0.46 * h, 0.82 * h, shirt),
        cyl_part([0.08 * k, -0.245 * k], 0.055 * k, 0.46 * h, 0.82 * h, shirt),
        cyl_part([0.0, 0.0], 0.1 * k, 0.84 * h, h, skin),
    ]
}

/// Box size (length, width, height in metres) of a cyclist, tight around [`cyclist_parts`].
pub const CYCLIST_SIZE: V3 = [1.8, 0.6, 1.75];

/// A cyclist on a bicycle (box [`CYCLIST_SIZE`]): wheels, frame, handlebar, legs, torso, arms,
/// head.
pub fn cyclist_parts(rng: &mut SimRng) -> Vec<Part> {
    let metal = surface(Material::Metal, {
        let c = CLOTHES[rng.gen_range(0..CLOTHES.len())];
        jitter_color(rng, c, 0.2)
    });
    let rubber = surface(Material::Rubber, Material::Rubber.base_color());
    let dark = rng.gen_bool(0.3);
    let clothes =
        surface(Material::Clothing, if dark { DARK_CLOTHES } else { CLOTHES[rng.gen_range(0..CLOTHES.len())] });
    vec![
        box_part([0.55, 0.0, 0.34], [0.34, 0.03, 0.34], rubber),
        box_part([-0.55, 0.0, 0.34], [0.34, 0.03, 0.34], rubber),
        box_part([0.0, 0.0, 0.62], [0.5, 0.03, 0.1], metal),
        box_part([0.42, 0.0, 1.0], [0.04, 0.3, 0.04], metal),
        box_part([-0.05, 0.0, 0.7], [0.15, 0.15, 0.3], clothes),
        cyl_part([-0.15, 0.0], 0.18, 1.0, 1.5, clothes),
        cyl_part([0.15, 0.24], 0.05, 1.0, 1.4, clothes),
        cyl_part([0.15, -0.24], 0.05, 1.0, 1.4, clothes),
        cyl_part([-0.05, 0.0], 0.1, 1.5, 1.75, surface(Material::Skin, Material::Skin.base_color())),
    ]
}

/// One side of one road leg between two junctions.
#[derive(Debug, Clone, Copy)]
struct Sidewalk {
    /// Where the leg starts and ends along its road (m).
    a: f64,
    b: f64,
    /// The road's centre line: x of a north–south road, y of an east–west one (m).
    c: f64,
    /// True for a north–south road.
    vertical: bool,
    /// −1 or +1: which side of the road.
    side: f64,
}

impl Sidewalk {
    /// Map (x, y) of a point `along` the road, `out` metres from the centre line on this side.
    fn xy(&self, along: f64, out: f64) -> [f64; 2] {
        let across = self.side * out;
        if self.vertical {
            [self.c + across, along]
        } else {
            [along, self.c + across]
        }
    }

    /// Heading of "along" (rad).
    fn heading_rad(&self) -> f64 {
        if self.vertical {
            std::f64::consts::FRAC_PI_2
        } else {
            0.0
        }
    }
}

/// Both sides of every road leg of `town`, in the order the world generator draws them.
fn sidewalks(town: &TownGrid) -> impl Iterator<Item = Sidewalk> + '_ {
    (0..town.n).flat_map(move |fixed| {
        (0..town.n - 1).flat_map(move |leg| {
            [false, true].into_iter().flat_map(move |vertical| {
                [-1.0, 1.0].map(|side| Sidewalk {
                    a: town.line_m(leg),
                    b: town.line_m(leg + 1),
                    c: town.line_m(fixed),
                    vertical,
                    side,
                })
            })
        })
    })
}

/// Colours of bins and pay-station housings.
const HOUSINGS: [[u8; 3]; 6] =
    [[40, 80, 50], [90, 95, 100], [200, 110, 30], [30, 60, 120], [60, 60, 62], [180, 40, 40]];

/// Street clutter along the outer edge of every sidewalk, from its own random stream (so the rest
/// of the world is the same with or without it), about one item per 14 m at `density` 1:
/// - waste bins (plastic cylinders, 0.95–1.15 m);
/// - pay stations and parcel lockers (plastic boxes 0.4–0.6 m across, 1.5–1.85 m tall);
/// - shrubs in round planters (foliage up to 1.4–1.9 m).
///
/// The last two are the size of a person and about as bright to the lidar as clothing: hard
/// negatives for a lidar-only pedestrian detector, which the camera tells apart (no head, no
/// legs, one colour). None of it is a scored object.
pub fn street_clutter(seed: u64, town: &TownGrid, ground: &Ground, density: f64) -> Vec<Primitive> {
    let mut out = Vec::new();
    if density.is_nan() || density <= 0.0 {
        return out;
    }
    let mut rng = stream(seed, Purpose::Clutter, 0, 0);
    let prim = |shape: Shape, material: Material, color: [u8; 3]| Primitive {
        shape,
        surface: Surface { material, color, object_id: 0 },
    };
    let across = SIDEWALK_OUTER_M - 0.5;
    for sw in sidewalks(town) {
        let Sidewalk { a, b, .. } = sw;
        let mut s = a + SIDEWALK_OUTER_M + 2.0 + rng.gen_range(0.0..8.0) / density.min(10.0);
        while s < b - SIDEWALK_OUTER_M - 2.0 {
            let [x, y] = sw.xy(s, across);
            let z = ground.height(x, y);
            let housing = HOUSINGS[rng.gen_range(0..HOUSINGS.len())];
            let color = jitter_color(&mut rng, housing, 0.15);
            match rng.gen_range(0..3) {
                0 => out.push(prim(
                    Shape::Cylinder(CylinderPrim {
                        xy: [x, y],
                        radius_m: rng.gen_range(0.25..0.32),
                        z_min: z - 0.1,
                        z_max: z + rng.gen_range(0.95..1.15),
                    }),
                    Material::Plastic,
                    color,
                )),
                1 => {
                    let half = [rng.gen_range(0.2..0.3), rng.gen_range(0.2..0.3)];
                    let h = rng.gen_range(1.5..1.85);
                    out.push(prim(
                        Shape::Box(BoxPrim {
                            center: [x, y, z + (h - 0.1) / 2.0],
                            half: [half[0], half[1], (h + 0.1) / 2.0],
                            yaw_rad: rng.gen_range(0.0..std::f64::consts::PI),
                        }),
                        Material::Plastic,
                        color,
                    ));
                }
                _ => {
                    let r = rng.gen_range(0.3..0.4);
                    out.push(prim(
                        Shape::Cylinder(CylinderPrim { xy: [x, y], radius_m: r, z_min: z - 0.1, z_max: z + 0.45 }),
                        Material::Concrete,
                        jitter_color(&mut rng, Material::Concrete.base_color(), 0.1),
                    ));
                    out.push(prim(
                        Shape::Cylinder(CylinderPrim {
                            xy: [x, y],
                            radius_m: r - 0.05,
                            z_min: z + 0.45,
                            z_max: z + rng.gen_range(1.4..1.9),
                        }),
                        Material::Foliage,
                        jitter_color(&mut rng, Material::Foliage.base_color(), 0.25),
                    ));
                }
            }
            s += rng.gen_range(8.0..20.0) / density.min(10.0);
        }
    }
    out
}

/// The actor's parts posed in `map` at state `st`, tagged with its id.
fn posed_parts<'a>(a: &'a Actor, st: &ActorState, ground: &Ground) -> impl Iterator<Item = Primitive> + 'a {
    let z = ground.height(st.xy[0], st.xy[1]);
    let (s, c) = st.yaw_rad.sin_cos();
    let (xy, yaw) = (st.xy, st.yaw_rad);
    a.parts.iter().map(move |part| {
        let to_map = |p: [f64; 2]| [xy[0] + c * p[0] - s * p[1], xy[1] + s * p[0] + c * p[1]];
        let shape = match part.shape {
            Shape::Box(b) => {
                let m = to_map([b.center[0], b.center[1]]);
                Shape::Box(BoxPrim { center: [m[0], m[1], z + b.center[2]], half: b.half, yaw_rad: yaw + b.yaw_rad })
            }
            Shape::Cylinder(cy) => Shape::Cylinder(CylinderPrim {
                xy: to_map(cy.xy),
                radius_m: cy.radius_m,
                z_min: z + cy.z_min,
                z_max: z + cy.z_max,
            }),
        };
        Primitive { shape, surface: Surface { object_id: a.id, ..part.surface } }
    })
}

impl World {
    /// A world from explicit parts (tests, hand-made scenes). `town` sets the ground materials
    /// (asphalt everywhere when `None`).
    pub fn from_parts(
        ground: Ground,
        town: Option<TownGrid>,
        statics: Vec<Primitive>,
        actors: Vec<Actor>,
        seed: u64,
    ) -> Self {
        let mut area = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        let mut grow = |b: [f64; 4]| {
            area = [area[0].min(b[0]), area[1].min(b[1]), area[2].max(b[2]), area[3].max(b[3])];
        };
        if let Some(t) = town {
            let e = t.half_extent_m() + 20.0;
            grow([-e, -e, e, e]);
        }
        for p in &statics {
            grow(p.shape.bounds_xy());
        }
        for a in &actors {
            if let Motion::Parked { xy, .. } = a.motion {
                grow([xy[0] - 5.0, xy[1] - 5.0, xy[0] + 5.0, xy[1] + 5.0]);
            }
        }
        if !area[0].is_finite() {
            area = [-50.0, -50.0, 50.0, 50.0];
        }
        // Room for moving actors to leave the static area.
        let area = [area[0] - 40.0, area[1] - 40.0, area[2] + 40.0, area[3] + 40.0];
        // Parked cars never move: they join the static grid.
        let mut statics = statics;
        for a in &actors {
            if matches!(a.motion, Motion::Parked { .. }) {
                statics.extend(posed_parts(a, &ActorState::at(&a.motion, 0.0), &ground));
            }
        }
        let bounds: Vec<[f64; 4]> = statics.iter().map(|p| p.shape.bounds_xy()).collect();
        let tops: Vec<f64> = statics.iter().map(|p| p.shape.z_max()).collect();
        let static_grid = Grid::build(area, CELL_M, &bounds, &[], &tops);
        let static_max_z = tops.iter().copied().fold(0.0, f64::max);
        let prepared_statics = statics.iter().map(Prepared::new).collect();
        let sun_az = 0.3 + (seed % 7) as f64 * 0.7;
        let sun_el = 0.8f64;
        let sun_dir = [sun_el.cos() * sun_az.cos(), sun_el.cos() * sun_az.sin(), sun_el.sin()];
        Self { town, ground, statics, prepared_statics, static_grid, area, static_max_z, actors, seed, sun_dir }
    }

    /// Generates a town from `config.seed`: same config, same world.
    pub fn generate(config: &WorldConfig) -> Self {
        let mut rng = stream(config.seed, Purpose::World, 0, 0);
        let town = TownGrid { n: config.junctions_per_side.max(2), spacing_m: config.block_m.max(60.0) };
        let ground = config.ground;
        let mut statics = Vec::new();
        let gz = |x: f64, y: f64| ground.height(x, y);
        let static_prim = |shape: Shape, material: Material, color: [u8; 3]| Primitive {
            shape,
            surface: Surface { material, color, object_id: 0 },
        };

        // Buildings: up to 2 × 2 lots per block, some left as lawn.
        for bi in 0..town.n - 1 {
            for bj in 0..town.n - 1 {
                let x0 = town.line_m(bi) + SIDEWALK_OUTER_M;
                let x1 = town.line_m(bi + 1) - SIDEWALK_OUTER_M;
                let y0 = town.line_m(bj) + SIDEWALK_OUTER_M;
                let y1 = town.line_m(bj + 1) - SIDEWALK_OUTER_M;
                let (xm, ym) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                for (lx0, lx1) in [(x0, xm), (xm, x1)] {
                    for (ly0, ly1) in [(y0, ym), (ym, y1)] {
                        if rng.gen_bool(0.15) {
                            continue;
                        }
                        let m = || 1.0..4.0;
                        let (ax0, ax1) = (lx0 + rng.gen_range(m()), lx1 - rng.gen_range(m()));
                        let (ay0, ay1) = (ly0 + rng.gen_range(m()), ly1 - rng.gen_range(m()));
                        let height = rng.gen_range(6.0..28.0);
                        let (cx, cy) = ((ax0 + ax1) / 2.0, (ay0 + ay1) / 2.0);
                        let base = gz(cx, cy) - 3.0;
                        let facade = FACADES[rng.gen_range(0..FACADES.len())];
                        let color = jitter_color(&mut rng, facade, 0.08);
                        statics.push(static_prim(
                            Shape::Box(BoxPrim {
                                center: [cx, cy, base + (height + 3.0) / 2.0],
                                half: [(ax1 - ax0) / 2.0, (ay1 - ay0) / 2.0, (height + 3.0) / 2.0],
                                yaw_rad: 0.0,
                            }),
                            Material::Facade,
                            color,
                        ));
                    }
                }
            }
        }

        // Street furniture and parked cars along every leg, both sides.
        let mut actors = Vec::new();
        let mut next_id = 1u32;
        for sw in sidewalks(&town) {
            let Sidewalk { a, b, side, .. } = sw;
            let heading = sw.heading_rad();
            // Trees near the curb.
            let mut s = a + 16.0 + rng.gen_range(0.0..6.0);
            while s < b - 16.0 {
                let [x, y] = sw.xy(s, CURB_OFFSET_M + 0.8);
                let z = gz(x, y);
                let trunk_r = rng.gen_range(0.12..0.22);
                let crown_z = z + rng.gen_range(2.2..3.2);
                statics.push(static_prim(
                    Shape::Cylinder(CylinderPrim {
                        xy: [x, y],
                        radius_m: trunk_r,
                        z_min: z - 0.5,
                        z_max: crown_z + 0.5,
                    }),
                    Material::Bark,
                    jitter_color(&mut rng, Material::Bark.base_color(), 0.15),
                ));
                statics.push(static_prim(
                    Shape::Cylinder(CylinderPrim {
                        xy: [x, y],
                        radius_m: rng.gen_range(1.3..2.3),
                        z_min: crown_z,
                        z_max: crown_z + rng.gen_range(2.0..4.0),
                    }),
                    Material::Foliage,
                    jitter_color(&mut rng, Material::Foliage.base_color(), 0.2),
                ));
                s += rng.gen_range(10.0..18.0);
            }
            // Street lights.
            let mut s = a + 25.0 + rng.gen_range(0.0..5.0);
            while s < b - 20.0 {
                let [x, y] = sw.xy(s, CURB_OFFSET_M + 0.4);
                let z = gz(x, y);
                statics.push(static_prim(
                    Shape::Cylinder(CylinderPrim {
                        xy: [x, y],
                        radius_m: 0.1,
                        z_min: z - 0.5,
                        z_max: z + rng.gen_range(6.0..8.0),
                    }),
                    Material::Metal,
                    [110, 110, 115],
                ));
                s += 35.0;
            }
            // Bollards at the start of the leg, and a sign pole.
            for k in 0..3 {
                let [x, y] = sw.xy(a + SIDEWALK_OUTER_M + 0.8 + 1.3 * k as f64, CURB_OFFSET_M + 0.3);
                let z = gz(x, y);
                statics.push(static_prim(
                    Shape::Cylinder(CylinderPrim { xy: [x, y], radius_m: 0.1, z_min: z - 0.5, z_max: z + 1.0 }),
                    Material::Metal,
                    if k % 2 == 0 { [200, 170, 40] } else { [90, 90, 95] },
                ));
            }
            let [x, y] = sw.xy(b - SIDEWALK_OUTER_M - 1.0, CURB_OFFSET_M + 0.3);
            let z = gz(x, y);
            statics.push(static_prim(
                Shape::Cylinder(CylinderPrim { xy: [x, y], radius_m: 0.05, z_min: z - 0.5, z_max: z + 2.6 }),
                Material::Metal,
                [160, 160, 165],
            ));
            // Parked cars, facing the traffic on their side.
            let yaw = if side < 0.0 { heading } else { heading + std::f64::consts::PI };
            let mut s = a + 18.0;
            while s < b - 18.0 {
                if rng.gen_bool((0.45 * config.traffic_density).clamp(0.0, 1.0)) {
                    let size = [rng.gen_range(3.9..4.8), rng.gen_range(1.7..1.9), rng.gen_range(1.4..1.65)];
                    let xy = sw.xy(s + 3.0, PARKING_OFFSET_M);
                    let parts = car_parts(&mut rng, size);
                    actors.push(Actor {
                        id: next_id,
                        class: ObjectClass::Car,
                        size,
                        motion: Motion::Parked { xy, yaw_rad: yaw },
                        parts,
                    });
                    next_id += 1;
                }
                s += 6.5;
            }
        }

        statics.extend(street_clutter(config.seed, &town, &ground, config.street_clutter));

        // Moving road users on routes through the grid.
        let density = config.traffic_density.max(0.0);
        let count = |base: f64| (base * density).round() as usize;
        let duration = config.duration_s.max(1.0);
        for _ in 0..count(20.0) {
            let speed = rng.gen_range(6.0..12.0);
            let route = town.random_route(&mut rng, speed * duration + 50.0);
            let lane = rng.gen_range(0..2);
            let path = offset_path(&route, lane_offset_m(lane), 12.0, rng.gen_range(0.0..0.5));
            let size = [rng.gen_range(3.9..4.8), rng.gen_range(1.7..1.9), rng.gen_range(1.4..1.65)];
            let parts = car_parts(&mut rng, size);
            actors.push(Actor {
                id: next_id,
                class: ObjectClass::Car,
                size,
                motion: Motion::Follow { path, s0_m: 0.0, speed_m_s: speed },
                parts,
            });
            next_id += 1;
        }
        for _ in 0..count(6.0) {
            let speed = rng.gen_range(3.5..6.0);
            let route = town.random_route(&mut rng, speed * duration + 50.0);
            let path = offset_path(&route, CARRIAGEWAY_HALF_M - 0.6, 8.0, rng.gen_range(0.0..0.5));
            let parts = cyclist_parts(&mut rng);
            actors.push(Actor {
                id: next_id,
                class: ObjectClass::Cyclist,
                size: CYCLIST_SIZE,
                motion: Motion::Follow { path, s0_m: 0.0, speed_m_s: speed },
                parts,
            });
            next_id += 1;
        }
        for _ in 0..count(30.0) {
            let speed = rng.gen_range(0.9..1.6);
            let route = town.random_route(&mut rng, speed * duration + 20.0);
            let side = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
            let path = offset_path(&route, side * WALK_OFFSET_M, 1.5, rng.gen_range(0.0..0.9));
            let h = rng.gen_range(1.55..1.9);
            let parts = pedestrian_parts(&mut rng, h);
            actors.push(Actor {
                id: next_id,
                class: ObjectClass::Pedestrian,
                size: pedestrian_size(h),
                motion: Motion::Follow { path, s0_m: 0.0, speed_m_s: speed },
                parts,
            });
            next_id += 1;
        }
        for _ in 0..count(6.0) {
            let fixed = town.line_m(rng.gen_range(0..town.n));
            let leg = rng.gen_range(0..town.n - 1);
            let along = town.line_m(leg) + rng.gen_range(25.0..town.spacing_m - 25.0);
            let (a, b) = if rng.gen_bool(0.5) {
                ([along, fixed - WALK_OFFSET_M], [along, fixed + WALK_OFFSET_M])
            } else {
                ([fixed - WALK_OFFSET_M, along], [fixed + WALK_OFFSET_M, along])
            };
            let h = rng.gen_range(1.55..1.9);
            let parts = pedestrian_parts(&mut rng, h);
            actors.push(Actor {
                id: next_id,
                class: ObjectClass::Pedestrian,
                size: pedestrian_size(h),
                motion: Motion::Shuttle {
                    a,
                    b,
                    speed_m_s: rng.gen_range(1.0..1.5),
                    pause_s: rng.gen_range(2.0..8.0),
                    phase_s: rng.gen_range(0.0..40.0),
                },
                parts,
            });
            next_id += 1;
        }
        Self::from_parts(ground, Some(town), statics, actors, config.seed)
    }

    /// The town grid, when the world has one.
    pub fn town(&self) -> Option<&TownGrid> {
        self.town.as_ref()
    }

    /// The ground plane.
    pub fn ground(&self) -> &Ground {
        &self.ground
    }

    /// The seed the world was generated from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Static primitives (buildings, trees, poles, bollards, parked cars).
    pub fn statics(&self) -> &[Primitive] {
        &self.statics
    }

    /// All actors (parked cars included).
    pub fn actors(&self) -> &[Actor] {
        &self.actors
    }

    /// Kinematic state of `actor` at simulation time `t_s`.
    pub fn actor_state(&self, actor: &Actor, t_s: f64) -> ActorState {
        ActorState::at(&actor.motion, t_s)
    }

    /// Ground-truth boxes (map frame) of every Car, Pedestrian and Cyclist at time `t_s`.
    pub fn objects_at(&self, t_s: f64) -> Vec<GtObject> {
        self.actors.iter().map(|a| self.object_of(a, t_s)).collect()
    }

    /// Ground-truth box (map frame) of the actor with id `id` at time `t_s`, `None` when there
    /// is no such actor.
    pub fn object_at(&self, id: u32, t_s: f64) -> Option<GtObject> {
        // Ids are handed out in order, so the actor is usually at index `id - 1`.
        let by_index = usize::try_from(id).ok().and_then(|i| i.checked_sub(1)).and_then(|i| self.actors.get(i));
        let actor = by_index.filter(|a| a.id == id).or_else(|| self.actors.iter().find(|a| a.id == id))?;
        Some(self.object_of(actor, t_s))
    }

    fn object_of(&self, a: &Actor, t_s: f64) -> GtObject {
        let st = self.actor_state(a, t_s);
        let z = self.ground.height(st.xy[0], st.xy[1]);
        let vz = self.ground.slope_x * st.velocity[0] + self.ground.slope_y * st.velocity[1];
        GtObject {
            id: a.id,
            class: a.class,
            bbox: Box3 {
                frame_id: FrameId::new(FrameId::MAP),
                center: Point3::new(st.xy[0], st.xy[1], z + a.size[2] / 2.0),
                size: Vector3::new(a.size[0], a.size[1], a.size[2]),
                yaw_rad: st.yaw_rad,
            },
            velocity_m_s: Vector3::new(st.velocity[0], st.velocity[1], vz),
        }
    }

    /// A snapshot for ray casting at time `t_s`; rays may be cast up to
    /// 0.15 s after it (moving actors are extrapolated with their velocity).
    pub fn scene_at(&self, t_s: f64) -> Scene<'_> {
        let mut dynamics = Vec::new();
        let mut velocities = Vec::new();
        let mut margins = Vec::new();
        let mut bounds = Vec::new();
        let mut tops = Vec::new();
        let mut max_z = self.static_max_z;
        for a in &self.actors {
            let st = self.actor_state(a, t_s);
            let margin = st.velocity[0].hypot(st.velocity[1]) * SNAPSHOT_WINDOW_S;
            for prim in posed_parts(a, &st, &self.ground) {
                let top = prim.shape.z_max();
                max_z = max_z.max(top);
                bounds.push(prim.shape.bounds_xy());
                tops.push(top);
                dynamics.push(Prepared::new(&prim));
                velocities.push(st.velocity);
                margins.push(margin);
            }
        }
        let dynamic_grid = Grid::build(self.area, CELL_M, &bounds, &margins, &tops);
        Scene {
            ground: self.ground,
            town: self.town,
            statics: &self.prepared_statics,
            static_grid: &self.static_grid,
            dynamics,
            velocities,
            dynamic_grid,
            max_z,
            t_ref_s: t_s,
        }
    }
}
