//! `PointCloud2` → `PointCloud`: real driver layouts, and typed errors on every malformed header.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{build, Spec};
use fusor_core::{PointCloud, Stamp};
use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::convert::{pointcloud_from_msg, pointcloud_to_msg};
use fusor_msgs::sensor_msgs::{PointCloud2, PointField};
use fusor_msgs::MsgError;

const F32: u8 = PointField::FLOAT32;
const F64: u8 = PointField::FLOAT64;
const U16: u8 = PointField::UINT16;
const U32: u8 = PointField::UINT32;
const T0: Time = Time { sec: 1_700_000_000, nanosec: 500_000_000 };

fn spec(name: &'static str, datatype: u8, offset: u32) -> Spec {
    Spec { name, datatype, offset }
}

fn kitti_layout() -> Vec<Spec> {
    vec![spec("x", F32, 0), spec("y", F32, 4), spec("z", F32, 8), spec("intensity", F32, 12)]
}

fn kitti(n: u32) -> PointCloud2 {
    build(&kitti_layout(), 16, 16 * n, n, 1, false, T0, |i, f| match f {
        "x" => i as f64,
        "y" => -(i as f64),
        "z" => 0.5,
        _ => 0.25,
    })
}

#[test]
fn reads_the_kitti_layout_xyz_intensity_float32() {
    let cloud = pointcloud_from_msg(&kitti(3)).unwrap();
    assert_eq!(cloud.stamp, Stamp(1_700_000_000_500_000_000));
    assert_eq!(cloud.frame_id.as_str(), "lidar");
    assert_eq!(cloud.x, [0.0, 1.0, 2.0]);
    assert_eq!(cloud.y, [0.0, -1.0, -2.0]);
    assert_eq!(cloud.intensity, [0.25; 3]);
    assert_eq!((cloud.ring.as_ref(), cloud.time_offset_s.as_ref()), (None, None));
}

#[test]
fn reads_velodyne_layout_with_uint16_ring_and_float32_time_in_seconds() {
    // velodyne_pointcloud: x y z intensity (f32), ring u16 @16, time f32 @18, point_step 22.
    let specs = [kitti_layout(), vec![spec("ring", U16, 16), spec("time", F32, 18)]].concat();
    let msg = build(&specs, 22, 44, 2, 1, false, T0, |i, f| match f {
        "ring" => 31.0 - i as f64,
        "time" => -0.05 + 0.025 * i as f64,
        _ => 1.0,
    });
    let cloud = pointcloud_from_msg(&msg).unwrap();
    assert_eq!(cloud.ring, Some(vec![31, 30]));
    assert_eq!(cloud.time_offset_s, Some(vec![-0.05, -0.025]));
}

#[test]
fn reads_ouster_layout_with_uint32_nanosecond_t_and_padding() {
    // ouster-ros: x y z @0/4/8, pad, intensity f32 @16, t u32 @20 (ns), reflectivity u16 @24,
    // ring u16 @26, ambient u16 @28, range u32 @32, point_step 48.
    let specs = [
        spec("x", F32, 0),
        spec("y", F32, 4),
        spec("z", F32, 8),
        spec("intensity", F32, 16),
        spec("t", U32, 20),
        spec("reflectivity", U16, 24),
        spec("ring", U16, 26),
        spec("ambient", U16, 28),
        spec("range", U32, 32),
    ];
    // Organised: 2 rings × 3 columns.
    let msg = build(&specs, 48, 48 * 3, 3, 2, false, T0, |i, f| match f {
        "t" => (i as f64) * 25_000_000.0,
        "ring" => (i / 3) as f64,
        "intensity" => 100.0 + i as f64,
        _ => 7.0,
    });
    let cloud = pointcloud_from_msg(&msg).unwrap();
    assert_eq!(cloud.len(), 6);
    assert_eq!(cloud.ring, Some(vec![0, 0, 0, 1, 1, 1]));
    assert_eq!(cloud.intensity[5], 105.0);
    assert_eq!(cloud.time_offset_s.unwrap()[2], 0.05);
}

#[test]
fn reads_big_endian_float64_rows_with_row_padding() {
    let specs = [spec("z", F64, 16), spec("x", F64, 0), spec("y", F64, 8)];
    // 2 rows of 2 points, point_step 28 (4 bytes of padding), row_step 60 (4 bytes of padding).
    let msg = build(&specs, 28, 60, 2, 2, true, T0, |i, f| match f {
        "x" => 0.5 * i as f64,
        "y" => 100.0 + i as f64,
        _ => -1.5,
    });
    let cloud = pointcloud_from_msg(&msg).unwrap();
    assert_eq!(cloud.x, [0.0, 0.5, 1.0, 1.5]);
    assert_eq!(cloud.y, [100.0, 101.0, 102.0, 103.0]);
    assert_eq!(cloud.z, [-1.5; 4]);
    assert_eq!(cloud.intensity, [0.0; 4], "no intensity field reads as 0");
}

