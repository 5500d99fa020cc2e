//! Scenario files (TOML): seed, duration, world, lighting, rig, sensor parameters and faults.
//!
//! Every table refuses unknown keys, and every error names the offending key, e.g.
//! `scenario recordings/x.toml: lidar.rate_hz: must be positive, got -10`.

use crate::camera::CameraConfig;
use crate::ego::EgoConfig;
use crate::geometry::Ground;
use crate::gnss::GnssConfig;
use crate::imu::ImuConfig;
use crate::lidar::LidarConfig;
use crate::rig::SimRig;
use crate::world::WorldConfig;
use crate::{Result, SimError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// WGS84 origin of the `map` frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// Latitude in degrees.
    pub lat_deg: f64,
    /// Longitude in degrees.
    pub lon_deg: f64,
    /// Height above the ellipsoid in metres.
    pub alt_m: f64,
}

impl Default for Origin {
    /// Karlsruhe, where KITTI was recorded.
    fn default() -> Self {
        Self { lat_deg: 49.011, lon_deg: 8.4165, alt_m: 115.0 }
    }
}

/// The `[world]` table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldSection {
    /// Junctions per side of the town grid (≥ 2).
    pub junctions_per_side: usize,
    /// Junction spacing in metres (≥ 60).
    pub block_m: f64,
    /// Ground slope `[dz/dx, dz/dy]` (e.g. `[0.02, 0.0]` for 2 % rising east).
    pub ground_slope: [f64; 2],
    /// Multiplier on the street clutter (bins, pay stations, shrubs) along the sidewalks; 0 (the
    /// default) = none. See [`crate::world::street_clutter`].
    pub street_clutter: f64,
}

impl Default for WorldSection {
    fn default() -> Self {
        let w = WorldConfig::default();
        Self {
            junctions_per_side: w.junctions_per_side,
            block_m: w.block_m,
            ground_slope: [0.0; 2],
            street_clutter: w.street_clutter,
        }
    }
}

/// The `[faults]` table: what goes wrong during the drive.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Intervals `[start, end)` in seconds of drive time with no camera frames.
    pub camera_blackouts_s: Vec<[f64; 2]>,
    /// Lidar rings that return nothing.
    pub lidar_lost_beams: Vec<u16>,
    /// Intervals `[start, end)` in seconds with GNSS status `NoFix`.
    pub gnss_outages_s: Vec<[f64; 2]>,
    /// σ in seconds of Gaussian noise on every sensor message's header stamp.
    pub stamp_jitter_s: f64,
    /// Probability that a sensor message is dropped.
    pub drop_prob: f64,
    /// Probability that a sensor message is sent twice.
    pub duplicate_prob: f64,
    /// Yaw error of the real camera mount against the rig, in degrees (positive: turned left).
    pub camera_yaw_offset_deg: f64,
    /// `[roll, pitch, yaw]` error of the real IMU mount against the rig, in degrees (ROS: roll
    /// positive right side down, pitch positive nose down). The recorded `/tf_static` keeps the
    /// nominal mount, so gravity leaks into the horizontal axes as a bias (g·sin 3° ≈ 0.51 m/s²),
    /// as from a phone or box mounted a few degrees off level.
    pub imu_mount_error_deg: [f64; 3],
}

fn default_start() -> f64 {
    1_700_000_000.0
}
fn one() -> f64 {
    1.0
}

/// A scenario: everything needed to generate a drive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seed of the world, the route, and every noise.
    pub seed: u64,
    /// Drive length in seconds.
    pub duration_s: f64,
    /// Time of the drive start, seconds since the Unix epoch (the stamps' origin).
    #[serde(default = "default_start")]
    pub start_time_s: f64,
    /// Scene brightness in [0, 1]: 1 daylight, ~0.35 dusk, ~0.1 night.
    #[serde(default = "one")]
    pub lighting: f64,
    /// Multiplier on the number of road users (0 = empty streets).
    #[serde(default = "one")]
    pub traffic_density: f64,
    /// Rig file (project rig format), relative to the scenario file's folder; the built-in rig
    /// ([`SimRig::default`], the same as `calibration/sim-rig.toml`) when absent.
    #[serde(default)]
    pub rig: Option<PathBuf>,
    /// WGS84 origin of `map`.
    #[serde(default)]
    pub origin: Origin,
    /// Town layout.
    #[serde(default)]
    pub world: WorldSection,
    /// Ego driving style.
    #[serde(default)]
    pub ego: EgoConfig,
    /// Lidar.
    #[serde(default)]
    pub lidar: LidarConfig,
    /// Front camera.
    #[serde(default)]
    pub camera: CameraConfig,
    /// GNSS receiver.
    #[serde(default)]
    pub gnss: GnssConfig,
    /// IMU.
    #[serde(default)]
    pub imu: ImuConfig,
    /// Fault injection.
    #[serde(default)]
    pub faults: Faults,
    /// The rig in use (loaded from `rig`, or the built-in one).
    #[serde(skip)]
    pub rig_config: SimRig,
}

