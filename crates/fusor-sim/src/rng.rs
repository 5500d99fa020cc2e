//! Deterministic random streams.
//!
//! Every random draw comes from a ChaCha8 stream keyed by the scenario seed and a purpose
//! (world layout, a lidar column of scan k, the GNSS noise, ...), so a result never depends on the
//! order in which threads ran or on how many draws another part made.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A reproducible random stream.
pub type SimRng = ChaCha8Rng;

/// Purposes of random streams (the second key of [`stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Purpose {
    World = 1,
    Ego = 2,
    Lidar = 3,
    Gnss = 5,
    Imu = 6,
    Faults = 7,
    Schedule = 8,
    Clutter = 9,
}

/// SplitMix64 finaliser: a cheap, well-mixed hash of a 64-bit word.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream for `(seed, purpose, a, b)`; `a` and `b` index e.g. scan and column.
pub(crate) fn stream(seed: u64, purpose: Purpose, a: u64, b: u64) -> SimRng {
    let key = mix(mix(mix(seed) ^ (purpose as u64)) ^ a.wrapping_mul(0x1000_0000_01B3)) ^ mix(b.wrapping_add(1));
    ChaCha8Rng::seed_from_u64(mix(key))
}

/// A standard normal draw (Box–Muller; one of the pair is discarded to keep streams simple).
pub(crate) fn gauss<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
