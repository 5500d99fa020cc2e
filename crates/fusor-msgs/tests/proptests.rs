//! Property tests: every message type survives encode → decode; point clouds of any layout
//! convert exactly; arbitrary bytes and headers never panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{build, Spec};
use fusor_core::{PointCloud, Stamp};
use fusor_msgs::builtin_interfaces::{Duration, Time};
use fusor_msgs::convert::{image_from_msg, pointcloud_from_msg, pointcloud_to_msg};
use fusor_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use fusor_msgs::geometry_msgs::*;
use fusor_msgs::nav_msgs::Path;
use fusor_msgs::sensor_msgs::*;
use fusor_msgs::std_msgs::{ColorRGBA, Header};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::vision_msgs::*;
use fusor_msgs::visualization_msgs::{Marker, MarkerArray, MeshFile, UVCoordinate};
use fusor_msgs::{decode, encode, RosMessage};
use proptest::collection::vec;
use proptest::prelude::*;
use std::fmt::Debug;

// ---------------------------------------------------------------- strategies for every message

fn f64s() -> impl Strategy<Value = f64> {
    prop_oneof![-1e9..1e9f64, Just(0.0), Just(-0.0), Just(f64::MAX), Just(f64::MIN_POSITIVE)]
}
fn f32s() -> impl Strategy<Value = f32> {
    prop_oneof![-1e6..1e6f32, Just(0.0), Just(f32::MAX)]
}
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_/é ]{0,12}"
}
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..40)
}
fn arr<const N: usize>() -> impl Strategy<Value = [f64; N]> {
    vec(f64s(), N).prop_map(|v| v.try_into().unwrap())
}

