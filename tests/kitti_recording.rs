#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end across core, msgs and record: a KITTI raw drive imported to MCAP, read back and
//! decoded, lines up with the calibration exactly as the raw files do.

use fusor_core::calib::Rig;
use fusor_core::geodesy::LocalEnu;
use fusor_msgs::convert::{fix_from_navsatfix, image_from_compressed, pointcloud_from_msg, transform_from_stamped};
use fusor_msgs::sensor_msgs::{CompressedImage, NavSatFix, PointCloud2};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_record::import::kitti_raw::{import, ImageMode, ImportOptions};
use fusor_record::import::{TOPIC_CAMERA_COMPRESSED, TOPIC_GNSS_FIX, TOPIC_LIDAR, TOPIC_TF_STATIC};
use fusor_record::McapReader;
use fusor_tests::{project_root, shared_data};
use nalgebra::Point3;

fn drive() -> std::path::PathBuf {
    shared_data().join("kitti_raw/2011_09_26/2011_09_26_drive_0002_sync")
}

fn import_to(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    let options = ImportOptions { image_mode: ImageMode::CompressedPng, ..ImportOptions::default() };
    import(drive(), drive().parent().unwrap(), &out, &options).unwrap();
    out
}

#[test]
fn imported_scans_project_into_the_recorded_image_through_the_recorded_tf() {
    let dir = tempfile::tempdir().unwrap();
    let mcap = import_to(dir.path(), "drive.mcap");
    let rig = Rig::load(project_root().join("calibration/kitti-2011-09-26.toml")).unwrap();
    let camera = rig.camera("camera_front").unwrap().clone();

    let reader = McapReader::open(&mcap).unwrap();
    let mut base_link_from = std::collections::BTreeMap::new();
    let mut scans = Vec::new();
    let mut images = Vec::new();
    for message in reader.messages().unwrap() {
        let message = message.unwrap();
        match message.topic.as_str() {
            TOPIC_TF_STATIC => {
                for tf in message.decode::<TFMessage>().unwrap().transforms {
                    let (transform, _) = transform_from_stamped(&tf).unwrap();
                    assert_eq!(transform.target.as_str(), "base_link");
                    base_link_from.insert(transform.source.0.clone(), transform.target_from_source);
                }
            }
            TOPIC_LIDAR => scans.push(pointcloud_from_msg(&message.decode::<PointCloud2>().unwrap()).unwrap()),
            TOPIC_CAMERA_COMPRESSED => {
                images.push(image_from_compressed(&message.decode::<CompressedImage>().unwrap()).unwrap())
            }
            _ => {}
        }
    }
    assert_eq!((scans.len(), images.len()), (5, 5));

    // The recorded /tf_static is the rig: camera_from_lidar through base_link matches it exactly.
    let camera_from_lidar = base_link_from["camera_front"].inverse() * base_link_from["lidar"];
    let rig_camera_from_lidar = rig.transform("camera_front", "lidar").unwrap().target_from_source;
    assert!((camera_from_lidar.to_homogeneous() - rig_camera_from_lidar.to_homogeneous()).abs().max() < 1e-9);

    for (scan, image) in scans.iter().zip(&images) {
        // Camera triggered when the scanner faces forward: stamps within 11 ms (README: ≤ 10.6 ms).
        assert!((image.stamp - scan.stamp).abs().nanos() < 11_000_000);
        let in_image = (0..scan.len())
            .filter_map(|i| {
                let p = scan.point(i)?;
                let p = camera_from_lidar * Point3::new(f64::from(p.x), f64::from(p.y), f64::from(p.z));
                camera.project(&p).filter(|px| camera.contains(px))
            })
            .count();
        // The shared data README verified ~19.1–19.3 k points of each scan inside the image.
        assert!((19_000..19_500).contains(&in_image), "{in_image} points in the image");
        assert_eq!((image.width, image.height), (camera.width, camera.height));
    }
}

#[test]
fn imported_gnss_track_moves_about_a_metre_per_frame_in_enu() {
    let dir = tempfile::tempdir().unwrap();
    let mcap = import_to(dir.path(), "drive.mcap");
    let fixes: Vec<_> = McapReader::open(&mcap)
        .unwrap()
        .messages()
        .unwrap()
        .map(|m| m.unwrap())
        .filter(|m| m.topic == TOPIC_GNSS_FIX)
        .map(|m| fix_from_navsatfix(&m.decode::<NavSatFix>().unwrap()).unwrap())
        .collect();
    assert_eq!(fixes.len(), 10);
    let enu = LocalEnu::new(fixes[0].latitude_deg, fixes[0].longitude_deg, fixes[0].altitude_m).unwrap();
    let positions: Vec<_> = fixes
        .iter()
        .map(|f| {
            let geo = fusor_core::geodesy::Geodetic::new(f.latitude_deg, f.longitude_deg, f.altitude_m).unwrap();
            enu.enu_from_geodetic(geo).unwrap()
        })
        .collect();
    // README: about 0.9 m travelled per frame at ~10 Hz.
    for pair in positions.windows(2) {
        let step = (pair[1] - pair[0]).xy().norm();
        assert!((0.7..1.1).contains(&step), "step {step} m");
    }
}

#[test]
fn importing_twice_writes_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = std::fs::read(import_to(dir.path(), "a.mcap")).unwrap();
    let b = std::fs::read(import_to(dir.path(), "b.mcap")).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(a == b, "two imports of the same drive differ");
}
