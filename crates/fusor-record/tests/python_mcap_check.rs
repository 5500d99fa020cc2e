//! Independent check: the Python `mcap` + `mcap-ros2-support` readers decode a fusor MCAP.
//!
//! This test runs in plain `cargo test`. It needs the project venv (`<repo>/.venv`, made by
//! `make setup`); it installs `mcap` and `mcap-ros2-support` into that venv itself when they are
//! missing. Without the venv it fails and says to run `make setup`: it never skips silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fusor_core::{FrameId, Image, PixelFormat, PointCloud, Stamp, Transform};
use fusor_msgs::builtin_interfaces::Duration;
use fusor_msgs::convert::{self, CompressedFormat};
use fusor_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use fusor_msgs::geometry_msgs::{Point, Pose, PoseStamped, PoseWithCovariance, Quaternion, Vector3};
use fusor_msgs::nav_msgs::Path as PathMsg;
use fusor_msgs::sensor_msgs::{CameraInfo, NavSatFix, NavSatStatus};
use fusor_msgs::std_msgs::{ColorRGBA, Header};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::vision_msgs::{
    BoundingBox3D, Detection3D, Detection3DArray, ObjectHypothesis, ObjectHypothesisWithPose,
};
use fusor_msgs::visualization_msgs::{Marker, MarkerArray};
use fusor_record::McapWriter;
use nalgebra::{Isometry3, Translation3, UnitQuaternion};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python with `mcap_ros2` importable, installing the packages when needed.
fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `make setup` (it creates the project venv this independent check uses)",
        python.display()
    );
    let has = |module: &str| {
        Command::new(&python).args(["-c", &format!("import {module}")]).status().map(|s| s.success()).unwrap_or(false)
    };
    if !(has("mcap") && has("mcap_ros2")) {
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "mcap", "mcap-ros2-support"])
            .status()
            .expect("running pip");
        assert!(status.success(), "pip install mcap mcap-ros2-support into the venv failed");
        assert!(has("mcap_ros2"), "mcap_ros2 still not importable after pip install");
    }
    python
}

fn header(stamp: Stamp, frame: &str) -> Header {
    convert::header(stamp, &FrameId::new(frame)).unwrap()
}

const T0: i64 = 1_700_000_000_123_456_789;

