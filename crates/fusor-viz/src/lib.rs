//! Rerun logging for fusor.
//!
//! [`RerunSink`] is a runtime sink (`FusedFrame → ()`) that logs each aligned frame on the
//! `sensor_time` timeline (the lidar stamp):
//!
//! | entity | what |
//! |---|---|
//! | `map` | static `RIGHT_HAND_Z_UP` view coordinates (ENU) |
//! | `map/base_link` | `Transform3D` `map_from_base_link` (the ego pose) |
//! | `map/base_link/lidar` | `Points3D` in `base_link`, coloured by height |
//! | `map/base_link/<camera>` | `Transform3D` `base_link_from_camera` (optical frame) |
//! | `map/base_link/<camera>/image` | `Pinhole` (from CameraInfo or the rig) + `Image` |
//! | `map/base_link/ground_truth` | `Boxes3D` with class labels, when the drive has them |
//! | `map/trajectory` | `LineStrips3D`: the ego positions so far, in `map` |
//! | `latency/*` | `Scalars`: synchroniser wait, align processing, end to end (ms) |
//! | `geo/ego`, `geo/trajectory` | `GeoPoints` / `GeoLineStrings`: the GNSS-derived ego pose on a map view (WGS84), when the drive's `map` origin is known |
//!
//! Because the camera's pinhole sits in the same transform tree as the points, the viewer can
//! project the lidar points into the camera view. [`default_blueprint`] opens a 3D view of `map`,
//! the camera, the map view (OpenStreetMap tiles under `geo/`) and the latency plots.

use fusor_align::FusedFrame;
use fusor_core::geodesy::{Geodetic, LocalEnu};
use fusor_core::{Image, PixelFormat};
use fusor_runtime::{Msg, Outbox, Stage};
use nalgebra::{Isometry3, UnitQuaternion};
use rerun::blueprint::{
    Blueprint, BlueprintActivation, Horizontal, MapView, Spatial2DView, Spatial3DView, TimeSeriesView, Vertical,
};
use rerun::RecordingStream;
use std::path::PathBuf;

/// The timeline every frame is logged on: the lidar stamp, ns since the epoch.
pub const TIMELINE: &str = "sensor_time";
/// Root entity of the 3D scene (the `map` frame, ENU).
pub const MAP_ENTITY: &str = "map";
/// The ego entity, child of `map`.
pub const BASE_LINK_ENTITY: &str = "map/base_link";
/// Lidar points in `base_link`.
pub const LIDAR_ENTITY: &str = "map/base_link/lidar";
/// Ground-truth boxes in `base_link`.
pub const GROUND_TRUTH_ENTITY: &str = "map/base_link/ground_truth";
/// Ego trajectory in `map`.
pub const TRAJECTORY_ENTITY: &str = "map/trajectory";
/// Prefix of the latency scalars.
pub const LATENCY_ENTITY: &str = "latency";
/// Root of the WGS84 (map view) entities.
pub const GEO_ENTITY: &str = "geo";
/// The ego position in WGS84.
pub const GEO_EGO_ENTITY: &str = "geo/ego";
/// The ego trajectory in WGS84.
pub const GEO_TRAJECTORY_ENTITY: &str = "geo/trajectory";

/// Errors of the Rerun output.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// Opening or writing the recording stream failed.
    #[error("rerun: {0}")]
    Rerun(#[from] rerun::RecordingStreamError),
    /// Flushing to the sink failed.
    #[error("rerun flush: {0}")]
    Flush(String),
}

/// Where the recording goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RerunTarget {
    /// Spawn a viewer (`rerun` on PATH) and stream to it.
    Spawn,
    /// Stream to a running viewer at this gRPC URL (e.g. `rerun+http://127.0.0.1:9876/proxy`);
    /// a bare `host:port` is completed to that form.
    Connect(String),
    /// Write an `.rrd` file.
    Save(PathBuf),
}

/// Opens a recording stream for `target` and sends [`default_blueprint`] with a view per camera
/// of `cameras` (the pipeline's camera names; the front camera when empty).
pub fn open_recording(
    application_id: &'static str,
    target: &RerunTarget,
    cameras: &[String],
) -> Result<RecordingStream, VizError> {
    let builder = rerun::RecordingStreamBuilder::new(application_id);
    let rec = match target {
        RerunTarget::Spawn => builder.spawn()?,
        RerunTarget::Connect(addr) => builder.connect_grpc_opts(grpc_url(addr))?,
        RerunTarget::Save(path) => builder.save(path)?,
    };
    default_blueprint(cameras).send(&rec, BlueprintActivation::default())?;
    rec.log_static(MAP_ENTITY, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP())?;
    Ok(rec)
}

