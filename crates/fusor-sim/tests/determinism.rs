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
