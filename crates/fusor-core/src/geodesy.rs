//! Geodesy: WGS84 geodetic ↔ ECEF ↔ local ENU.
//!
//! - *Geodetic*: latitude and longitude in degrees on the WGS84 ellipsoid, altitude in metres
//!   above the ellipsoid (not above mean sea level).
//! - *ECEF*: earth-centred, earth-fixed Cartesian metres (x through lat 0° lon 0°, z through the
//!   north pole).
//! - *ENU*: a local tangent plane at a configurable origin, x east, y north, z up, in metres. This
//!   is fusor's `map` frame.
//!
//! ECEF → geodetic uses Heikkinen's closed form (exact, no iteration), which is sub-micrometre for
//! every point more than ~50 km from the earth's centre; points closer than that are refused.
//! Non-finite input and latitudes outside ±90° are errors, never panics or NaN output.

use crate::{CoreError, Result};
use nalgebra::{Matrix3, Point3, Vector3};
use serde::{Deserialize, Serialize};

/// WGS84 semi-major axis in metres.
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;
/// WGS84 semi-minor axis in metres.
pub const WGS84_B: f64 = WGS84_A * (1.0 - WGS84_F);
/// WGS84 first eccentricity squared.
pub const WGS84_E2: f64 = WGS84_F * (2.0 - WGS84_F);

/// Below this distance from the earth's centre (m) geodetic coordinates are refused: the
/// closed form is ill-conditioned there, and no vehicle goes there.
const MIN_ECEF_RADIUS_M: f64 = 50_000.0;

/// A WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Geodetic {
    /// Latitude in degrees, north positive, in [-90, 90].
    pub lat_deg: f64,
    /// Longitude in degrees, east positive, in (-180, 180] on output; any finite value on input.
    pub lon_deg: f64,
    /// Height above the WGS84 ellipsoid in metres.
    pub alt_m: f64,
}

impl Geodetic {
    /// A geodetic position; fails on non-finite values or a latitude outside ±90°.
    pub fn new(lat_deg: f64, lon_deg: f64, alt_m: f64) -> Result<Self> {
        let g = Self { lat_deg, lon_deg, alt_m };
        g.validate()?;
        Ok(g)
    }

    fn validate(&self) -> Result<()> {
        if !(self.lat_deg.is_finite() && self.lon_deg.is_finite() && self.alt_m.is_finite()) {
            return Err(CoreError::invalid("geodetic position", format!("non-finite value in {self:?}")));
        }
        if self.lat_deg.abs() > 90.0 {
            return Err(CoreError::invalid("geodetic position", format!("latitude {} is outside ±90°", self.lat_deg)));
        }
        Ok(())
    }
}

fn check_finite(what: &'static str, p: &Point3<f64>) -> Result<()> {
    if p.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(CoreError::invalid(what, format!("non-finite coordinate in {:?}", p.coords.as_slice())))
    }
}

/// ECEF position (m) of a WGS84 position.
pub fn ecef_from_geodetic(geo: Geodetic) -> Result<Point3<f64>> {
    geo.validate()?;
    let (sin_lat, cos_lat) = geo.lat_deg.to_radians().sin_cos();
    let (sin_lon, cos_lon) = geo.lon_deg.to_radians().sin_cos();
    // Prime-vertical radius of curvature.
    let n = WGS84_A / (1.0 - WGS84_E2 * sin_lat * sin_lat).sqrt();
    Ok(Point3::new(
        (n + geo.alt_m) * cos_lat * cos_lon,
        (n + geo.alt_m) * cos_lat * sin_lon,
        (n * (1.0 - WGS84_E2) + geo.alt_m) * sin_lat,
    ))
}