/// `host:port` → `rerun+http://host:port/proxy`; a full URL is kept.
pub fn grpc_url(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("rerun+http://{addr}/proxy")
    }
}

/// The camera views of [`default_blueprint`]: `(view name, origin entity)` per camera of
/// `cameras`, in order; the front camera alone when `cameras` is empty.
pub fn camera_views(cameras: &[String]) -> Vec<(String, String)> {
    let front = ["camera_front".to_owned()];
    let cameras = if cameras.is_empty() { &front[..] } else { cameras };
    cameras.iter().map(|name| (name.clone(), format!("{BASE_LINK_ENTITY}/{name}/image"))).collect()
}

/// The first layout: the 3D scene on the left; on the right the cameras side by side in
/// `cameras`' order (each with the lidar points projected into it; the front camera when
/// `cameras` is empty), under them the map view (ego on OpenStreetMap) and the latency plots.
pub fn default_blueprint(cameras: &[String]) -> Blueprint {
    let scene = Spatial3DView::new("3D (map)").with_origin(MAP_ENTITY);
    let mut views: Vec<rerun::blueprint::ContainerLike> = camera_views(cameras)
        .into_iter()
        .map(|(name, origin)| {
            Spatial2DView::new(&name)
                .with_origin(origin.as_str())
                .with_contents(["$origin/**".to_owned(), format!("/{LIDAR_ENTITY}")])
                .into()
        })
        .collect();
    let cameras = if views.len() == 1 { views.remove(0) } else { Horizontal::new(views).into() };
    let geo = MapView::new("map view (WGS84)").with_origin(GEO_ENTITY);
    let latency = TimeSeriesView::new("latency (ms)").with_origin(LATENCY_ENTITY);
    let right = Vertical::new([cameras, Horizontal::new([geo.into(), latency.into()]).into()]);
    Blueprint::new(Horizontal::new([scene.into(), right.into()]))
}

/// Latitude/longitude (degrees) of points in `map` (ENU at `origin`); points that do not convert
/// are skipped.
pub fn lat_lon_of(origin: Geodetic, points_in_map: impl IntoIterator<Item = [f64; 3]>) -> Vec<[f64; 2]> {
    let Ok(enu) = LocalEnu::new(origin.lat_deg, origin.lon_deg, origin.alt_m) else {
        return Vec::new();
    };
    points_in_map
        .into_iter()
        .filter_map(|[x, y, z]| enu.geodetic_from_enu(&nalgebra::Point3::new(x, y, z)).ok())
        .map(|g| [g.lat_deg, g.lon_deg])
        .collect()
}

fn translation(t: &Isometry3<f64>) -> [f32; 3] {
    let v = t.translation.vector;
    [v.x as f32, v.y as f32, v.z as f32]
}

fn quaternion(q: &UnitQuaternion<f64>) -> rerun::Quaternion {
    rerun::Quaternion::from_xyzw([q.i as f32, q.j as f32, q.k as f32, q.w as f32])
}

fn transform(t: &Isometry3<f64>) -> rerun::Transform3D {
    rerun::Transform3D::from_translation_rotation(translation(t), quaternion(&t.rotation))
}

/// Turbo-like ramp from blue (low) to red (high), `x` in [0, 1].
fn ramp(x: f32) -> rerun::Color {
    let x = x.clamp(0.0, 1.0);
    let r = (1.5 - (4.0 * x - 3.0).abs()).clamp(0.0, 1.0);
    let g = (1.5 - (4.0 * x - 2.0).abs()).clamp(0.0, 1.0);
    let b = (1.5 - (4.0 * x - 1.0).abs()).clamp(0.0, 1.0);
    rerun::Color::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
}

/// Height range mapped onto the colour ramp, metres in `base_link`.
const HEIGHT_RANGE_M: (f32, f32) = (-0.5, 3.0);

fn image_rgb(image: &Image) -> Vec<u8> {
    let packed = image.width as usize * 3;
    if image.format == PixelFormat::Rgb8 && image.stride == packed {
        image.data.clone()
    } else {
        image.to_rgb8_packed()
    }
}