impl Scenario {
    /// A scenario with defaults everywhere: `duration_s` seconds from `seed`.
    pub fn new(seed: u64, duration_s: f64) -> Self {
        Self {
            seed,
            duration_s,
            start_time_s: default_start(),
            lighting: 1.0,
            traffic_density: 1.0,
            rig: None,
            origin: Origin::default(),
            world: WorldSection::default(),
            ego: EgoConfig::default(),
            lidar: LidarConfig::default(),
            camera: CameraConfig::default(),
            gnss: GnssConfig::default(),
            imu: ImuConfig::default(),
            faults: Faults::default(),
            rig_config: SimRig::default(),
        }
    }

    /// Reads and validates a scenario file, and loads its rig.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io { path: path.to_owned(), source })?;
        let mut s = Self::from_toml_str(&text, path)?;
        if let Some(rig) = &s.rig {
            let rig_path = path.parent().unwrap_or(Path::new(".")).join(rig);
            let rig_err = |why: String| SimError::Scenario { path: path.to_owned(), key: "rig".into(), why };
            let rig = fusor_core::calib::Rig::load(&rig_path).map_err(|e| rig_err(e.to_string()))?;
            s.rig_config = SimRig::from_rig(&rig).map_err(|e| rig_err(format!("{}: {e}", rig_path.display())))?;
        }
        Ok(s)
    }

    /// Parses and validates scenario text; `path` only names the source in errors. A `rig` key
    /// is kept but not loaded (see [`Scenario::load`]).
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self> {
        let s: Scenario = toml::from_str(text).map_err(|e| toml_error(path, &e))?;
        s.validate(path)?;
        Ok(s)
    }

    /// Checks ranges; the error names the key.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let fail = |key: &str, why: String| Err(SimError::Scenario { path: path.to_owned(), key: key.into(), why });
        let positive = [
            ("duration_s", self.duration_s),
            ("lidar.rate_hz", self.lidar.rate_hz),
            ("lidar.max_range_m", self.lidar.max_range_m),
            ("camera.rate_hz", self.camera.rate_hz),
            ("camera.render_scale", self.camera.render_scale),
            ("camera.max_range_m", self.camera.max_range_m),
            ("gnss.rate_hz", self.gnss.rate_hz),
            ("imu.rate_hz", self.imu.rate_hz),
            ("world.block_m", self.world.block_m),
        ];
        for (key, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return fail(key, format!("must be positive, got {v}"));
            }
        }
        let non_negative = [
            ("traffic_density", self.traffic_density),
            ("lidar.range_noise_m", self.lidar.range_noise_m),
            ("lidar.min_range_m", self.lidar.min_range_m),
            ("camera.jitter_s", self.camera.jitter_s),
            ("camera.noise_dn", self.camera.noise_dn),
            ("gnss.horizontal_sigma_m", self.gnss.horizontal_sigma_m),
            ("gnss.vertical_sigma_m", self.gnss.vertical_sigma_m),
            ("imu.gyro_noise_rad_s", self.imu.gyro_noise_rad_s),
            ("imu.accel_noise_m_s2", self.imu.accel_noise_m_s2),
            ("imu.gyro_bias_rad_s", self.imu.gyro_bias_rad_s),
            ("imu.accel_bias_m_s2", self.imu.accel_bias_m_s2),
            ("faults.stamp_jitter_s", self.faults.stamp_jitter_s),
        ];
        for (key, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                return fail(key, format!("must be ≥ 0, got {v}"));
            }
        }
        for (key, v) in [
            ("lighting", self.lighting),
            ("lidar.dropout_prob", self.lidar.dropout_prob),
            ("faults.drop_prob", self.faults.drop_prob),
            ("faults.duplicate_prob", self.faults.duplicate_prob),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return fail(key, format!("must be in [0, 1], got {v}"));
            }
        }
        if self.camera.render_scale > 1.0 {
            return fail("camera.render_scale", format!("must be ≤ 1, got {}", self.camera.render_scale));
        }
        if self.lidar.beams == 0 {
            return fail("lidar.beams", "must be ≥ 1".into());
        }
        if self.lidar.azimuth_steps == 0 {
            return fail("lidar.azimuth_steps", "must be ≥ 1".into());
        }
        if self.lidar.upper_fov_deg < self.lidar.lower_fov_deg {
            return fail("lidar.upper_fov_deg", "is below lidar.lower_fov_deg".into());
        }
        if self.lidar.min_range_m >= self.lidar.max_range_m {
            return fail("lidar.min_range_m", "must be below lidar.max_range_m".into());
        }
        if self.world.junctions_per_side < 2 {
            return fail("world.junctions_per_side", format!("must be ≥ 2, got {}", self.world.junctions_per_side));
        }
        if self.world.block_m < 60.0 {
            return fail("world.block_m", format!("must be ≥ 60 m, got {}", self.world.block_m));
        }
        if self.world.ground_slope.iter().any(|g| !g.is_finite() || g.abs() > 0.15) {
            return fail("world.ground_slope", "each slope must be within ±0.15".into());
        }
        if !(0.0..=10.0).contains(&self.world.street_clutter) {
            return fail("world.street_clutter", format!("must be within [0, 10], got {}", self.world.street_clutter));
        }
        let [lo, hi] = self.ego.cruise_speed_m_s;
        if !(lo > 0.0 && hi >= lo && hi <= 30.0) {
            return fail("ego.cruise_speed_m_s", format!("need 0 < low ≤ high ≤ 30, got [{lo}, {hi}]"));
        }
        for (key, list) in [
            ("faults.camera_blackouts_s", &self.faults.camera_blackouts_s),
            ("faults.gnss_outages_s", &self.faults.gnss_outages_s),
        ] {
            if let Some([a, b]) = list.iter().find(|[a, b]| !(a.is_finite() && b.is_finite() && a <= b)) {
                return fail(key, format!("interval [{a}, {b}] must have start ≤ end"));
            }
        }
        if let Some(b) = self.faults.lidar_lost_beams.iter().find(|&&b| b >= self.lidar.beams) {
            return fail("faults.lidar_lost_beams", format!("ring {b} does not exist ({} beams)", self.lidar.beams));
        }
        if !self.faults.camera_yaw_offset_deg.is_finite() || self.faults.camera_yaw_offset_deg.abs() > 45.0 {
            return fail("faults.camera_yaw_offset_deg", "must be within ±45°".into());
        }
        for (axis, v) in ["roll", "pitch", "yaw"].iter().zip(self.faults.imu_mount_error_deg) {
            if !(v.is_finite() && v.abs() <= 30.0) {
                return fail("faults.imu_mount_error_deg", format!("{axis} must be within ±30°, got {v}"));
            }
        }
        if fusor_core::geodesy::LocalEnu::new(self.origin.lat_deg, self.origin.lon_deg, self.origin.alt_m).is_err() {
            return fail("origin", format!("not a valid WGS84 position: {:?}", self.origin));
        }
        Ok(())
    }

    /// The world parameters.
    pub fn world_config(&self) -> WorldConfig {
        WorldConfig {
            seed: self.seed,
            junctions_per_side: self.world.junctions_per_side,
            block_m: self.world.block_m,
            traffic_density: self.traffic_density,
            ground: Ground { z0_m: 0.0, slope_x: self.world.ground_slope[0], slope_y: self.world.ground_slope[1] },
            duration_s: self.duration_s,
            street_clutter: self.world.street_clutter,
        }
    }
}

