//! Arbitrary bytes as CDR: decode as PointCloud2 and convert; decode a few other types and convert
//! those that have conversions. Any panic, overflow or huge allocation is a bug.
#![no_main]

use fusor_msgs::convert;
use fusor_msgs::sensor_msgs::{CompressedImage, Image, Imu, NavSatFix, PointCloud2};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::vision_msgs::Detection3DArray;
use fusor_msgs::visualization_msgs::MarkerArray;
use fusor_msgs::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode::<PointCloud2>(data) {
        if let Ok(cloud) = convert::pointcloud_from_msg(&msg) {
            assert!(cloud.validate().is_ok());
            // What was read must be writable, and read back to the same length.
            if let Ok(out) = convert::pointcloud_to_msg(&cloud) {
                let again = convert::pointcloud_from_msg(&out).map(|c| c.len());
                assert_eq!(again.ok(), Some(cloud.len()));
            }
        }
        // Decoded messages re-encode and decode to themselves (NaN-safe: compare bytes).
        if let Ok(bytes) = encode(&msg) {
            let again = decode::<PointCloud2>(&bytes).ok().and_then(|m| encode(&m).ok());
            assert_eq!(again.as_deref(), Some(bytes.as_slice()));
        }
    }
    if let Ok(msg) = decode::<Image>(data) {
        let _ = convert::image_from_msg(&msg);
    }
    if let Ok(msg) = decode::<CompressedImage>(data) {
        let _ = convert::image_from_compressed(&msg);
    }
    if let Ok(msg) = decode::<NavSatFix>(data) {
        let _ = convert::fix_from_navsatfix(&msg);
    }
    if let Ok(msg) = decode::<Imu>(data) {
        let _ = convert::imu_from_msg(&msg);
    }
    if let Ok(msg) = decode::<TFMessage>(data) {
        for t in &msg.transforms {
            let _ = convert::transform_from_stamped(t);
        }
    }
    if let Ok(msg) = decode::<Detection3DArray>(data) {
        for d in &msg.detections {
            let _ = convert::detection_from_detection3d(d);
        }
    }
    let _ = decode::<MarkerArray>(data);
});
