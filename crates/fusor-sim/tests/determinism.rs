//! Same scenario, same bytes; another seed, another world.

use fusor_sim::world::World;
use fusor_sim::{Drive, Scenario, SimEvent};

fn short(seed: u64) -> Scenario {
    let mut s = Scenario::new(seed, 0.25);
    s.camera.render_scale = 0.25;
    s.lidar.azimuth_steps = 500;
    s.faults.stamp_jitter_s = 0.001;
    s.faults.duplicate_prob = 0.05;
    s
}

#[test]
fn same_seed_gives_identical_events() {
    let a: Vec<SimEvent> = Drive::new(&short(42)).unwrap().map(Result::unwrap).collect();
    let b: Vec<SimEvent> = Drive::new(&short(42)).unwrap().map(Result::unwrap).collect();
    assert!(a.iter().any(|e| matches!(e, SimEvent::Lidar(_))));
    assert!(a.iter().any(|e| matches!(e, SimEvent::Camera(_))));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        // Bitwise: compare the debug text, which spells every float exactly (NaN included).
        assert_eq!(format!("{x:?}"), format!("{y:?}"));
    }
}

#[test]
fn a_surround_rig_adds_its_side_cameras_and_changes_no_other_event() {
    let camera_of = |e: &SimEvent| match e {
        SimEvent::Camera(i) => Some(i.frame_id.as_str().to_owned()),
        _ => None,
    };
    let events = |s: &Scenario| -> Vec<SimEvent> { Drive::new(s).unwrap().map(Result::unwrap).collect() };
    let with_side_cameras = |s: &Scenario| Scenario {
        camera: fusor_sim::camera::CameraConfig { surround: true, ..s.camera.clone() },
        ..s.clone()
    };
    // Without faults: every front frame has a left and a right frame exposed with it.
    let clean = Scenario { faults: Default::default(), ..short(42) };
    let drive = Drive::new(&with_side_cameras(&clean)).unwrap();
    let frames: Vec<String> = drive.static_transforms().iter().map(|t| t.source.as_str().to_owned()).collect();
    for side in ["camera_front_left", "camera_front_right"] {
        assert!(frames.iter().any(|f| f == side), "{frames:?}");
    }
    let b: Vec<SimEvent> = drive.map(Result::unwrap).collect();
    let stamps = |frame: &str| {
        b.iter().filter(|e| camera_of(e).as_deref() == Some(frame)).map(SimEvent::stamp).collect::<Vec<_>>()
    };
    assert!(stamps("camera_front").len() >= 2);
    assert_eq!(stamps("camera_front_left"), stamps("camera_front"));
    assert_eq!(stamps("camera_front_right"), stamps("camera_front"));
    assert!(events(&clean).iter().all(|e| camera_of(e).is_none_or(|f| f == "camera_front")));
    // With drops, duplicates and stamp jitter: leave the side frames out and it is the same
    // drive, bit for bit (the side cameras draw their faults after every other sensor).
    let a = events(&short(42));
    let b = events(&with_side_cameras(&short(42)));
    let rest: Vec<&SimEvent> = b.iter().filter(|e| camera_of(e).is_none_or(|f| f == "camera_front")).collect();
    assert!(rest.len() < b.len());
    assert_eq!(rest.len(), a.len());
    for (x, y) in a.iter().zip(rest) {
        assert_eq!(format!("{x:?}"), format!("{y:?}"));
    }
}

#[test]
fn different_seed_gives_different_world() {
    let a = World::generate(&short(1).world_config());
    let b = World::generate(&short(2).world_config());
    assert_ne!(a.statics(), b.statics());
    assert_ne!(a.actors().len() + a.statics().len(), 0);
    let c = World::generate(&short(1).world_config());
    assert_eq!(a.statics(), c.statics());
    assert_eq!(a.actors(), c.actors());
}

#[test]
fn every_recorded_scenario_file_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recordings");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 3, "{n} scenarios in {}", dir.display());
}