/// WGS84 position of an ECEF point (m), by Heikkinen's closed form (Heikkinen 1982, as given by
/// Zhu, "Conversion of Earth-centered Earth-fixed coordinates to geodetic coordinates", IEEE TAES
/// 30(3), 1994). Fails on non-finite input or within 50 km of the earth's centre.
pub fn geodetic_from_ecef(ecef: &Point3<f64>) -> Result<Geodetic> {
    check_finite("ECEF position", ecef)?;
    let (x, y, z) = (ecef.x, ecef.y, ecef.z);
    if ecef.coords.norm() < MIN_ECEF_RADIUS_M {
        return Err(CoreError::invalid(
            "ECEF position",
            format!("{:.0} m from the earth's centre; geodetic coordinates are not defined there", ecef.coords.norm()),
        ));
    }
    let (a, b, e2) = (WGS84_A, WGS84_B, WGS84_E2);
    let ep2 = (a * a - b * b) / (b * b);
    let p = x.hypot(y);
    let f = 54.0 * b * b * z * z;
    let g = p * p + (1.0 - e2) * z * z - e2 * (a * a - b * b);
    let c = e2 * e2 * f * p * p / (g * g * g);
    let s = (1.0 + c + (c * c + 2.0 * c).sqrt()).cbrt();
    let k = s + 1.0 + 1.0 / s;
    let big_p = f / (3.0 * k * k * g * g);
    let q = (1.0 + 2.0 * e2 * e2 * big_p).sqrt();
    let r0 = -(big_p * e2 * p) / (1.0 + q)
        + (0.5 * a * a * (1.0 + 1.0 / q) - big_p * (1.0 - e2) * z * z / (q * (1.0 + q)) - 0.5 * big_p * p * p)
            .max(0.0)
            .sqrt();
    let u = ((p - e2 * r0).powi(2) + z * z).sqrt();
    let v = ((p - e2 * r0).powi(2) + (1.0 - e2) * z * z).sqrt();
    let z0 = b * b * z / (a * v);
    let alt_m = u * (1.0 - b * b / (a * v));
    let lat_deg = (z + ep2 * z0).atan2(p).to_degrees();
    let lon_deg = y.atan2(x).to_degrees();
    let geo = Geodetic { lat_deg, lon_deg, alt_m };
    geo.validate().map_err(|_| CoreError::invalid("ECEF position", format!("no geodetic solution for {ecef:?}")))?;
    Ok(geo)
}

/// The rotation `ecef_from_enu` of the local tangent plane at (`lat_deg`, `lon_deg`): its columns
/// are the east, north and up unit vectors expressed in ECEF.
pub fn ecef_from_enu_rotation(lat_deg: f64, lon_deg: f64) -> Matrix3<f64> {
    let (sin_lat, cos_lat) = lat_deg.to_radians().sin_cos();
    let (sin_lon, cos_lon) = lon_deg.to_radians().sin_cos();
    Matrix3::new(
        -sin_lon,
        -sin_lat * cos_lon,
        cos_lat * cos_lon,
        cos_lon,
        -sin_lat * sin_lon,
        cos_lat * sin_lon,
        0.0,
        cos_lat,
        sin_lat,
    )
}

/// Rotates a position covariance (m²) given in the ENU frame at (`lat_deg`, `lon_deg`) into ECEF:
/// `C_ecef = R · C_enu · Rᵀ` with `R = ecef_from_enu`.
pub fn covariance_ecef_from_enu(lat_deg: f64, lon_deg: f64, cov_enu: &Matrix3<f64>) -> Matrix3<f64> {
    let r = ecef_from_enu_rotation(lat_deg, lon_deg);
    r * cov_enu * r.transpose()
}

/// Rotates a position covariance (m²) given in ECEF into the ENU frame at (`lat_deg`, `lon_deg`):
/// `C_enu = Rᵀ · C_ecef · R` with `R = ecef_from_enu`.
pub fn covariance_enu_from_ecef(lat_deg: f64, lon_deg: f64, cov_ecef: &Matrix3<f64>) -> Matrix3<f64> {
    let r = ecef_from_enu_rotation(lat_deg, lon_deg);
    r.transpose() * cov_ecef * r
}

/// A local east-north-up frame (fusor's `map`) tangent to the WGS84 ellipsoid at an origin.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalEnu {
    origin: Geodetic,
    origin_ecef: Point3<f64>,
    ecef_from_enu: Matrix3<f64>,
}

impl LocalEnu {
    /// An ENU frame at the origin `lat_deg`, `lon_deg` (degrees), `alt_m` (m above the ellipsoid).
    /// Fails on non-finite values or a latitude outside ±90°.
    pub fn new(lat_deg: f64, lon_deg: f64, alt_m: f64) -> Result<Self> {
        let origin = Geodetic::new(lat_deg, lon_deg, alt_m)?;
        Ok(Self {
            origin,
            origin_ecef: ecef_from_geodetic(origin)?,
            ecef_from_enu: ecef_from_enu_rotation(lat_deg, lon_deg),
        })
    }

    /// The origin.
    pub fn origin(&self) -> Geodetic {
        self.origin
    }

