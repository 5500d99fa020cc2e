//! A drive: the scheduled, fault-injected stream of timestamped sensor events and ground truth.

use crate::camera::{CameraRenderer, CameraVisibility};
use crate::ego::EgoTrajectory;
use crate::imu::ImuModel;
use crate::lidar::{LidarConfig, LidarScan};
use crate::rig::{SimRig, SIDE_CAMERA_FRAMES};
use crate::rng::{gauss, stream, Purpose};
use crate::scenario::Scenario;
use crate::world::{GtObject, World};
use crate::Result;
use fusor_core::geodesy::LocalEnu;
use fusor_core::{Duration, GnssFix, Image, Imu, PointCloud, Stamp, Transform};
use nalgebra::{Isometry3, Point3, UnitQuaternion};
use rand::Rng;

/// Objects whose box centre lies within this horizontal distance (m) of the ego are recorded as
/// ground truth (the useful range of the lidar; the town holds hundreds of actors).
pub const GT_RANGE_M: f64 = 80.0;

/// Ground truth at one lidar scan.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// The scan's nominal start time (no stamp jitter); visibility is at this time, and so are
    /// the boxes of [`Drive::ground_truth`] (those of [`Drive::ground_truth_as_swept`], the ones
    /// a drive publishes, are where the lidar swept each object).
    pub stamp: Stamp,
    /// Every car, pedestrian and cyclist within [`GT_RANGE_M`] of the ego, by id.
    pub objects: Vec<GtRecord>,
    /// Pose of the ego (`base_link`) in `map` at `stamp`.
    pub map_from_base_link: Isometry3<f64>,
}

/// One ground-truth object at a lidar scan, with what the sensors saw of it.
#[derive(Debug, Clone, PartialEq)]
pub struct GtRecord {
    /// Id, class, box (map frame) and velocity.
    pub object: GtObject,
    /// Points of this lidar scan on the object.
    pub lidar_points: u32,
    /// What the front camera (as mounted, faults included) sees of the object from the ego pose
    /// at the scan stamp. Camera frames are not locked to the lidar, so this is the view of a
    /// frame taken at the scan time.
    pub camera: CameraVisibility,
}

/// One timestamped output of the simulator.
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    /// A lidar scan (frame `lidar`, per-point `ring` and `time_offset_s`).
    Lidar(PointCloud),
    /// A camera frame (frame `camera_front`, rgb8).
    Camera(Image),
    /// A GNSS fix (frame `gnss`).
    Gnss(GnssFix),
    /// An IMU sample (frame `imu`).
    Imu(Imu),
    /// Ground truth at a lidar scan, each object where the lidar swept it
    /// ([`Drive::ground_truth_as_swept`]).
    GroundTruth(GroundTruth),
}

impl SimEvent {
    /// The event's (header) stamp.
    pub fn stamp(&self) -> Stamp {
        match self {
            Self::Lidar(c) => c.stamp,
            Self::Camera(i) => i.stamp,
            Self::Gnss(g) => g.stamp,
            Self::Imu(i) => i.stamp,
            Self::GroundTruth(g) => g.stamp,
        }
    }
}

/// Which sensor a scheduled slot belongs to (the order breaks stamp ties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Imu,
    Gnss,
    Lidar,
    GroundTruth,
    /// Camera `k` of the rig: 0 the front camera, then the surround rig's side cameras.
    Camera(u8),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    stamp: Stamp,
    kind: Kind,
    index: u64,
    /// True simulation time of the measurement (s).
    t_s: f64,
    /// GNSS only: in an outage.
    outage: bool,
}

/// A simulated drive: world, ego trajectory, sensor models and the event schedule.
/// Iterate it for the events in stamp order.
#[derive(Debug)]
pub struct Drive {
    scenario: Scenario,
    world: World,
    ego: EgoTrajectory,
    enu: LocalEnu,
    lidar: LidarConfig,
    camera: CameraRenderer,
    imu: ImuModel,
    schedule: Vec<Slot>,
    next: usize,
    scan_cache: Option<(u64, LidarScan)>,
    start: Stamp,
}

