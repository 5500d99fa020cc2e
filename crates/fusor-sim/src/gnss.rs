//! GNSS receiver model: WGS84 fixes of the antenna with white ENU noise, via fusor-core geodesy.

use crate::rig::GNSS_FRAME;
use crate::rng::{gauss, stream, Purpose};
use crate::Result;
use fusor_core::geodesy::LocalEnu;
use fusor_core::{FixStatus, GnssFix, Stamp};
use nalgebra::{Matrix3, Point3};

/// GNSS parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GnssConfig {
    /// Fix rate in Hz.
    pub rate_hz: f64,
    /// σ of the east and north error in metres.
    pub horizontal_sigma_m: f64,
    /// σ of the up error in metres.
    pub vertical_sigma_m: f64,
}

impl Default for GnssConfig {
    fn default() -> Self {
        Self { rate_hz: 10.0, horizontal_sigma_m: 0.3, vertical_sigma_m: 0.45 }
    }
}

impl GnssConfig {
    /// The fix of an antenna at `antenna_in_map` (ENU metres of `enu`) for sample `index`.
    /// During an outage the fix has status `NoFix`, NaN coordinates and no covariance.
    pub fn fix(
        &self,
        enu: &LocalEnu,
        antenna_in_map: &Point3<f64>,
        stamp: Stamp,
        seed: u64,
        index: u64,
        outage: bool,
    ) -> Result<GnssFix> {
        if outage {
            return Ok(GnssFix {
                stamp,
                frame_id: GNSS_FRAME.into(),
                latitude_deg: f64::NAN,
                longitude_deg: f64::NAN,
                altitude_m: f64::NAN,
                covariance_enu_m2: None,
                status: FixStatus::NoFix,
            });
        }
        let mut rng = stream(seed, Purpose::Gnss, index, 0);
        let noisy = Point3::new(
            antenna_in_map.x + self.horizontal_sigma_m * gauss(&mut rng),
            antenna_in_map.y + self.horizontal_sigma_m * gauss(&mut rng),
            antenna_in_map.z + self.vertical_sigma_m * gauss(&mut rng),
        );
        let geo = enu.geodetic_from_enu(&noisy)?;
        let h2 = self.horizontal_sigma_m.powi(2);
        Ok(GnssFix {
            stamp,
            frame_id: GNSS_FRAME.into(),
            latitude_deg: geo.lat_deg,
            longitude_deg: geo.lon_deg,
            altitude_m: geo.alt_m,
            covariance_enu_m2: Some(Matrix3::from_diagonal(&nalgebra::Vector3::new(
                h2,
                h2,
                self.vertical_sigma_m.powi(2),
            ))),
            status: FixStatus::Fix,
        })
    }
}