    /// The origin in ECEF metres.
    pub fn origin_ecef(&self) -> Point3<f64> {
        self.origin_ecef
    }

    /// The rotation `ecef_from_enu` at the origin (columns: east, north, up in ECEF).
    pub fn ecef_from_enu_rotation(&self) -> Matrix3<f64> {
        self.ecef_from_enu
    }

    /// ENU position (m) of an ECEF point (m).
    pub fn enu_from_ecef(&self, ecef: &Point3<f64>) -> Result<Point3<f64>> {
        check_finite("ECEF position", ecef)?;
        let d: Vector3<f64> = ecef - self.origin_ecef;
        Ok(Point3::from(self.ecef_from_enu.transpose() * d))
    }

    /// ECEF position (m) of an ENU point (m).
    pub fn ecef_from_enu(&self, enu: &Point3<f64>) -> Result<Point3<f64>> {
        check_finite("ENU position", enu)?;
        Ok(self.origin_ecef + self.ecef_from_enu * enu.coords)
    }

    /// ENU position (m) of a WGS84 position.
    pub fn enu_from_geodetic(&self, geo: Geodetic) -> Result<Point3<f64>> {
        self.enu_from_ecef(&ecef_from_geodetic(geo)?)
    }

    /// WGS84 position of an ENU point (m).
    pub fn geodetic_from_enu(&self, enu: &Point3<f64>) -> Result<Geodetic> {
        geodetic_from_ecef(&self.ecef_from_enu(enu)?)
    }

    /// Rotates a covariance (m²) from this ENU frame into ECEF (`R · C · Rᵀ`).
    pub fn covariance_ecef_from_enu(&self, cov_enu: &Matrix3<f64>) -> Matrix3<f64> {
        self.ecef_from_enu * cov_enu * self.ecef_from_enu.transpose()
    }

