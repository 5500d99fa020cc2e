//! A short drive written to MCAP: standard topics, and the same bytes twice.

use fusor_sim::record::{write_mcap, TOPIC_GT_OBJECTS, TOPIC_LIDAR};
use fusor_sim::{Drive, Scenario};

fn short() -> Scenario {
    let mut s = Scenario::new(12, 0.3);
    s.lidar.azimuth_steps = 400;
    s.camera.render_scale = 0.25;
    s
}

#[test]
fn drive_writes_standard_topics_and_identical_bytes_twice() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mcap");
    let b = dir.path().join("b.mcap");
    let mut calls = 0;
    write_mcap(Drive::new(&short()).unwrap(), &a, |_, _| calls += 1).unwrap();
    write_mcap(Drive::new(&short()).unwrap(), &b, |_, _| {}).unwrap();
    assert!(calls > 30);
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap(), "recording is not deterministic");
    let info = fusor_record::info(&a).unwrap();
    let text = format!("{info:?}");
    for topic in [TOPIC_LIDAR, TOPIC_GT_OBJECTS, "/sensing/camera/front/camera_info", "/sensing/imu", "/tf_static"] {
        assert!(text.contains(topic), "{topic} missing from {text}");
    }
}