/// Writes one message of each type fusor records; returns the file.
fn write_fixture(dir: &Path) -> PathBuf {
    let path = dir.join("all_types.mcap");
    let mut w = McapWriter::create(&path).unwrap();
    let s = |k: i64| Stamp(T0 + k * 1_000_000);

    let mut cloud = PointCloud::with_capacity(s(0), "lidar", 3);
    cloud.push(1.5, -2.25, 0.125, 0.5);
    cloud.push(10.0, 0.0, -1.0, 0.0);
    cloud.push(-3.0, 4.0, 2.0, 1.0);
    w.write("/sensing/lidar/points", &convert::pointcloud_to_msg(&cloud).unwrap(), s(0)).unwrap();

    let pixels: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
    let image = Image::new(s(1), "camera_front", 4, 3, PixelFormat::Rgb8, 12, pixels).unwrap();
    w.write("/sensing/camera/front/image_raw", &convert::image_to_msg(&image).unwrap(), s(1)).unwrap();
    let png = convert::compressed_from_image(&image, CompressedFormat::Png).unwrap();
    w.write("/sensing/camera/front/image_raw/compressed", &png, s(1)).unwrap();

    let info = CameraInfo {
        header: header(s(1), "camera_front"),
        height: 375,
        width: 1242,
        distortion_model: "plumb_bob".into(),
        d: vec![0.1, -0.2, 0.001, 0.002, 0.0],
        k: [721.5377, 0.0, 609.5593, 0.0, 721.5377, 172.854, 0.0, 0.0, 1.0],
        r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p: [721.5377, 0.0, 609.5593, 44.85728, 0.0, 721.5377, 172.854, 0.2163791, 0.0, 0.0, 1.0, 0.002745884],
        ..CameraInfo::default()
    };
    w.write("/sensing/camera/front/camera_info", &info, s(1)).unwrap();

    let fix = NavSatFix {
        header: header(s(2), "gnss"),
        status: NavSatStatus { status: NavSatStatus::STATUS_GBAS_FIX, service: NavSatStatus::SERVICE_GPS },
        latitude: 49.014469305055,
        longitude: 8.4323954473023,
        altitude: 116.43120574951,
        position_covariance: [0.0225, 0.0, 0.0, 0.0, 0.0225, 0.0, 0.0, 0.0, 0.09],
        position_covariance_type: NavSatFix::COVARIANCE_TYPE_DIAGONAL_KNOWN,
    };
    w.write_with_publish_time("/sensing/gnss/fix", &fix, s(3), s(2)).unwrap();

    let imu = fusor_core::Imu {
        stamp: s(3),
        frame_id: "imu".into(),
        orientation: Some(UnitQuaternion::from_euler_angles(0.013512, 0.007208, -3.0025129803847)),
        angular_velocity_rad_s: nalgebra::Vector3::new(0.0233, -0.07, -0.05),
        linear_acceleration_m_s2: nalgebra::Vector3::new(-0.0415, -0.208, 9.0937),
        angular_velocity_covariance: None,
        linear_acceleration_covariance: None,
    };
    w.write("/sensing/imu", &convert::imu_to_msg(&imu).unwrap(), s(3)).unwrap();

    let lidar = Isometry3::from_parts(
        Translation3::new(0.81, -0.32, 1.73),
        UnitQuaternion::from_euler_angles(0.01, -0.02, 0.03),
    );
    let t = Transform::new("base_link", "lidar", lidar);
    let tf = TFMessage { transforms: vec![convert::transform_stamped(&t, s(0)).unwrap()] };
    w.write("/tf_static", &tf, s(0)).unwrap();

    let pose = Pose {
        position: Point { x: 12.5, y: -3.25, z: 0.9 },
        orientation: Quaternion { x: 0.0, y: 0.0, z: 0.3826834323650898, w: 0.9238795325112867 },
    };
    let detection = Detection3D {
        header: header(s(4), "base_link"),
        results: vec![ObjectHypothesisWithPose {
            hypothesis: ObjectHypothesis { class_id: "car".into(), score: 0.875 },
            pose: PoseWithCovariance { pose, covariance: [0.0; 36] },
        }],
        bbox: BoundingBox3D { center: pose, size: Vector3 { x: 4.5, y: 1.8, z: 1.5 } },
        id: "track-17".into(),
    };
    let detections = Detection3DArray { header: header(s(4), "base_link"), detections: vec![detection] };
    w.write("/perception/objects", &detections, s(4)).unwrap();

    let path_msg = PathMsg {
        header: header(s(5), "map"),
        poses: (0..3)
            .map(|k| PoseStamped {
                header: header(s(5 + k), "map"),
                pose: Pose { position: Point { x: k as f64, y: 2.0 * k as f64, z: 0.0 }, ..pose },
            })
            .collect(),
    };
    w.write("/localization/path", &path_msg, s(5)).unwrap();

    let marker = Marker {
        header: header(s(6), "base_link"),
        ns: "objects".into(),
        id: 17,
        r#type: Marker::CUBE,
        action: Marker::ADD,
        pose,
        scale: Vector3 { x: 4.5, y: 1.8, z: 1.5 },
        color: ColorRGBA { r: 0.0, g: 1.0, b: 0.5, a: 0.75 },
        lifetime: Duration { sec: 0, nanosec: 200_000_000 },
        points: vec![Point { x: 1.0, y: 2.0, z: 3.0 }],
        text: "car 0.88".into(),
        ..Marker::default()
    };
    w.write("/viz/markers", &MarkerArray { markers: vec![marker] }, s(6)).unwrap();

    let diag = DiagnosticArray {
        header: header(s(7), ""),
        status: vec![DiagnosticStatus {
            level: DiagnosticStatus::WARN,
            name: "fusor/lidar".into(),
            message: "late by 12 ms".into(),
            hardware_id: "hdl64".into(),
            values: vec![KeyValue { key: "latency_ms".into(), value: "12".into() }],
        }],
    };
    w.write("/diagnostics", &diag, s(7)).unwrap();
    w.finish().unwrap();
    path
}

fn by_topic<'a>(messages: &'a [Value], topic: &str) -> &'a Value {
    messages.iter().find(|m| m["topic"] == topic).unwrap_or_else(|| panic!("python saw no {topic}"))
}

fn stamp_json(v: &Value) -> i64 {
    v["sec"].as_i64().unwrap() * 1_000_000_000 + v["nanosec"].as_i64().unwrap()
}