#[test]
fn absolute_float64_timestamps_become_offsets_from_the_header_stamp() {
    // Hesai-style `timestamp: float64`, absolute Unix seconds.
    let specs = [kitti_layout(), vec![spec("timestamp", F64, 16)]].concat();
    let msg = build(&specs, 24, 48, 2, 1, false, T0, |i, f| match f {
        "timestamp" => 1_700_000_000.5 + 0.01 * i as f64,
        _ => 0.0,
    });
    let t = pointcloud_from_msg(&msg).unwrap().time_offset_s.unwrap();
    assert!(t[0].abs() < 1e-6 && (t[1] - 0.01).abs() < 1e-6, "{t:?}");
}

#[test]
fn rings_that_are_not_u16_integers_become_u16_max() {
    let specs = [kitti_layout(), vec![spec("ring", F32, 16)]].concat();
    let msg = build(&specs, 20, 60, 3, 1, false, T0, |i, f| match (f, i) {
        ("ring", 0) => 5.0,
        ("ring", 1) => -1.0,
        ("ring", _) => 2.5,
        _ => 0.0,
    });
    assert_eq!(pointcloud_from_msg(&msg).unwrap().ring, Some(vec![5, u16::MAX, u16::MAX]));
}

#[test]
fn an_empty_cloud_is_fine() {
    let cloud = pointcloud_from_msg(&kitti(0)).unwrap();
    assert!(cloud.is_empty());
}

#[test]
fn missing_z_is_a_missing_field_error() {
    let mut msg = kitti(2);
    msg.fields.retain(|f| f.name != "z");
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::MissingField("z"))));
}

#[test]
fn integer_coordinates_are_rejected() {
    let mut msg = kitti(2);
    msg.fields[0].datatype = PointField::INT32;
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::UnsupportedDatatype { datatype: 5, .. })));
}

#[test]
fn an_unknown_datatype_is_an_error_even_on_an_unused_field() {
    let mut msg = kitti(2);
    msg.fields.push(PointField { name: "label".into(), offset: 0, datatype: 9, count: 1 });
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::UnknownDatatype { datatype: 9, .. })));
}

#[test]
fn a_field_past_point_step_is_a_layout_error() {
    let mut msg = kitti(2);
    msg.fields[3].offset = 13; // intensity would end at byte 17 of a 16-byte record
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::PointCloudLayout(_))));
    let mut msg = kitti(2);
    msg.fields[3].count = 2;
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::PointCloudLayout(_))));
    let mut msg = kitti(2);
    msg.fields[3].offset = u32::MAX;
    msg.fields[3].count = u32::MAX;
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::PointCloudLayout(_))));
}

#[test]
fn data_shorter_than_point_step_times_width_times_height_is_a_layout_error() {
    let mut msg = kitti(4);
    msg.data.truncate(63);
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::PointCloudLayout(_))));
    let mut msg = kitti(4);
    msg.height = 2;
    msg.width = 2;
    msg.row_step = 40; // rows of 32 bytes + 8 padding: needs 40 + 32 = 72 > 64
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::PointCloudLayout(_))));
}

#[test]
fn row_step_smaller_than_a_row_is_a_layout_error() {
    let mut msg = kitti(4);
    msg.row_step = 63;
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::PointCloudLayout(_))));
}

#[test]
fn absurd_sizes_fail_fast_without_allocating() {
    let mut msg = kitti(1);
    msg.width = u32::MAX;
    msg.height = u32::MAX;
    msg.row_step = u32::MAX;
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::PointCloudLayout(_))));
    msg.point_step = u32::MAX;
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::PointCloudLayout(_))));
}

#[test]
fn an_invalid_header_stamp_is_a_time_error() {
    let mut msg = kitti(1);
    msg.header.stamp.nanosec = 1_000_000_000;
    assert!(matches!(pointcloud_from_msg(&msg), Err(MsgError::Time(_))));
}

#[test]
fn writes_xyz_intensity_ring_and_time_at_aligned_offsets() {
    let mut cloud = PointCloud::with_capacity(Stamp(1_000_000_001), "lidar", 2);
    cloud.push(1.0, 2.0, 3.0, 0.5);
    cloud.push(f32::NAN, 0.0, 0.0, 0.0);
    cloud.ring = Some(vec![3, 4]);
    cloud.time_offset_s = Some(vec![0.0, 0.1]);
    let msg = pointcloud_to_msg(&cloud).unwrap();
    let layout: Vec<_> = msg.fields.iter().map(|f| (f.name.as_str(), f.offset, f.datatype)).collect();
    assert_eq!(
        layout,
        [("x", 0, F32), ("y", 4, F32), ("z", 8, F32), ("intensity", 12, F32), ("ring", 16, U16), ("time", 20, F32)]
    );
    assert_eq!((msg.point_step, msg.row_step, msg.width, msg.height), (24, 48, 2, 1));
    assert!(!msg.is_dense, "a NaN point makes the cloud not dense");
    let back = pointcloud_from_msg(&msg).unwrap();
    assert_eq!(back.ring, cloud.ring);
    assert_eq!(back.time_offset_s, cloud.time_offset_s);
    assert!(back.x[1].is_nan());
}

#[test]
fn ragged_columns_are_rejected_when_writing() {
    let mut cloud = PointCloud::with_capacity(Stamp(0), "lidar", 1);
    cloud.push(1.0, 2.0, 3.0, 0.5);
    cloud.ring = Some(vec![]);
    assert!(matches!(pointcloud_to_msg(&cloud), Err(MsgError::Core(_))));
}