prop_compose! { fn time()(sec in any::<i32>(), nanosec in 0u32..1_000_000_000) -> Time { Time { sec, nanosec } } }
prop_compose! { fn duration()(sec in any::<i32>(), nanosec in 0u32..1_000_000_000) -> Duration { Duration { sec, nanosec } } }
prop_compose! { fn header()(stamp in time(), frame_id in text()) -> Header { Header { stamp, frame_id } } }
prop_compose! { fn color()(r in f32s(), g in f32s(), b in f32s(), a in f32s()) -> ColorRGBA { ColorRGBA { r, g, b, a } } }
prop_compose! { fn point()(x in f64s(), y in f64s(), z in f64s()) -> Point { Point { x, y, z } } }
prop_compose! { fn vector3()(x in f64s(), y in f64s(), z in f64s()) -> Vector3 { Vector3 { x, y, z } } }
prop_compose! { fn quaternion()(x in f64s(), y in f64s(), z in f64s(), w in f64s()) -> Quaternion { Quaternion { x, y, z, w } } }
prop_compose! { fn pose()(position in point(), orientation in quaternion()) -> Pose { Pose { position, orientation } } }
prop_compose! { fn pose_stamped()(header in header(), pose in pose()) -> PoseStamped { PoseStamped { header, pose } } }
prop_compose! { fn pose_cov()(pose in pose(), covariance in arr::<36>()) -> PoseWithCovariance { PoseWithCovariance { pose, covariance } } }
prop_compose! { fn transform()(translation in vector3(), rotation in quaternion()) -> Transform { Transform { translation, rotation } } }
prop_compose! {
    fn transform_stamped()(header in header(), child_frame_id in text(), transform in transform()) -> TransformStamped {
        TransformStamped { header, child_frame_id, transform }
    }
}
prop_compose! { fn twist()(linear in vector3(), angular in vector3()) -> Twist { Twist { linear, angular } } }
prop_compose! { fn twist_stamped()(header in header(), twist in twist()) -> TwistStamped { TwistStamped { header, twist } } }
prop_compose! {
    fn point_field()(name in text(), offset in any::<u32>(), datatype in any::<u8>(), count in any::<u32>()) -> PointField {
        PointField { name, offset, datatype, count }
    }
}
prop_compose! {
    fn pointcloud2()(header in header(), height in any::<u32>(), width in any::<u32>(), fields in vec(point_field(), 0..5),
                     is_bigendian in any::<bool>(), point_step in any::<u32>(), row_step in any::<u32>(),
                     data in bytes(), is_dense in any::<bool>()) -> PointCloud2 {
        PointCloud2 { header, height, width, fields, is_bigendian, point_step, row_step, data, is_dense }
    }
}
prop_compose! {
    fn image()(header in header(), height in any::<u32>(), width in any::<u32>(), encoding in text(),
               is_bigendian in any::<u8>(), step in any::<u32>(), data in bytes()) -> Image {
        Image { header, height, width, encoding, is_bigendian, step, data }
    }
}
prop_compose! {
    fn compressed()(header in header(), format in text(), data in bytes()) -> CompressedImage {
        CompressedImage { header, format, data }
    }
}
prop_compose! {
    fn roi()(x_offset in any::<u32>(), y_offset in any::<u32>(), height in any::<u32>(), width in any::<u32>(),
             do_rectify in any::<bool>()) -> RegionOfInterest {
        RegionOfInterest { x_offset, y_offset, height, width, do_rectify }
    }
}
prop_compose! {
    fn camera_info()(header in header(), height in any::<u32>(), width in any::<u32>(), distortion_model in text(),
                     d in vec(f64s(), 0..8), k in arr::<9>(), r in arr::<9>(), p in arr::<12>(),
                     binning_x in any::<u32>(), binning_y in any::<u32>(), roi in roi()) -> CameraInfo {
        CameraInfo { header, height, width, distortion_model, d, k, r, p, binning_x, binning_y, roi }
    }
}
prop_compose! { fn nav_status()(status in any::<i8>(), service in any::<u16>()) -> NavSatStatus { NavSatStatus { status, service } } }
prop_compose! {
    fn nav_sat_fix()(header in header(), status in nav_status(), latitude in f64s(), longitude in f64s(),
                     altitude in f64s(), position_covariance in arr::<9>(), position_covariance_type in any::<u8>()) -> NavSatFix {
        NavSatFix { header, status, latitude, longitude, altitude, position_covariance, position_covariance_type }
    }
}
prop_compose! {
    fn imu()(header in header(), orientation in quaternion(), orientation_covariance in arr::<9>(),
             angular_velocity in vector3(), angular_velocity_covariance in arr::<9>(),
             linear_acceleration in vector3(), linear_acceleration_covariance in arr::<9>()) -> Imu {
        Imu { header, orientation, orientation_covariance, angular_velocity, angular_velocity_covariance,
              linear_acceleration, linear_acceleration_covariance }
    }
}
prop_compose! { fn tf()(transforms in vec(transform_stamped(), 0..4)) -> TFMessage { TFMessage { transforms } } }
prop_compose! { fn hypothesis()(class_id in text(), score in f64s()) -> ObjectHypothesis { ObjectHypothesis { class_id, score } } }
prop_compose! {
    fn hypothesis_with_pose()(hypothesis in hypothesis(), pose in pose_cov()) -> ObjectHypothesisWithPose {
        ObjectHypothesisWithPose { hypothesis, pose }
    }
}
prop_compose! { fn bbox()(center in pose(), size in vector3()) -> BoundingBox3D { BoundingBox3D { center, size } } }
prop_compose! {
    fn detection3d()(header in header(), results in vec(hypothesis_with_pose(), 0..3), bbox in bbox(), id in text()) -> Detection3D {
        Detection3D { header, results, bbox, id }
    }
}
prop_compose! {
    fn detection3d_array()(header in header(), detections in vec(detection3d(), 0..3)) -> Detection3DArray {
        Detection3DArray { header, detections }
    }
}
prop_compose! { fn path()(header in header(), poses in vec(pose_stamped(), 0..4)) -> Path { Path { header, poses } } }
prop_compose! { fn uv()(u in f64s(), v in f64s()) -> UVCoordinate { UVCoordinate { u, v } } }
prop_compose! { fn mesh_file()(filename in text(), data in bytes()) -> MeshFile { MeshFile { filename, data } } }
prop_compose! {
    fn marker()(header in header(), ns in text(), id in any::<i32>(), r#type in any::<i32>(), action in any::<i32>(),
                pose in pose(), scale in vector3(), color in color(), lifetime in duration(), frame_locked in any::<bool>(),
                points in vec(point(), 0..4), colors in vec(color(), 0..4), texture_resource in text(),
                texture in compressed(), uv_coordinates in vec(uv(), 0..3), text in text(), mesh_resource in text(),
                mesh_file in mesh_file(), mesh_use_embedded_materials in any::<bool>()) -> Marker {
        Marker { header, ns, id, r#type, action, pose, scale, color, lifetime, frame_locked, points, colors,
                 texture_resource, texture, uv_coordinates, text, mesh_resource, mesh_file, mesh_use_embedded_materials }
    }
}
prop_compose! { fn marker_array()(markers in vec(marker(), 0..3)) -> MarkerArray { MarkerArray { markers } } }
prop_compose! { fn key_value()(key in text(), value in text()) -> KeyValue { KeyValue { key, value } } }
prop_compose! {
    fn diagnostic_status()(level in any::<u8>(), name in text(), message in text(), hardware_id in text(),
                           values in vec(key_value(), 0..3)) -> DiagnosticStatus {
        DiagnosticStatus { level, name, message, hardware_id, values }
    }
}
prop_compose! {
    fn diagnostic_array()(header in header(), status in vec(diagnostic_status(), 0..3)) -> DiagnosticArray {
        DiagnosticArray { header, status }
    }
}

