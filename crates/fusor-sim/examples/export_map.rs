//! Writes a scenario's town road network as a Lanelet2 OSM map:
//! `cargo run -p fusor-sim --example export_map -- [scenario.toml] [out.osm]`
//! (defaults: `recordings/town-day.toml` → `recordings/town-day.osm`).

use fusor_core::geodesy::LocalEnu;
use fusor_sim::road::{export_lanelet2_osm, TownGrid};
use fusor_sim::Scenario;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| format!("{root}/recordings/town-day.toml"));
    let out = args.next().unwrap_or_else(|| format!("{root}/recordings/town-day.osm"));
    let s = Scenario::load(&scenario)?;
    let config = s.world_config();
    // As `World::generate` builds it.
    let town = TownGrid { n: config.junctions_per_side.max(2), spacing_m: config.block_m.max(60.0) };
    let enu = LocalEnu::new(s.origin.lat_deg, s.origin.lon_deg, s.origin.alt_m)?;
    let xml = export_lanelet2_osm(&town, &enu)?;
    std::fs::write(&out, &xml)?;
    println!("{out}: {} bytes, {} lanelets", xml.len(), fusor_sim::lanelet2::lanelet_count(&town));
    Ok(())
}
