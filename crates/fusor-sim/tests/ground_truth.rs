//! Ground truth per lidar scan: range-limited objects with lidar and camera counts, written to
//! `/ground_truth/objects` and read back by `ground_truth_from_msg`.

use fusor_msgs::vision_msgs::Detection3DArray;
use fusor_sim::drive::GT_RANGE_M;
use fusor_sim::record::{ground_truth_from_msg, ground_truth_objects, write_mcap, TOPIC_GT_EGO, TOPIC_GT_OBJECTS};
use fusor_sim::{Drive, Scenario};
use nalgebra::Point3;

fn quick(seed: u64) -> Scenario {
    let mut s = Scenario::new(seed, 0.3);
    s.lidar.azimuth_steps = 1000;
    s.camera.render_scale = 0.25;
    s
}

#[test]
fn ground_truth_lists_objects_within_range_with_lidar_points_and_camera_visibility() {
    let mut drive = Drive::new(&quick(21)).unwrap();
    let gt = drive.ground_truth(1);
    let ego = gt.map_from_base_link.translation.vector;
    let all = drive.world().actors().len();
    assert!(gt.objects.len() >= 5 && gt.objects.len() < all / 3, "{} of {all} actors", gt.objects.len());
    let mut ids: Vec<u32> = gt.objects.iter().map(|r| r.object.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), gt.objects.len(), "ids repeat");
    for r in &gt.objects {
        let c = r.object.bbox.center;
        assert!((c.x - ego.x).hypot(c.y - ego.y) <= GT_RANGE_M);
        assert!((0.0..=1.0).contains(&r.camera.fraction));
        // Nothing behind the camera is seen by it.
        let in_base = gt.map_from_base_link.inverse() * c;
        if in_base.x < -3.0 {
            assert_eq!(r.camera.pixels, 0, "object {} behind the ego seen by the camera", r.object.id);
        }
    }
    let scan = drive.lidar_scan(1).points_per_object.clone();
    for r in &gt.objects {
        assert_eq!(r.lidar_points, scan.get(&r.object.id).copied().unwrap_or(0));
    }
    assert!(gt.objects.iter().filter(|r| r.lidar_points > 20).count() >= 3);
    assert!(gt.objects.iter().filter(|r| r.camera.pixels > 200 && r.camera.fraction > 0.5).count() >= 1);
}

#[test]
fn ground_truth_message_decodes_to_the_same_objects_in_base_link() {
    let mut drive = Drive::new(&quick(21)).unwrap();
    let gt = drive.ground_truth(2);
    let msg = ground_truth_objects(&gt).unwrap();
    assert_eq!(msg.header.frame_id, "base_link");
    let back = ground_truth_from_msg(&msg).unwrap();
    assert_eq!(back.len(), gt.objects.len());
    let (_, _, ego_yaw) = gt.map_from_base_link.rotation.euler_angles();
    for (d, r) in back.iter().zip(&gt.objects) {
        assert_eq!(
            (d.id, d.class, d.lidar_points, d.camera_pixels),
            (r.object.id, r.object.class, r.lidar_points, r.camera.pixels)
        );
        assert!((d.camera_visibility - r.camera.fraction).abs() <= 5e-5);
        let c: Point3<f64> = gt.map_from_base_link.inverse() * r.object.bbox.center;
        assert!((d.bbox.center - c).norm() < 1e-9);
        assert_eq!(d.bbox.frame_id.as_str(), "base_link");
        let dyaw = (d.bbox.yaw_rad - (r.object.bbox.yaw_rad - ego_yaw)).sin();
        assert!(dyaw.abs() < 1e-9);
        assert!((d.bbox.size - r.object.bbox.size).norm() < 1e-12);
    }
}

#[test]
fn ground_truth_decoder_names_the_detection_it_cannot_read() {
    let mut drive = Drive::new(&quick(21)).unwrap();
    let mut msg = ground_truth_objects(&drive.ground_truth(1)).unwrap();
    assert!(msg.detections.len() > 2);
    msg.detections[2].results.truncate(1);
    let err = ground_truth_from_msg(&msg).unwrap_err().to_string();
    assert!(err.contains("detection 2") && err.contains("fusor_gt"), "{err}");
    let mut msg2 = Detection3DArray { detections: vec![msg.detections[0].clone()], ..msg.clone() };
    msg2.detections[0].id = "car-1".into();
    assert!(ground_truth_from_msg(&msg2).unwrap_err().to_string().contains("car-1"));
}