/// encode → decode gives the same message, and a big-endian re-encoding decodes the same too.
fn round_trip<M: RosMessage + PartialEq + Debug>(msg: &M) -> Result<(), TestCaseError> {
    let bytes = encode(msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&bytes[..4], &[0, 1, 0, 0]);
    let back: M = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, msg);
    let mut big = vec![0, 0, 0, 0];
    big.extend(cdr_encoding::to_vec::<M, byteorder::BigEndian>(msg).map_err(|e| TestCaseError::fail(e.to_string()))?);
    let back: M = decode(&big).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, msg);
    Ok(())
}

macro_rules! round_trip_tests {
    ($($name:ident: $strategy:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            $(
                #[test]
                fn $name(msg in $strategy) { round_trip(&msg)?; }
            )*
        }
    };
}

round_trip_tests! {
    time_round_trips: time();
    duration_round_trips: duration();
    header_round_trips: header();
    color_rgba_round_trips: color();
    point_round_trips: point();
    vector3_round_trips: vector3();
    quaternion_round_trips: quaternion();
    pose_round_trips: pose();
    pose_stamped_round_trips: pose_stamped();
    pose_with_covariance_round_trips: pose_cov();
    transform_round_trips: transform();
    transform_stamped_round_trips: transform_stamped();
    twist_round_trips: twist();
    twist_stamped_round_trips: twist_stamped();
    point_field_round_trips: point_field();
    pointcloud2_round_trips: pointcloud2();
    image_round_trips: image();
    compressed_image_round_trips: compressed();
    region_of_interest_round_trips: roi();
    camera_info_round_trips: camera_info();
    nav_sat_status_round_trips: nav_status();
    nav_sat_fix_round_trips: nav_sat_fix();
    imu_round_trips: imu();
    tf_message_round_trips: tf();
    object_hypothesis_round_trips: hypothesis();
    object_hypothesis_with_pose_round_trips: hypothesis_with_pose();
    bounding_box3d_round_trips: bbox();
    detection3d_round_trips: detection3d();
    detection3d_array_round_trips: detection3d_array();
    path_round_trips: path();
    uv_coordinate_round_trips: uv();
    mesh_file_round_trips: mesh_file();
    marker_round_trips: marker();
    marker_array_round_trips: marker_array();
    key_value_round_trips: key_value();
    diagnostic_status_round_trips: diagnostic_status();
    diagnostic_array_round_trips: diagnostic_array();
}

// ---------------------------------------------------------------- point cloud conversions

/// A random fusor cloud, with or without ring and time columns.
fn cloud() -> impl Strategy<Value = PointCloud> {
    (0usize..120, any::<bool>(), any::<bool>(), -1_000_000_000_000_000_000i64..2_000_000_000_000_000_000)
        .prop_flat_map(|(n, has_ring, has_time, stamp)| {
            (
                vec((-200.0..200.0f32, -200.0..200.0f32, -30.0..30.0f32, 0.0..255.0f32), n),
                vec(any::<u16>(), n).prop_map(move |v| has_ring.then_some(v)),
                vec(-0.2..0.2f32, n).prop_map(move |v| has_time.then_some(v)),
                Just(stamp),
            )
        })
        .prop_map(|(points, ring, time_offset_s, stamp)| {
            let mut cloud = PointCloud::with_capacity(Stamp(stamp), "lidar", points.len());
            for (x, y, z, i) in points {
                cloud.push(x, y, z, i);
            }
            cloud.ring = ring;
            cloud.time_offset_s = time_offset_s;
            cloud
        })
}

