//! Street clutter: person-sized, unscored, static items on the sidewalks' outer edge.

use fusor_core::ObjectClass;
use fusor_sim::geometry::{Material, Shape};
use fusor_sim::world::{street_clutter, World, WorldConfig};

fn config(street_clutter: f64) -> WorldConfig {
    WorldConfig { seed: 31, duration_s: 40.0, street_clutter, ..WorldConfig::default() }
}

#[test]
fn clutter_adds_only_unscored_statics_and_leaves_the_rest_of_the_world_unchanged() {
    let (bare, cluttered) = (World::generate(&config(0.0)), World::generate(&config(1.0)));
    let town = *cluttered.town().expect("a generated world has a town");
    let clutter = street_clutter(31, &town, cluttered.ground(), 1.0);
    // About one item per 14 m of sidewalk: 5 × 5 junctions, 80 m blocks → 80 sidewalks of ~60 m.
    assert!((250..500).contains(&clutter.len()), "{} clutter primitives", clutter.len());
    assert!(clutter.iter().all(|p| p.surface.object_id == 0));
    assert_eq!(cluttered.statics().len(), bare.statics().len() + clutter.len());
    // Same buildings, trees, poles and parked cars, same actors and ground truth.
    assert!(bare.statics().iter().all(|p| cluttered.statics().contains(p)));
    assert!(clutter.iter().all(|p| cluttered.statics().contains(p)));
    assert_eq!(bare.actors(), cluttered.actors());
    assert_eq!(bare.objects_at(7.5), cluttered.objects_at(7.5));
    // Denser clutter is more of it; none is none.
    assert!(street_clutter(31, &town, cluttered.ground(), 2.0).len() > clutter.len() * 3 / 2);
    assert!(street_clutter(31, &town, cluttered.ground(), 0.0).is_empty());
    assert!(street_clutter(31, &town, cluttered.ground(), f64::NAN).is_empty());
}

#[test]
fn clutter_is_person_sized_and_stands_clear_of_every_pedestrian() {
    let world = World::generate(&config(1.0));
    let town = *world.town().expect("a generated world has a town");
    let clutter = street_clutter(31, &town, world.ground(), 1.0);
    // Items stand on the ground; bins, pay stations and shrub tops (planters are the concrete
    // parts). At least a third reach a person's height (1.4–1.9 m) with a person's footprint.
    let tops: Vec<(f64, [f64; 4])> = clutter
        .iter()
        .filter(|p| p.surface.material != Material::Concrete)
        .map(|p| (p.shape.z_max(), p.shape.bounds_xy()))
        .collect();
    let person_sized =
        tops.iter().filter(|(z, b)| (1.4..=1.9).contains(z) && (b[2] - b[0]).max(b[3] - b[1]) <= 0.9).count();
    assert!(person_sized * 3 >= tops.len(), "{person_sized} of {} items are person-sized", tops.len());
    assert!(tops.iter().all(|(z, _)| (0.9..=1.9).contains(z)));
    assert!(clutter.iter().any(|p| matches!(p.shape, Shape::Box(_))));
    // No pedestrian ever walks into one.
    for k in 0..80 {
        let t = 0.5 * f64::from(k);
        for o in world.objects_at(t).iter().filter(|o| o.class == ObjectClass::Pedestrian) {
            let (x, y) = (o.bbox.center.x, o.bbox.center.y);
            for p in &clutter {
                let b = p.shape.bounds_xy();
                let dx = (b[0] - x).max(x - b[2]).max(0.0);
                let dy = (b[1] - y).max(y - b[3]).max(0.0);
                assert!(dx.hypot(dy) >= 0.3, "pedestrian {} at ({x:.1}, {y:.1}) t = {t} s touches {:?}", o.id, p.shape);
            }
        }
    }
}