/// A TOML error as a scenario error naming the key where toml names it.
fn toml_error(path: &Path, e: &toml::de::Error) -> SimError {
    let msg = e.message();
    let key = msg
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .or_else(|| msg.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()))
        .unwrap_or("")
        .to_owned();
    SimError::Scenario { path: path.to_owned(), key, why: e.to_string().trim().replace('\n', " ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario> {
        Scenario::from_toml_str(text, Path::new("test.toml"))
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = parse("seed = 1\nduration_s = 5.0\n[lidar]\nbeems = 32\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("beems"), "{text}");
        assert!(matches!(err, SimError::Scenario { ref key, .. } if key == "beems"));
    }

    #[test]
    fn negative_rate_names_the_key() {
        let err = parse("seed = 1\nduration_s = 5.0\n[camera]\nrate_hz = -10.0\n").unwrap_err();
        assert!(matches!(err, SimError::Scenario { ref key, .. } if key == "camera.rate_hz"), "{err}");
    }

    #[test]
    fn missing_rig_file_names_the_rig_key() {
        let dir = std::env::temp_dir().join(format!("fusor-sim-scn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("s.toml");
        std::fs::write(&p, "seed = 1\nduration_s = 5.0\nrig = \"nope.toml\"\n").unwrap();
        let err = Scenario::load(&p).unwrap_err();
        assert!(matches!(err, SimError::Scenario { ref key, .. } if key == "rig"), "{err}");
    }

    #[test]
    fn defaults_fill_missing_tables() {
        let s = parse("seed = 3\nduration_s = 2.0\n[lidar]\nbeams = 32\n").unwrap();
        assert_eq!(s.lidar.beams, 32);
        assert_eq!(s.lidar.rate_hz, 10.0);
        assert_eq!(s.camera, CameraConfig::default());
    }

    #[test]
    fn street_clutter_is_off_by_default_read_from_the_world_table_and_range_checked() {
        assert_eq!(parse("seed = 1\nduration_s = 5.0\n").unwrap().world_config().street_clutter, 0.0);
        let s = parse("seed = 1\nduration_s = 5.0\n[world]\nstreet_clutter = 1.5\n").unwrap();
        assert_eq!(s.world_config().street_clutter, 1.5);
        for bad in ["-1.0", "11.0", "nan"] {
            let err = parse(&format!("seed = 1\nduration_s = 5.0\n[world]\nstreet_clutter = {bad}\n")).unwrap_err();
            assert!(matches!(err, SimError::Scenario { ref key, .. } if key == "world.street_clutter"), "{bad}: {err}");
        }
    }
}