/// A hand-made layout: which type each column is stored as, where, and how it is padded.
#[derive(Debug, Clone)]
struct Layout {
    xyz: u8,
    intensity: Option<u8>,
    ring: Option<u8>,
    /// (field name, datatype); uint32 means nanoseconds.
    time: Option<(&'static str, u8)>,
    order: Vec<usize>,
    gaps: Vec<u32>,
    tail_pad: u32,
    row_pad: u32,
    big: bool,
    height: u32,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        prop_oneof![Just(PointField::FLOAT32), Just(PointField::FLOAT64)],
        proptest::option::of(prop_oneof![
            Just(PointField::UINT8),
            Just(PointField::UINT16),
            Just(PointField::INT32),
            Just(PointField::FLOAT32),
            Just(PointField::FLOAT64)
        ]),
        proptest::option::of(prop_oneof![Just(PointField::UINT16), Just(PointField::UINT8), Just(PointField::FLOAT32)]),
        proptest::option::of(prop_oneof![
            Just(("time", PointField::FLOAT32)),
            Just(("time", PointField::FLOAT64)),
            Just(("t", PointField::UINT32)),
            Just(("timestamp", PointField::FLOAT64))
        ]),
        Just((0..6).collect::<Vec<usize>>()).prop_shuffle(),
        vec(0u32..4, 6),
        0u32..9,
        0u32..17,
        any::<bool>(),
        1u32..4,
    )
        .prop_map(|(xyz, intensity, ring, time, order, gaps, tail_pad, row_pad, big, height)| Layout {
            xyz,
            intensity,
            ring,
            time,
            order,
            gaps,
            tail_pad,
            row_pad,
            big,
            height,
        })
}

fn size_of(datatype: u8) -> u32 {
    PointField::datatype_size(datatype).unwrap() as u32
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn pointcloud_to_msg_and_back_is_exact(cloud in cloud()) {
        let msg = pointcloud_to_msg(&cloud).unwrap();
        let back = pointcloud_from_msg(&msg).unwrap();
        prop_assert_eq!(&back, &cloud);
        // And through CDR.
        let decoded: PointCloud2 = decode(&encode(&msg).unwrap()).unwrap();
        prop_assert_eq!(pointcloud_from_msg(&decoded).unwrap(), cloud);
    }

    #[test]
    fn any_field_layout_endianness_and_padding_reads_the_same_cloud(layout in layout(), n_per_row in 0u32..20, seed in any::<u64>()) {
        let n = (n_per_row * layout.height) as usize;
        // Values every storage type represents exactly.
        let value = |i: usize, k: u64| -> f64 {
            let h = (seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03)) >> 40;
            (h % 200) as f64 - 100.0
        };
        let mut columns: Vec<(&'static str, u8)> = vec![("x", layout.xyz), ("y", layout.xyz), ("z", layout.xyz)];
        columns.extend(layout.intensity.map(|d| ("intensity", d)));
        columns.extend(layout.ring.map(|d| ("ring", d)));
        columns.extend(layout.time);
        let mut specs = Vec::new();
        let mut offset = 0;
        for &k in layout.order.iter().filter(|&&k| k < columns.len()) {
            offset += layout.gaps[k];
            let (name, datatype) = columns[k];
            specs.push(Spec { name, datatype, offset });
            offset += size_of(datatype);
        }
        let point_step = offset + layout.tail_pad;
        let row_step = point_step * n_per_row + layout.row_pad;
        let stamp = Time { sec: 1_600_000_000, nanosec: 0 };
        let x = |i| value(i, 1) * 0.5;
        let intensity = |i| value(i, 4).abs();
        let ring = |i| value(i, 5).abs();
        let time_ns = |i| value(i, 6).abs() * 1_000_000.0;
        let msg = build(&specs, point_step, row_step, n_per_row, layout.height, layout.big, stamp, |i, f| match f {
            "x" => x(i),
            "y" => value(i, 2),
            "z" => value(i, 3) * 0.25,
            "intensity" => intensity(i),
            "ring" => ring(i),
            "t" => time_ns(i),
            "timestamp" => 1_600_000_000.0 + time_ns(i) * 1e-9,
            _ => time_ns(i) * 1e-9,
        });
        let cloud = pointcloud_from_msg(&msg).unwrap();
        prop_assert_eq!(cloud.len(), n);
        for i in 0..n {
            prop_assert_eq!(cloud.x[i], x(i) as f32);
            prop_assert_eq!(cloud.y[i], value(i, 2) as f32);
            prop_assert_eq!(cloud.z[i], (value(i, 3) * 0.25) as f32);
            let expected_intensity = if layout.intensity.is_some() { intensity(i) as f32 } else { 0.0 };
            prop_assert_eq!(cloud.intensity[i], expected_intensity);
        }
        prop_assert_eq!(cloud.ring.is_some(), layout.ring.is_some());
        if let Some(r) = &cloud.ring {
            for (i, r) in r.iter().enumerate() {
                prop_assert_eq!(*r, ring(i) as u16);
            }
        }
        prop_assert_eq!(cloud.time_offset_s.is_some(), layout.time.is_some());
        if let Some(t) = &cloud.time_offset_s {
            for (i, t) in t.iter().enumerate() {
                let expected = time_ns(i) * 1e-9;
                prop_assert!((f64::from(*t) - expected).abs() < 1e-6, "point {}: {} vs {}", i, t, expected);
            }
        }
    }
}