#[test]
fn python_mcap_ros2_decodes_every_fusor_message_type() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let mcap = write_fixture(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/decode_mcap.py");
    let out = Command::new(&python).arg(&script).arg(&mcap).output().unwrap();
    assert!(out.status.success(), "python reader failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["profile"], "ros2");
    let messages = json["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 11, "every message decoded");
    for m in messages {
        assert_eq!((m["schema_encoding"].as_str(), m["message_encoding"].as_str()), (Some("ros2msg"), Some("cdr")));
    }

    let cloud = by_topic(messages, "/sensing/lidar/points");
    assert_eq!(cloud["schema"], "sensor_msgs/msg/PointCloud2");
    let c = &cloud["msg"];
    assert_eq!((c["width"].as_u64(), c["point_step"].as_u64(), c["height"].as_u64()), (Some(3), Some(16), Some(1)));
    assert_eq!(c["header"]["frame_id"], "lidar");
    assert_eq!(stamp_json(&c["header"]["stamp"]), T0);
    assert_eq!(cloud["log_time"].as_i64(), Some(T0));
    let names: Vec<&str> = c["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["x", "y", "z", "intensity"]);
    let mut expected = Vec::new();
    for v in [1.5f32, -2.25, 0.125, 0.5, 10.0, 0.0, -1.0, 0.0, -3.0, 4.0, 2.0, 1.0] {
        expected.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(c["data"]["crc32"].as_u64(), Some(u64::from(crc32fast::hash(&expected))));

    let image = &by_topic(messages, "/sensing/camera/front/image_raw")["msg"];
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64(), image["step"].as_u64()),
        (Some(4), Some(3), Some(12))
    );
    assert_eq!(image["encoding"], "rgb8");
    let pixels: Vec<u8> = (0..36).map(|i| (i * 7) as u8).collect();
    assert_eq!(image["data"]["crc32"].as_u64(), Some(u64::from(crc32fast::hash(&pixels))));

    let png = &by_topic(messages, "/sensing/camera/front/image_raw/compressed")["msg"];
    assert_eq!(png["format"], "png");
    assert!(png["data"]["len"].as_u64().unwrap() > 8);

    let info = &by_topic(messages, "/sensing/camera/front/camera_info")["msg"];
    assert_eq!(info["distortion_model"], "plumb_bob");
    assert_eq!(info["k"][2].as_f64(), Some(609.5593));
    assert_eq!(info["p"][3].as_f64(), Some(44.85728));
    assert_eq!(info["d"][1].as_f64(), Some(-0.2));

    let fix = by_topic(messages, "/sensing/gnss/fix");
    assert_eq!(fix["publish_time"].as_i64(), Some(T0 + 2_000_000), "publish time = header stamp");
    assert_eq!(fix["log_time"].as_i64(), Some(T0 + 3_000_000));
    let f = &fix["msg"];
    assert_eq!((f["latitude"].as_f64(), f["longitude"].as_f64()), (Some(49.014469305055), Some(8.4323954473023)));
    assert_eq!(f["status"]["status"].as_i64(), Some(2));
    assert_eq!(f["position_covariance"][8].as_f64(), Some(0.09));

    let imu = &by_topic(messages, "/sensing/imu")["msg"];
    let q = UnitQuaternion::from_euler_angles(0.013512, 0.007208, -3.0025129803847);
    assert_eq!(imu["orientation"]["w"].as_f64(), Some(q.w));
    assert_eq!(imu["linear_acceleration"]["z"].as_f64(), Some(9.0937));
    assert_eq!(imu["header"]["frame_id"], "imu");

    let tf = &by_topic(messages, "/tf_static")["msg"]["transforms"][0];
    assert_eq!((tf["header"]["frame_id"].as_str(), tf["child_frame_id"].as_str()), (Some("base_link"), Some("lidar")));
    assert_eq!(tf["transform"]["translation"]["z"].as_f64(), Some(1.73));

    let det = &by_topic(messages, "/perception/objects")["msg"]["detections"][0];
    assert_eq!(det["id"], "track-17");
    assert_eq!(det["results"][0]["hypothesis"]["class_id"], "car");
    assert_eq!(det["results"][0]["hypothesis"]["score"].as_f64(), Some(0.875));
    assert_eq!(det["bbox"]["size"]["x"].as_f64(), Some(4.5));
    assert_eq!(det["bbox"]["center"]["position"]["y"].as_f64(), Some(-3.25));

    let path = &by_topic(messages, "/localization/path")["msg"];
    assert_eq!(path["poses"].as_array().unwrap().len(), 3);
    assert_eq!(path["poses"][2]["pose"]["position"]["y"].as_f64(), Some(4.0));
    assert_eq!(stamp_json(&path["poses"][2]["header"]["stamp"]), T0 + 7_000_000);

    let marker = &by_topic(messages, "/viz/markers")["msg"]["markers"][0];
    assert_eq!(
        (marker["ns"].as_str(), marker["id"].as_i64(), marker["type"].as_i64()),
        (Some("objects"), Some(17), Some(1))
    );
    assert_eq!(marker["color"]["a"].as_f64(), Some(0.75));
    assert_eq!(marker["lifetime"]["nanosec"].as_u64(), Some(200_000_000));
    assert_eq!(marker["text"], "car 0.88");
    assert_eq!(marker["points"][0]["z"].as_f64(), Some(3.0));

    let diag = &by_topic(messages, "/diagnostics")["msg"]["status"][0];
    assert_eq!((diag["level"].as_u64(), diag["name"].as_str()), (Some(1), Some("fusor/lidar")));
    assert_eq!(diag["values"][0]["value"], "12");

    // Log-time order, as the Python reader was asked for, matches ours.
    let ours: Vec<i64> = fusor_record::McapReader::open(&mcap)
        .unwrap()
        .messages()
        .unwrap()
        .map(|m| m.unwrap().log_time.nanos())
        .collect();
    let theirs: Vec<i64> = messages.iter().map(|m| m["log_time"].as_i64().unwrap()).collect();
    assert_eq!(ours, theirs);
}