/// Counters of a [`FrameLogger`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VizStats {
    /// Frames logged.
    pub frames: u64,
    /// Points logged.
    pub points: u64,
    /// Camera images logged.
    pub images: u64,
    /// Ground-truth boxes logged.
    pub boxes: u64,
    /// Ego positions logged in WGS84.
    pub geo_points: u64,
}

/// Logs fused frames to a recording stream; keeps the trajectory.
#[derive(Debug)]
pub struct FrameLogger {
    rec: RecordingStream,
    trajectory: Vec<[f32; 3]>,
    /// The ego trajectory in WGS84, and the origin it was converted with.
    geo_trajectory: Vec<[f64; 2]>,
    geo_origin: Option<Geodetic>,
    stats: VizStats,
}

impl FrameLogger {
    /// A logger on `rec` (see [`open_recording`]).
    pub fn new(rec: RecordingStream) -> Self {
        Self { rec, trajectory: Vec::new(), geo_trajectory: Vec::new(), geo_origin: None, stats: VizStats::default() }
    }

    /// The counters.
    pub fn stats(&self) -> VizStats {
        self.stats
    }

    /// Logs one frame; `end_to_end_ms` is the graph clock at the sink minus the lidar stamp.
    pub fn log_frame(&mut self, frame: &FusedFrame, end_to_end_ms: f64) -> Result<(), VizError> {
        let rec = &self.rec;
        rec.set_timestamp_nanos_since_epoch(TIMELINE, frame.stamp.nanos());
        if let Some(map_from_base_link) = &frame.map_from_base_link {
            rec.log(BASE_LINK_ENTITY, &transform(map_from_base_link))?;
            self.trajectory.push(translation(map_from_base_link));
            rec.log(TRAJECTORY_ENTITY, &rerun::LineStrips3D::new([self.trajectory.iter().copied()]))?;
            if let Some(origin) = frame.map_origin {
                if self.geo_origin != Some(origin) {
                    // A new origin (replay restart): the old trajectory is in another frame.
                    self.geo_trajectory.clear();
                    self.geo_origin = Some(origin);
                }
                let v = map_from_base_link.translation.vector;
                if let Some(lat_lon) = lat_lon_of(origin, [[v.x, v.y, v.z]]).first() {
                    self.geo_trajectory.push(*lat_lon);
                    rec.log(
                        GEO_EGO_ENTITY,
                        &rerun::GeoPoints::from_lat_lon([*lat_lon])
                            .with_radii([rerun::Radius::new_ui_points(8.0)])
                            .with_colors([rerun::Color::from_rgb(255, 200, 0)]),
                    )?;
                    rec.log(
                        GEO_TRAJECTORY_ENTITY,
                        &rerun::GeoLineStrings::from_lat_lon([self.geo_trajectory.clone()])
                            .with_radii([rerun::Radius::new_ui_points(2.0)])
                            .with_colors([rerun::Color::from_rgb(255, 200, 0)]),
                    )?;
                    self.stats.geo_points += 1;
                }
            }
        }

        let cloud = &*frame.cloud_in_base_link;
        let n = cloud.len().min(cloud.y.len()).min(cloud.z.len());
        let positions = (0..n).map(|i| [cloud.x[i], cloud.y[i], cloud.z[i]]);
        let (lo, hi) = HEIGHT_RANGE_M;
        let colors = cloud.z.iter().take(n).map(|z| ramp((z - lo) / (hi - lo)));
        rec.log(LIDAR_ENTITY, &rerun::Points3D::new(positions).with_colors(colors).with_radii([0.03]))?;
        self.stats.points += n as u64;

        for camera in &frame.cameras {
            let entity = format!("{BASE_LINK_ENTITY}/{}", camera.name);
            if let Some(base_link_from_camera) = &camera.base_link_from_camera {
                rec.log(entity.as_str(), &transform(base_link_from_camera))?;
            }
            let image_entity = format!("{entity}/image");
            if let Some(model) = &camera.model {
                let pinhole = rerun::Pinhole::from_focal_length_and_resolution(
                    [model.fx() as f32, model.fy() as f32],
                    [model.width as f32, model.height as f32],
                )
                .with_principal_point([model.cx() as f32, model.cy() as f32]);
                rec.log(image_entity.as_str(), &pinhole)?;
            }
            let image = &camera.image;
            rec.log(image_entity.as_str(), &rerun::Image::from_rgb24(image_rgb(image), [image.width, image.height]))?;
            self.stats.images += 1;
        }

        if let Some(gt) = &frame.ground_truth {
            let objects = &gt.objects;
            let boxes = rerun::Boxes3D::from_centers_and_sizes(
                objects.iter().map(|o| [o.bbox.center.x as f32, o.bbox.center.y as f32, o.bbox.center.z as f32]),
                objects.iter().map(|o| [o.bbox.size.x as f32, o.bbox.size.y as f32, o.bbox.size.z as f32]),
            )
            .with_quaternions(
                objects.iter().map(|o| quaternion(&UnitQuaternion::from_euler_angles(0.0, 0.0, o.bbox.yaw_rad))),
            )
            .with_labels(objects.iter().map(|o| o.class.to_string()));
            rec.log(GROUND_TRUTH_ENTITY, &boxes)?;
            self.stats.boxes += objects.len() as u64;
        }

        let latency = [
            ("until_align_ms", frame.latency.until_align_ms),
            ("align_ms", frame.latency.align_ms),
            ("end_to_end_ms", end_to_end_ms),
        ];
        for (name, value) in latency {
            rec.log(format!("{LATENCY_ENTITY}/{name}"), &rerun::Scalars::single(value))?;
        }
        self.stats.frames += 1;
        Ok(())
    }