// ---------------------------------------------------------------- robustness

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic_decode(bytes in vec(any::<u8>(), 0..300)) {
        let _ = decode::<PointCloud2>(&bytes).map(|m| pointcloud_from_msg(&m));
        let _ = decode::<Image>(&bytes).map(|m| image_from_msg(&m));
        let _ = decode::<Marker>(&bytes);
        let _ = decode::<Detection3DArray>(&bytes);
        let _ = decode::<TFMessage>(&bytes);
        let _ = decode::<CameraInfo>(&bytes);
    }

    #[test]
    fn random_encoded_clouds_with_flipped_bytes_never_panic(msg in pointcloud2(), flips in vec((any::<usize>(), any::<u8>()), 0..4)) {
        let mut bytes = encode(&msg).unwrap();
        for (at, v) in flips {
            let len = bytes.len();
            bytes[at % len] = v;
        }
        let _ = decode::<PointCloud2>(&bytes).map(|m| pointcloud_from_msg(&m));
    }

    #[test]
    fn random_pointcloud2_headers_never_panic(
        width in prop_oneof![0u32..8, any::<u32>()],
        height in prop_oneof![0u32..4, any::<u32>()],
        point_step in prop_oneof![0u32..40, any::<u32>()],
        row_step in prop_oneof![0u32..200, any::<u32>()],
        fields in vec((prop_oneof![Just("x"), Just("y"), Just("z"), Just("intensity"), Just("ring"), Just("t"), Just("time"), Just("other")],
                       prop_oneof![0u32..40, any::<u32>()], 0u8..10, prop_oneof![0u32..3, any::<u32>()]), 0..8),
        data in vec(any::<u8>(), 0..400),
        big in any::<bool>(),
    ) {
        let msg = PointCloud2 {
            header: Header::default(),
            height,
            width,
            fields: fields.into_iter().map(|(name, offset, datatype, count)| PointField { name: name.into(), offset, datatype, count }).collect(),
            is_bigendian: big,
            point_step,
            row_step,
            data,
            is_dense: false,
        };
        if let Ok(cloud) = pointcloud_from_msg(&msg) {
            prop_assert!(cloud.validate().is_ok());
            prop_assert!(cloud.len() * 4 <= msg.data.len());
        }
    }

    #[test]
    fn random_image_headers_never_panic(
        encoding in prop_oneof![Just("rgb8"), Just("bgr8"), Just("mono8"), Just("rgba8"), Just("bgra8"), Just("16UC1")],
        width in prop_oneof![0u32..8, any::<u32>()],
        height in prop_oneof![0u32..8, any::<u32>()],
        step in prop_oneof![0u32..40, any::<u32>()],
        data in vec(any::<u8>(), 0..300),
    ) {
        let msg = Image { encoding: encoding.into(), width, height, step, data, ..Image::default() };
        if let Ok(image) = image_from_msg(&msg) {
            prop_assert_eq!(image.data.len(), image.stride * image.height as usize);
        }
    }
}