fn in_any(intervals: &[[f64; 2]], t: f64) -> bool {
    intervals.iter().any(|&[a, b]| t >= a && t < b)
}

impl Drive {
    /// Builds the world, the ego trajectory and the schedule of `scenario`.
    pub fn new(scenario: &Scenario) -> Result<Self> {
        scenario.validate(std::path::Path::new("<scenario>"))?;
        let world = World::generate(&scenario.world_config());
        let ego = EgoTrajectory::plan(&world, scenario.seed, scenario.duration_s, &scenario.ego)?;
        let enu = LocalEnu::new(scenario.origin.lat_deg, scenario.origin.lon_deg, scenario.origin.alt_m)?;
        let mut lidar = scenario.lidar.clone();
        let model = &scenario.rig_config.lidar_model;
        if let Some(b) = model.beams {
            lidar.beams = u16::try_from(b).map_err(|_| crate::SimError::invalid("rig lidar", format!("{b} beams")))?;
        }
        if let Some([lo, hi]) = model.vertical_fov_deg {
            (lidar.lower_fov_deg, lidar.upper_fov_deg) = (lo, hi);
        }
        if let Some(r) = model.rate_hz {
            lidar.rate_hz = r;
        }
        if let Some(r) = model.max_range_m {
            lidar.max_range_m = r;
        }
        lidar.lost_beams = scenario.faults.lidar_lost_beams.clone();
        lidar.validate()?;
        let rig = &scenario.rig_config;
        let camera = CameraRenderer::new(rig.camera_intrinsics, scenario.camera.clone())?;
        let [roll, pitch, yaw] = scenario.faults.imu_mount_error_deg.map(f64::to_radians);
        let imu_mount = rig.base_link_from_imu.rotation * UnitQuaternion::from_euler_angles(roll, pitch, yaw);
        let imu = ImuModel::new(scenario.imu.clone(), imu_mount, scenario.seed);
        let start = Stamp::from_secs_f64(scenario.start_time_s)
            .ok_or_else(|| crate::SimError::invalid("start_time_s", "out of range"))?;
        let schedule = schedule(scenario, start);
        Ok(Self {
            scenario: scenario.clone(),
            world,
            ego,
            enu,
            lidar,
            camera,
            imu,
            schedule,
            next: 0,
            scan_cache: None,
            start,
        })
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The world.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The ego trajectory.
    pub fn ego(&self) -> &EgoTrajectory {
        &self.ego
    }

    /// The rig (nominal calibration, as published).
    pub fn rig(&self) -> &SimRig {
        &self.scenario.rig_config
    }

    /// The `map` frame's geodetic anchor.
    pub fn enu(&self) -> &LocalEnu {
        &self.enu
    }

    /// Stamp of drive time `t_s`.
    pub fn stamp_at(&self, t_s: f64) -> Stamp {
        self.start + Duration::from_secs_f64(t_s)
    }

    /// Drive time (s) of `stamp`.
    pub fn time_of(&self, stamp: Stamp) -> f64 {
        (stamp - self.start).secs_f64()
    }

    /// The nominal static transforms `base_link → sensor` (for `/tf_static`).
    pub fn static_transforms(&self) -> Vec<Transform> {
        let mut out = self.rig().static_transforms();
        if self.scenario.camera.surround {
            out.extend(
                self.rig()
                    .surround_cameras()
                    .into_iter()
                    .skip(1)
                    .map(|(frame, mount)| Transform::new("base_link", frame, mount)),
            );
        }
        out
    }

    /// Number of events the iterator yields in total.
    pub fn event_count(&self) -> usize {
        self.schedule.len()
    }

    /// `map_from_lidar` at drive time `t_s`.
    pub fn map_from_lidar(&self, t_s: f64) -> Isometry3<f64> {
        self.ego.map_from_base_link(t_s) * self.rig().base_link_from_lidar()
    }

    /// The lidar scan `index` (starting at `index / rate`), from cache when just made.
    pub fn lidar_scan(&mut self, index: u64) -> &LidarScan {
        if self.scan_cache.as_ref().is_none_or(|(i, _)| *i != index) {
            let t0 = index as f64 / self.lidar.rate_hz;
            let ego = &self.ego;
            let b_from_l = self.scenario.rig_config.base_link_from_lidar();
            let pose = move |dt: f64| ego.map_from_base_link(t0 + dt) * b_from_l;
            let stamp = self.start + Duration::from_secs_f64(t0);
            let scan = self.lidar.scan(&self.world, t0, &pose, stamp, self.scenario.seed, index);
            self.scan_cache = Some((index, scan));
        }
        match &self.scan_cache {
            Some((_, scan)) => scan,
            None => unreachable!("cache filled above"),
        }
    }

    /// Pose of the front camera's optical frame in `map` at drive time `t_s`, as actually
    /// mounted (the scenario's camera yaw fault included).
    pub fn map_from_camera(&self, t_s: f64) -> Isometry3<f64> {
        let yaw = self.scenario.faults.camera_yaw_offset_deg.to_radians();
        self.ego.map_from_base_link(t_s) * self.rig().base_link_from_camera(yaw)
    }

    /// The camera renderer (intrinsics and rendering parameters).
    pub fn camera(&self) -> &CameraRenderer {
        &self.camera
    }

    /// Renders camera frame `index` exposed at drive time `t_s`, stamped `stamp`.
    pub fn camera_frame(&self, t_s: f64, stamp: Stamp, index: u64) -> Image {
        self.camera_frame_with_ids(t_s, stamp, index, false).0
    }

    /// As [`Self::camera_frame`], with the instance mask when `ids` is set (see
    /// [`CameraRenderer::render_with_ids`]; empty otherwise).
    pub fn camera_frame_with_ids(&self, t_s: f64, stamp: Stamp, index: u64, ids: bool) -> (Image, Vec<u32>) {
        self.render_camera(&self.map_from_camera(t_s), t_s, stamp, index, ids)
    }

    /// As [`Self::camera_frame_with_ids`] for another camera of the car with the front camera's
    /// intrinsics, mounted at `base_link_from_camera` (optical frame; the scenario's camera yaw
    /// fault is applied to it too, as to a rig turned on the car). `noise_stream` (0 for the front
    /// camera) keeps each camera's pixel noise its own.
    pub fn camera_frame_from(
        &self,
        base_link_from_camera: &Isometry3<f64>,
        noise_stream: u64,
        t_s: f64,
        stamp: Stamp,
        index: u64,
        ids: bool,
    ) -> (Image, Vec<u32>) {
        let yaw = self.scenario.faults.camera_yaw_offset_deg.to_radians();
        let map_from_camera = self.ego.map_from_base_link(t_s) * SimRig::turned(base_link_from_camera, yaw);
        // Noise is drawn per (seed, index): another camera reads another index range.
        let index = index.wrapping_add(noise_stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.render_camera(&map_from_camera, t_s, stamp, index, ids)
    }

    fn render_camera(
        &self,
        map_from_camera: &Isometry3<f64>,
        t_s: f64,
        stamp: Stamp,
        index: u64,
        ids: bool,
    ) -> (Image, Vec<u32>) {
        let scene = self.world.scene_at(t_s);
        let args = (self.world.sun_dir, self.scenario.lighting, stamp, self.scenario.seed, index);
        let map_from_camera = *map_from_camera;
        if ids {
            self.camera.render_with_ids(&scene, &map_from_camera, args.0, args.1, args.2, args.3, args.4)
        } else {
            (self.camera.render(&scene, &map_from_camera, args.0, args.1, args.2, args.3, args.4), Vec::new())
        }
    }

    /// Ground truth at lidar scan `index`: objects within [`GT_RANGE_M`] of the ego at the scan
    /// start, their lidar points in that scan, and their camera visibility at that time.
    pub fn ground_truth(&mut self, index: u64) -> GroundTruth {
        let t_s = index as f64 / self.lidar.rate_hz;
        let map_from_base_link = self.ego.map_from_base_link(t_s);
        let ego_xy = map_from_base_link.translation.vector;
        let objects: Vec<GtObject> = self
            .world
            .objects_at(t_s)
            .into_iter()
            .filter(|o| (o.bbox.center.x - ego_xy.x).hypot(o.bbox.center.y - ego_xy.y) <= GT_RANGE_M)
            .collect();
        let scene = self.world.scene_at(t_s);
        let camera = self.camera.visibility(&scene, &self.map_from_camera(t_s), &objects);
        let points = &self.lidar_scan(index).points_per_object;
        let objects = objects
            .into_iter()
            .zip(camera)
            .map(|(object, camera)| GtRecord {
                lidar_points: points.get(&object.id).copied().unwrap_or(0),
                object,
                camera,
            })
            .collect();
        GroundTruth { stamp: self.start + Duration::from_secs_f64(t_s), objects, map_from_base_link }
    }

    /// [`Self::ground_truth`] with every object posed where the lidar swept it instead of at the
    /// scan stamp: at the instant the scan's firings pointed at the object's centre (the stamp plus
    /// up to one period, 0.05 s for objects straight ahead at 10 Hz). Deskewing a scan to its stamp
    /// moves points with the ego, not with the objects, so this is where a walker's or a car's
    /// points are, what a labeller of the point cloud draws (KITTI and nuScenes annotate point
    /// clouds), and what a detector working on one scan can find; at the stamp a walker is up to
    /// 0.14 m and a car at 50 km/h up to 1.4 m from its points. Lidar points and camera
    /// visibility are the stamp's, as in [`Self::ground_truth`]; objects standing still at the
    /// stamp (parked cars, a walker at a turn) are left where they are. This is the ground truth
    /// a drive yields ([`SimEvent::GroundTruth`]) and records.
    pub fn ground_truth_as_swept(&mut self, index: u64) -> GroundTruth {
        let mut gt = self.ground_truth(index);
        let t0 = self.time_of(gt.stamp);
        for record in &mut gt.objects {
            if record.object.velocity_m_s.xy().norm() == 0.0 {
                continue;
            }
            // The firing time depends on where the object is then; two refinements from the
            // stamp's pose settle it far below a firing (50 µs) at walking or driving speeds.
            let mut dt = 0.0;
            let mut object = record.object.clone();
            for _ in 0..2 {
                let in_lidar = self.map_from_lidar(t0 + dt).inverse() * object.bbox.center;
                dt = self.lidar.time_offset_at_azimuth(in_lidar.y.atan2(in_lidar.x));
                match self.world.object_at(object.id, t0 + dt) {
                    Some(o) => object = o,
                    None => break,
                }
            }
            record.object = object;
        }
        gt
    }

    fn event(&mut self, slot: Slot) -> Result<SimEvent> {
        Ok(match slot.kind {
            Kind::Lidar => {
                let mut cloud = self.lidar_scan(slot.index).cloud.clone();
                cloud.stamp = slot.stamp;
                SimEvent::Lidar(cloud)
            }
            Kind::GroundTruth => SimEvent::GroundTruth(self.ground_truth_as_swept(slot.index)),
            Kind::Camera(0) => SimEvent::Camera(self.camera_frame(slot.t_s, slot.stamp, slot.index)),
            Kind::Camera(k) => {
                let (frame, mount) =
                    self.rig().surround_cameras().into_iter().nth(usize::from(k)).ok_or_else(|| {
                        crate::SimError::invalid("camera", format!("the surround rig has no camera {k}"))
                    })?;
                let (mut image, _) =
                    self.camera_frame_from(&mount, u64::from(k), slot.t_s, slot.stamp, slot.index, false);
                image.frame_id = frame.into();
                SimEvent::Camera(image)
            }
            Kind::Gnss => {
                let antenna = self.ego.map_from_base_link(slot.t_s) * self.rig().base_link_from_gnss * Point3::origin();
                SimEvent::Gnss(self.scenario.gnss.fix(
                    &self.enu,
                    &antenna,
                    slot.stamp,
                    self.scenario.seed,
                    slot.index,
                    slot.outage,
                )?)
            }
            Kind::Imu => {
                SimEvent::Imu(self.imu.sample(&self.ego, slot.t_s, slot.stamp, self.scenario.seed, slot.index))
            }
        })
    }
}

impl Iterator for Drive {
    type Item = Result<SimEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        let slot = *self.schedule.get(self.next)?;
        self.next += 1;
        Some(self.event(slot))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.schedule.len() - self.next;
        (left, Some(left))
    }
}

/// Every message of the drive: nominal times, camera phase and jitter, then faults (blackouts,
/// drops, duplicates, stamp jitter), sorted by stamp.
fn schedule(s: &Scenario, start: Stamp) -> Vec<Slot> {
    let mut rng = stream(s.seed, Purpose::Schedule, 0, 0);
    let mut faults = stream(s.seed, Purpose::Faults, 0, 0);
    let f = &s.faults;
    let mut slots = Vec::new();
    let stamp = |t: f64| start + Duration::from_secs_f64(t);
    let periodic = |rate: f64| (0u64..).map(move |k| (k, k as f64 / rate)).take_while(|&(_, t)| t < s.duration_s);
    for (k, t) in periodic(s.imu.rate_hz) {
        slots.push(Slot { stamp: stamp(t), kind: Kind::Imu, index: k, t_s: t, outage: false });
    }
    for (k, t) in periodic(s.gnss.rate_hz) {
        let outage = in_any(&f.gnss_outages_s, t);
        slots.push(Slot { stamp: stamp(t), kind: Kind::Gnss, index: k, t_s: t, outage });
    }
    for (k, t) in periodic(s.lidar.rate_hz) {
        slots.push(Slot { stamp: stamp(t), kind: Kind::Lidar, index: k, t_s: t, outage: false });
        slots.push(Slot { stamp: stamp(t), kind: Kind::GroundTruth, index: k, t_s: t, outage: false });
    }
    for (k, t) in periodic(s.camera.rate_hz) {
        let j = s.camera.jitter_s * (2.0 * rng.gen::<f64>() - 1.0);
        let t = (t + s.camera.phase_s + j).max(0.0);
        if t >= s.duration_s || in_any(&f.camera_blackouts_s, t) {
            continue;
        }
        slots.push(Slot { stamp: stamp(t), kind: Kind::Camera(0), index: k, t_s: t, outage: false });
    }
    // The side cameras are triggered with the front one (pushed after it, so that a scenario
    // without them draws the same faults for every other slot).
    if s.camera.surround {
        let front: Vec<Slot> = slots.iter().filter(|s| s.kind == Kind::Camera(0)).copied().collect();
        for k in 1..=SIDE_CAMERA_FRAMES.len() as u8 {
            slots.extend(front.iter().map(|s| Slot { kind: Kind::Camera(k), ..*s }));
        }
    }
    let mut out = Vec::with_capacity(slots.len());
    for mut slot in slots {
        if slot.kind == Kind::GroundTruth {
            out.push(slot);
            continue;
        }
        // Draw every number for every slot so one fault's setting does not shift the others.
        let drop = faults.gen::<f64>() < f.drop_prob;
        let dup = faults.gen::<f64>() < f.duplicate_prob;
        let jitter = f.stamp_jitter_s * gauss(&mut faults);
        if drop {
            continue;
        }
        slot.stamp = slot.stamp + Duration::from_secs_f64(jitter);
        out.push(slot);
        if dup {
            out.push(slot);
        }
    }
    out.sort_by(|a, b| a.stamp.cmp(&b.stamp).then(a.kind.cmp(&b.kind)).then(a.index.cmp(&b.index)));
    out
}