    /// Blocks until everything logged so far reached the sink (file, viewer).
    pub fn flush(&self) -> Result<(), VizError> {
        self.rec.flush_blocking().map_err(|e| VizError::Flush(e.to_string()))
    }
}

/// [`FrameLogger`] as a runtime sink. Logging errors are counted and logged once each, never
/// fatal: the viewer is a side output of the pipeline.
#[derive(Debug)]
pub struct RerunSink {
    logger: FrameLogger,
    errors: u64,
}

impl RerunSink {
    /// A sink logging to `rec` (cloned from the one [`open_recording`] returned).
    pub fn new(rec: RecordingStream) -> Self {
        Self { logger: FrameLogger::new(rec), errors: 0 }
    }
}

impl Stage for RerunSink {
    type In = FusedFrame;
    type Out = ();

    fn on_msg(&mut self, msg: Msg<FusedFrame>, out: &mut Outbox<'_, ()>) {
        let end_to_end_ms = (out.now() - msg.stamp).secs_f64() * 1e3;
        if let Err(e) = self.logger.log_frame(&msg.payload, end_to_end_ms) {
            self.errors += 1;
            tracing::warn!(frame = msg.seq, "rerun: {e}");
        }
    }

    fn on_eos(&mut self, _out: &mut Outbox<'_, ()>) {
        if let Err(e) = self.logger.flush() {
            tracing::warn!("{e}");
        }
        let s = self.logger.stats();
        tracing::info!(
            frames = s.frames,
            points = s.points,
            images = s.images,
            boxes = s.boxes,
            errors = self.errors,
            "rerun sink finished"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_align::{AlignedCamera, DeskewStatus, GroundTruth, GroundTruthObject, StageLatency};
    use fusor_core::calib::{CameraModel, Distortion};
    use fusor_core::{Box3, FrameId, ObjectClass, PointCloud, Stamp};
    use nalgebra::{Matrix3, Point3, Vector3};
    use std::sync::Arc;

    fn frame() -> FusedFrame {
        let mut cloud = PointCloud::with_capacity(Stamp(1), "base_link", 3);
        for i in 0..3 {
            cloud.push(i as f32, 0.0, 1.0, 0.5);
        }
        let image = Image::new(Stamp(1), "camera_front", 4, 2, PixelFormat::Rgb8, 12, vec![128; 24]).unwrap();
        let model = CameraModel {
            width: 4,
            height: 2,
            k: Matrix3::new(2.0, 0.0, 2.0, 0.0, 2.0, 1.0, 0.0, 0.0, 1.0),
            distortion: Distortion::None,
        };
        FusedFrame {
            stamp: Stamp(1_700_000_000_000_000_000),
            seq: 0,
            cloud_in_base_link: Arc::new(cloud),
            map_from_base_link: Some(Isometry3::translation(1.0, 2.0, 0.0)),
            map_origin: None,
            cameras: vec![AlignedCamera {
                name: "camera_front".into(),
                stamp: Stamp(1),
                image: Arc::new(image),
                model: Some(Arc::new(model)),
                base_link_from_camera: Some(Isometry3::identity()),
            }],
            ground_truth: Some(Arc::new(GroundTruth {
                stamp: Stamp(1),
                map_from_base_link: None,
                objects: vec![GroundTruthObject {
                    id: "7".into(),
                    class: ObjectClass::Car,
                    bbox: Box3 {
                        frame_id: FrameId::new("base_link"),
                        center: Point3::new(5.0, 0.0, 0.8),
                        size: Vector3::new(4.5, 1.8, 1.6),
                        yaw_rad: 0.3,
                    },
                }],
            })),
            deskew: DeskewStatus::NoTimeOffsets,
            ego_twist: None,
            degraded: Vec::new(),
            latency: StageLatency::default(),
        }
    }

    #[test]
    fn logs_points_camera_boxes_trajectory_and_latency_of_a_frame() {
        let (rec, storage) = rerun::RecordingStreamBuilder::new("fusor-test").memory().unwrap();
        let mut logger = FrameLogger::new(rec);
        logger.log_frame(&frame(), 12.0).unwrap();
        logger.log_frame(&frame(), 13.0).unwrap();
        logger.flush().unwrap();
        let stats = logger.stats();
        assert_eq!(stats, VizStats { frames: 2, points: 6, images: 2, boxes: 2, geo_points: 0 });
        assert!(!storage.take().is_empty());
    }

    #[test]
    fn a_frame_with_a_map_origin_puts_the_ego_on_the_map_view() {
        let (rec, _storage) = rerun::RecordingStreamBuilder::new("fusor-test").memory().unwrap();
        let mut logger = FrameLogger::new(rec);
        let origin = Geodetic { lat_deg: 49.011, lon_deg: 8.4165, alt_m: 115.0 };
        let mut f = frame();
        f.map_origin = Some(origin);
        logger.log_frame(&f, 1.0).unwrap();
        logger.log_frame(&f, 1.0).unwrap();
        assert_eq!(logger.stats().geo_points, 2);
        // The ego is 1 m east and 2 m north of the origin.
        let [lat, lon] = lat_lon_of(origin, [[1.0, 2.0, 0.0]])[0];
        let metres_per_deg_lat = 111_200.0;
        let metres_per_deg_lon = metres_per_deg_lat * origin.lat_deg.to_radians().cos();
        assert!(((lat - origin.lat_deg) * metres_per_deg_lat - 2.0).abs() < 0.02, "{lat}");
        assert!(((lon - origin.lon_deg) * metres_per_deg_lon - 1.0).abs() < 0.02, "{lon}");
        assert_eq!(logger.geo_trajectory.len(), 2);
    }

    #[test]
    fn the_blueprint_has_a_view_per_camera_rooted_at_its_image() {
        let front = camera_views(&[]);
        assert_eq!(front, [("camera_front".to_owned(), "map/base_link/camera_front/image".to_owned())]);
        let rig: Vec<String> = ["camera_front_left", "camera_front", "camera_front_right"].map(String::from).into();
        let views = camera_views(&rig);
        assert_eq!(views.len(), 3);
        for ((name, origin), camera) in views.iter().zip(&rig) {
            assert_eq!(name, camera);
            // Where `log_frame` puts the camera's pinhole and image.
            assert_eq!(origin, &format!("{BASE_LINK_ENTITY}/{camera}/image"));
        }
        // Both layouts are valid blueprints a recording accepts.
        for cameras in [&[][..], &rig[..]] {
            let (rec, storage) = rerun::RecordingStreamBuilder::new("fusor-test").memory().unwrap();
            default_blueprint(cameras).send(&rec, BlueprintActivation::default()).unwrap();
            rec.flush_blocking().unwrap();
            let _ = storage.take();
        }
    }

    #[test]
    fn height_ramp_goes_from_blue_to_red_and_clamps() {
        assert_eq!(ramp(-1.0), ramp(0.0));
        assert_eq!(ramp(0.0).to_array()[2], 127, "low heights are blue");
        assert_eq!(ramp(1.0).to_array()[0], 127, "high heights are red");
        assert_eq!(grpc_url("10.0.0.2:9876"), "rerun+http://10.0.0.2:9876/proxy");
    }
}