#[test]
fn recorded_ground_truth_topics_decode_from_the_mcap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gt.mcap");
    let mut s = quick(12);
    s.duration_s = 0.25;
    write_mcap(Drive::new(&s).unwrap(), &path, |_, _| {}).unwrap();
    let reader = fusor_record::McapReader::open(&path).unwrap();
    let (mut arrays, mut poses) = (0, 0);
    let mut drive = Drive::new(&s).unwrap();
    let mut moved = 0;
    for m in reader.messages().unwrap() {
        let m = m.unwrap();
        if m.topic == TOPIC_GT_OBJECTS {
            let objects = ground_truth_from_msg(&m.decode::<Detection3DArray>().unwrap()).unwrap();
            assert!(!objects.is_empty());
            // The recorded objects are the swept ground truth of the scan, not the stamp's.
            let swept =
                ground_truth_from_msg(&ground_truth_objects(&drive.ground_truth_as_swept(arrays)).unwrap()).unwrap();
            let at_stamp = ground_truth_from_msg(&ground_truth_objects(&drive.ground_truth(arrays)).unwrap()).unwrap();
            assert_eq!(objects.len(), swept.len());
            for ((o, s), t) in objects.iter().zip(&swept).zip(&at_stamp) {
                assert_eq!(o.id, s.id);
                assert!((o.bbox.center - s.bbox.center).norm() < 1e-6, "object {}", o.id);
                moved += usize::from((o.bbox.center - t.bbox.center).norm() > 0.01);
            }
            arrays += 1;
        } else if m.topic == TOPIC_GT_EGO {
            let pose = m.decode::<fusor_msgs::geometry_msgs::PoseStamped>().unwrap();
            assert_eq!(pose.header.frame_id, "map");
            poses += 1;
        }
    }
    assert_eq!((arrays, poses), (3, 3), "one of each per lidar scan");
    assert!(moved >= 1, "no recorded object off its pose at the stamp");
}

#[test]
fn swept_ground_truth_poses_each_moving_object_when_the_lidar_hit_it() {
    let (mut moving, mut fast) = (0, 0);
    for seed in [21, 22, 23] {
        let mut drive = Drive::new(&quick(seed)).unwrap();
        for index in [1, 2] {
            let at_stamp = drive.ground_truth(index);
            let swept = drive.ground_truth_as_swept(index);
            let t0 = drive.time_of(swept.stamp);
            let scan = drive.lidar_scan(index).clone();
            let times = scan.cloud.time_offset_s.as_ref().unwrap();
            assert_eq!((swept.stamp, swept.objects.len()), (at_stamp.stamp, at_stamp.objects.len()));
            for (r, s) in swept.objects.iter().zip(&at_stamp.objects) {
                assert_eq!((r.object.id, r.lidar_points, &r.camera), (s.object.id, s.lidar_points, &s.camera));
                let speed = s.object.velocity_m_s.xy().norm();
                let shift = (r.object.bbox.center - s.object.bbox.center).norm();
                // Never more than one sweep's travel; static objects stay put.
                assert!(shift <= speed * 0.1 + 1e-9, "object {} moved {shift} m at {speed} m/s", s.object.id);
                let hits: Vec<usize> = (0..times.len()).filter(|&i| scan.point_object_ids[i] == s.object.id).collect();
                if speed < 0.5 || hits.len() < 10 {
                    continue;
                }
                moving += 1;
                // The swept pose is the object's pose at the mean time its points were fired.
                let t_hits = t0 + hits.iter().map(|&i| f64::from(times[i])).sum::<f64>() / hits.len() as f64;
                let at_hits = drive.world().object_at(s.object.id, t_hits).unwrap().bbox.center;
                assert!(
                    (r.object.bbox.center - at_hits).norm() < 0.02 + speed * 0.005,
                    "object {} at {:?}, its points at {at_hits:?}",
                    s.object.id,
                    r.object.bbox.center
                );
                // The points, moved with the ego only (a scan deskewed to its stamp), lie in the
                // swept box.
                let points: Vec<Point3<f64>> = hits
                    .iter()
                    .map(|&i| {
                        drive.map_from_lidar(t0 + f64::from(times[i])) * scan.cloud.point(i).unwrap().cast::<f64>()
                    })
                    .collect();
                let off = mean_distance(&points, &r.object.bbox);
                assert!(off < 0.05, "object {}: its points {off} m off its swept box", s.object.id);
                // The stamp's pose is not where the lidar saw an object that moved on before it
                // was reached (what this test would catch if the swept pose were the stamp's).
                if speed * (t_hits - t0) > 0.15 {
                    fast += 1;
                    assert!((s.object.bbox.center - at_hits).norm() > 0.1);
                }
            }
        }
    }
    assert!(moving >= 4 && fast >= 1, "{moving} moving objects checked, {fast} fast");
}

/// Mean distance (m) of `points` from `bbox` (0 inside).
fn mean_distance(points: &[Point3<f64>], bbox: &fusor_core::Box3) -> f64 {
    let (sin, cos) = bbox.yaw_rad.sin_cos();
    let sum: f64 = points
        .iter()
        .map(|p| {
            let d = p - bbox.center;
            let local = [cos * d.x + sin * d.y, -sin * d.x + cos * d.y, d.z];
            (0..3).map(|k| (local[k].abs() - bbox.size[k] / 2.0).max(0.0).powi(2)).sum::<f64>().sqrt()
        })
        .sum();
    sum / points.len() as f64
}