    /// Rotates a covariance (m²) from ECEF into this ENU frame (`Rᵀ · C · R`).
    pub fn covariance_enu_from_ecef(&self, cov_ecef: &Matrix3<f64>) -> Matrix3<f64> {
        self.ecef_from_enu.transpose() * cov_ecef * self.ecef_from_enu
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    fn geo(lat_deg: f64, lon_deg: f64, alt_m: f64) -> Geodetic {
        Geodetic::new(lat_deg, lon_deg, alt_m).unwrap()
    }

    /// Angular difference in degrees, wrapped to [-180, 180].
    fn dlon(a: f64, b: f64) -> f64 {
        (a - b + 540.0).rem_euclid(360.0) - 180.0
    }

    #[test]
    fn matches_pymap3d_reference_ecef() {
        // geospace-code/pymap3d, src/pymap3d/tests/test_geodetic.py: lla0 = (42, -82, 200),
        // xyz0 = (660675.2518247, -4700948.68316, 4245737.66222) (WGS84).
        let xyz = ecef_from_geodetic(geo(42.0, -82.0, 200.0)).unwrap();
        assert_relative_eq!(xyz, Point3::new(660_675.251_824_7, -4_700_948.683_16, 4_245_737.662_22), epsilon = 1e-4);
        let back = geodetic_from_ecef(&xyz).unwrap();
        assert_relative_eq!(back.lat_deg, 42.0, epsilon = 1e-11);
        assert_relative_eq!(back.lon_deg, -82.0, epsilon = 1e-11);
        assert_relative_eq!(back.alt_m, 200.0, epsilon = 1e-6);
    }

    #[test]
    fn matches_qzsl6tool_reference_ecef() {
        // yoronneko/qzsl6tool, docs/llh2ecef-en.md: 34.4401061 N, 132.4147804 E, 233.362 m
        // ↔ ECEF (-3551876.829, 3887786.860, 3586946.387), printed to the millimetre.
        let xyz = ecef_from_geodetic(geo(34.440_106_1, 132.414_780_4, 233.362)).unwrap();
        assert_relative_eq!(xyz, Point3::new(-3_551_876.829, 3_887_786.860, 3_586_946.387), epsilon = 1.5e-3);
    }

    #[test]
    fn matches_pymap3d_reference_enu_offset() {
        // pymap3d tests: from lla0 = (42, -82, 200), azimuth 33°, elevation 70°, slant range 1000 m
        // lands at lla1 = (42.002582, -81.997752, 1139.7018).
        let enu_frame = LocalEnu::new(42.0, -82.0, 200.0).unwrap();
        let (az, el, r) = (33f64.to_radians(), 70f64.to_radians(), 1000.0);
        let enu = Point3::new(r * el.cos() * az.sin(), r * el.cos() * az.cos(), r * el.sin());
        let g = enu_frame.geodetic_from_enu(&enu).unwrap();
        assert_relative_eq!(g.lat_deg, 42.002_582, epsilon = 1e-6);
        assert_relative_eq!(g.lon_deg, -81.997_752, epsilon = 1e-6);
        assert_relative_eq!(g.alt_m, 1139.7018, epsilon = 1e-3);
    }

    #[test]
    fn equator_and_poles_sit_on_the_axes() {
        assert_relative_eq!(ecef_from_geodetic(geo(0.0, 0.0, 0.0)).unwrap(), Point3::new(WGS84_A, 0.0, 0.0));
        let north = ecef_from_geodetic(geo(90.0, 123.0, 10.0)).unwrap();
        assert_relative_eq!(north, Point3::new(0.0, 0.0, WGS84_B + 10.0), epsilon = 1e-6);
        let g = geodetic_from_ecef(&Point3::new(0.0, 0.0, -WGS84_B + 1.0)).unwrap();
        assert_relative_eq!(g.lat_deg, -90.0, epsilon = 1e-12);
        assert_relative_eq!(g.alt_m, -1.0, epsilon = 1e-6);
        let g = geodetic_from_ecef(&Point3::new(0.0, WGS84_A - 1.0, 0.0)).unwrap();
        assert_relative_eq!(g.lon_deg, 90.0, epsilon = 1e-12);
        assert_relative_eq!(g.alt_m, -1.0, epsilon = 1e-6);
    }

    #[test]
    fn high_altitudes_round_trip_to_sub_millimetre() {
        for alt_m in [-10_000.0, 0.0, 8_848.0, 400_000.0, 20_200_000.0, 35_786_000.0] {
            let g = geo(49.0, 8.4, alt_m);
            let back = geodetic_from_ecef(&ecef_from_geodetic(g).unwrap()).unwrap();
            assert!((back.alt_m - alt_m).abs() < 1e-4, "alt {alt_m}: {}", back.alt_m);
            assert!((back.lat_deg - 49.0).abs() < 1e-10);
        }
    }

    #[test]
    fn enu_works_across_the_antimeridian() {
        let enu = LocalEnu::new(-16.5, 179.999, 0.0).unwrap();
        // A point 0.002° further east, across ±180°.
        let p = enu.enu_from_geodetic(geo(-16.5, -179.999, 0.0)).unwrap();
        assert!(p.x > 200.0 && p.x < 220.0, "east offset {}", p.x);
        assert!(p.y.abs() < 1e-2);
        let back = enu.geodetic_from_enu(&p).unwrap();
        assert!(dlon(back.lon_deg, -179.999).abs() < 1e-11);
    }

    #[test]
    fn enu_at_the_north_pole_round_trips() {
        let enu = LocalEnu::new(90.0, 0.0, 0.0).unwrap();
        let p = Point3::new(1000.0, -2000.0, 5.0);
        let back = enu.enu_from_geodetic(enu.geodetic_from_enu(&p).unwrap()).unwrap();
        assert!((back - p).norm() < 1e-6);
    }

    #[test]
    fn refuses_nan_and_out_of_range_input_without_panicking() {
        assert!(Geodetic::new(f64::NAN, 0.0, 0.0).is_err());
        assert!(Geodetic::new(91.0, 0.0, 0.0).is_err());
        assert!(LocalEnu::new(0.0, f64::INFINITY, 0.0).is_err());
        let bad = Geodetic { lat_deg: 0.0, lon_deg: 0.0, alt_m: f64::NAN };
        assert!(ecef_from_geodetic(bad).is_err());
        assert!(geodetic_from_ecef(&Point3::new(f64::NAN, 0.0, 0.0)).is_err());
        assert!(geodetic_from_ecef(&Point3::origin()).is_err());
        let enu = LocalEnu::new(49.0, 8.4, 100.0).unwrap();
        assert!(enu.geodetic_from_enu(&Point3::new(0.0, f64::NAN, 0.0)).is_err());
        assert!(enu.enu_from_ecef(&Point3::new(0.0, 0.0, f64::INFINITY)).is_err());
        assert!(enu.enu_from_geodetic(bad).is_err());
    }

    #[test]
    fn covariance_rotates_to_ecef_and_back() {
        let enu = LocalEnu::new(49.01, 8.43, 110.0).unwrap();
        let cov_enu = Matrix3::new(4.0, 0.5, 0.0, 0.5, 9.0, 0.1, 0.0, 0.1, 25.0);
        let cov_ecef = enu.covariance_ecef_from_enu(&cov_enu);
        assert_relative_eq!(cov_ecef.trace(), cov_enu.trace(), epsilon = 1e-9);
        assert_relative_eq!(enu.covariance_enu_from_ecef(&cov_ecef), cov_enu, epsilon = 1e-12);
        assert_relative_eq!(covariance_ecef_from_enu(49.01, 8.43, &cov_enu), cov_ecef, epsilon = 1e-12);
        assert_relative_eq!(covariance_enu_from_ecef(49.01, 8.43, &cov_ecef), cov_enu, epsilon = 1e-12);
        // Pure vertical variance ends up along the ECEF "up" direction.
        let up_only = enu.covariance_ecef_from_enu(&Matrix3::from_diagonal(&Vector3::new(0.0, 0.0, 1.0)));
        let up = enu.ecef_from_enu_rotation().column(2).into_owned();
        assert_relative_eq!(up_only, up * up.transpose(), epsilon = 1e-12);
    }

    #[test]
    fn enu_axes_point_east_north_up() {
        let enu = LocalEnu::new(0.0, 0.0, 0.0).unwrap();
        // At lat 0 lon 0: east = +y_ecef, north = +z_ecef, up = +x_ecef.
        let e = enu.ecef_from_enu(&Point3::new(1.0, 0.0, 0.0)).unwrap();
        assert_relative_eq!(e, Point3::new(WGS84_A, 1.0, 0.0), epsilon = 1e-9);
        let n = enu.ecef_from_enu(&Point3::new(0.0, 1.0, 0.0)).unwrap();
        assert_relative_eq!(n, Point3::new(WGS84_A, 0.0, 1.0), epsilon = 1e-9);
    }

    #[test]
    fn enu_round_trip_error_over_a_10_km_grid_is_far_below_a_millimetre() {
        let mut max_err_m: f64 = 0.0;
        for (lat, lon) in [(49.01, 8.43), (1.3, 103.8), (-33.9, 151.2), (78.2, 15.6), (89.5, -45.0), (0.0, 180.0)] {
            let frame = LocalEnu::new(lat, lon, 50.0).unwrap();
            for i in -10..=10 {
                for j in -10..=10 {
                    let p = Point3::new(1000.0 * f64::from(i), 1000.0 * f64::from(j), 100.0 * f64::from(i - j));
                    let back = frame.enu_from_geodetic(frame.geodetic_from_enu(&p).unwrap()).unwrap();
                    max_err_m = max_err_m.max((back - p).norm());
                }
            }
        }
        println!("max ENU round-trip error over the grid: {max_err_m:.3e} m");
        assert!(max_err_m < 1e-6, "{max_err_m}");
    }

    proptest! {
        #[test]
        fn enu_to_wgs84_to_enu_round_trips_within_a_millimetre(
            lat in -89.9..89.9f64,
            lon in -180.0..180.0f64,
            alt in -500.0..9000.0f64,
            e in -10_000.0..10_000.0f64,
            n in -10_000.0..10_000.0f64,
            u in -1000.0..1000.0f64,
        ) {
            let frame = LocalEnu::new(lat, lon, alt).unwrap();
            let p = Point3::new(e, n, u);
            let g = frame.geodetic_from_enu(&p).unwrap();
            let back = frame.enu_from_geodetic(g).unwrap();
            prop_assert!((back - p).norm() < 1e-3, "error {} m", (back - p).norm());
        }

        #[test]
        fn geodetic_to_ecef_round_trips_to_sub_millimetre(
            lat in -90.0..=90.0f64,
            lon in -180.0..180.0f64,
            alt in -10_000.0..1_000_000.0f64,
        ) {
            let g = Geodetic::new(lat, lon, alt).unwrap();
            let xyz = ecef_from_geodetic(g).unwrap();
            let back = geodetic_from_ecef(&xyz).unwrap();
            let xyz_back = ecef_from_geodetic(back).unwrap();
            prop_assert!((xyz_back - xyz).norm() < 1e-4, "error {} m", (xyz_back - xyz).norm());
            prop_assert!((back.alt_m - alt).abs() < 1e-4);
        }
    }
}
