//! The fast path of `pointcloud_from_msg` (little-endian float32 x/y/z/intensity, uint16 ring,
//! float32 time, rows without padding) gives bit for bit what the generic path gives, on random
//! bytes (NaNs, infinities and absolute times included) and on layouts next to it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use fusor_core::PointCloud;
use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::convert::{pointcloud_from_msg, pointcloud_from_msg_generic};
use fusor_msgs::sensor_msgs::{PointCloud2, PointField};
use fusor_msgs::std_msgs::Header;
use proptest::collection::vec;
use proptest::prelude::*;

/// Columns as raw bits, every NaN as one canonical NaN: the generic path widens to f64 and back,
/// which may quiet a signalling NaN's payload; that difference carries no information.
fn bits(cloud: &PointCloud) -> impl PartialEq + std::fmt::Debug {
    let b = |v: &[f32]| v.iter().map(|f| if f.is_nan() { f32::NAN.to_bits() } else { f.to_bits() }).collect::<Vec<_>>();
    (
        cloud.stamp,
        cloud.frame_id.clone(),
        b(&cloud.x),
        b(&cloud.y),
        b(&cloud.z),
        b(&cloud.intensity),
        cloud.ring.clone(),
        cloud.time_offset_s.as_deref().map(b),
    )
}

fn field(name: &str, offset: u32, datatype: u8) -> PointField {
    PointField { name: name.into(), offset, datatype, count: 1 }
}

prop_compose! {
    /// A Velodyne-like cloud: x/y/z at 0/4/8, then optional intensity, ring and time, random
    /// padding, 1–3 rows; sometimes big-endian, padded rows or a float64 field, which must take
    /// the generic path and still agree.
    fn cloud()(
        intensity in any::<bool>(), ring in any::<bool>(), time in any::<bool>(),
        ring_as_f32 in prop::bool::weighted(0.1), big in prop::bool::weighted(0.1),
        row_padding in prop_oneof![4 => Just(0u32), 1 => 1..9u32],
        tail_padding in 0..9u32, width in 0..64u32, height in 1..4u32,
        stamp_s in prop_oneof![Just(0i32), 1_600_000_000..1_700_000_000i32], nanosec in 0..1_000_000_000u32,
        seed in vec(any::<u8>(), 64 * 3 * 40),
    ) -> PointCloud2 {
        let mut fields = vec![field("x", 0, PointField::FLOAT32), field("y", 4, PointField::FLOAT32), field("z", 8, PointField::FLOAT32)];
        let mut step = 12;
        if intensity { fields.push(field("intensity", step, PointField::FLOAT32)); step += 4; }
        if ring {
            let datatype = if ring_as_f32 { PointField::FLOAT32 } else { PointField::UINT16 };
            fields.push(field("ring", step, datatype));
            step += 4;
        }
        if time { fields.push(field("time", step, PointField::FLOAT32)); step += 4; }
        let point_step = step + tail_padding;
        let row_step = width * point_step + row_padding;
        let len = (row_step * height) as usize;
        let data = seed.iter().copied().cycle().take(len).collect();
        PointCloud2 {
            header: Header { stamp: Time { sec: stamp_s, nanosec }, frame_id: "lidar".into() },
            height, width, fields, is_bigendian: big, point_step, row_step, data, is_dense: false,
        }
    }
}

proptest! {
    #[test]
    fn fast_path_equals_generic_path_on_random_clouds(msg in cloud()) {
        let fast = pointcloud_from_msg(&msg).unwrap();
        let generic = pointcloud_from_msg_generic(&msg).unwrap();
        prop_assert_eq!(bits(&fast), bits(&generic));
        prop_assert_eq!(fast.len(), (msg.width * msg.height) as usize);
    }
}
