//! The multi-object tracker: prediction, gating, assignment, track management.

use crate::kalman::{Kalman, Noise};
use crate::TrackingError;
use fusor_core::{Box3, Detection, FrameId, ObjectClass, Stamp, Track};
use nalgebra::{Point3, Vector3};
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use std::collections::BTreeMap;
use std::f64::consts::PI;

/// Chi-square quantile for 3 degrees of freedom at 99 %: the default gate on the squared
/// Mahalanobis distance of a detection's centre.
pub const CHI2_3DOF_99: f64 = 11.345;

/// Integer scale of squared Mahalanobis distances handed to the Hungarian algorithm.
const COST_SCALE: f64 = 1e4;

/// Tracker parameters. Distances in metres, times in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Frame the tracker works in; detections in any other frame are dropped and counted.
    pub frame_id: FrameId,
    /// Gate on the squared Mahalanobis distance of a detection's centre (3 dof).
    pub gate_chi2: f64,
    /// Associated detections (hits) after which a track is confirmed and reported.
    pub confirm_hits: u32,
    /// Consecutive misses a confirmed track survives, coasting on its prediction; one more
    /// deletes it. Tentative tracks are deleted at their first miss.
    pub max_misses: u32,
    /// White-acceleration standard deviation, horizontal, m/s².
    pub accel_std_xy: f64,
    /// White-acceleration standard deviation, vertical, m/s².
    pub accel_std_z: f64,
    /// Standard deviation of a detected centre, horizontal, m.
    pub meas_std_xy: f64,
    /// Standard deviation of a detected centre, vertical, m.
    pub meas_std_z: f64,
    /// Standard deviation of a new track's unknown velocity, m/s.
    pub init_velocity_std: f64,
    /// Weight of a new detection in the exponential smoothing of box size and heading, (0, 1].
    pub smoothing: f64,
    /// Speed above which the reported heading is the direction of motion, m/s.
    pub heading_from_motion_speed: f64,
    /// A gap between frames longer than this resets the tracker (counted), s.
    pub max_gap_s: f64,
}

impl Default for TrackerConfig {
    /// In `map`; 99 % gate; confirmed at the 3rd hit; coasting through 2 misses, deleted at the
    /// 3rd consecutive one; noise tuned for road users seen at ~10 Hz by a lidar detector.
    fn default() -> Self {
        Self {
            frame_id: FrameId::new("map"),
            gate_chi2: CHI2_3DOF_99,
            confirm_hits: 3,
            max_misses: 2,
            accel_std_xy: 3.0,
            accel_std_z: 0.5,
            meas_std_xy: 0.3,
            meas_std_z: 0.2,
            init_velocity_std: 10.0,
            smoothing: 0.3,
            heading_from_motion_speed: 1.0,
            max_gap_s: 2.0,
        }
    }
}

impl TrackerConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), TrackingError> {
        let positive = [
            ("gate_chi2", self.gate_chi2),
            ("accel_std_xy", self.accel_std_xy),
            ("accel_std_z", self.accel_std_z),
            ("meas_std_xy", self.meas_std_xy),
            ("meas_std_z", self.meas_std_z),
            ("init_velocity_std", self.init_velocity_std),
            ("max_gap_s", self.max_gap_s),
        ];
        for (key, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(TrackingError::Config { key, why: format!("{v} must be finite and > 0") });
            }
        }
        if !(self.smoothing > 0.0 && self.smoothing <= 1.0) {
            return Err(TrackingError::Config {
                key: "smoothing",
                why: format!("{} must be in (0, 1]", self.smoothing),
            });
        }
        if !(self.heading_from_motion_speed.is_finite() && self.heading_from_motion_speed >= 0.0) {
            return Err(TrackingError::Config {
                key: "heading_from_motion_speed",
                why: format!("{} must be finite and ≥ 0", self.heading_from_motion_speed),
            });
        }
        if self.confirm_hits == 0 {
            return Err(TrackingError::Config { key: "confirm_hits", why: "must be ≥ 1".to_owned() });
        }
        Ok(())
    }

    fn noise(&self) -> Noise {
        Noise {
            accel_xy: self.accel_std_xy,
            accel_z: self.accel_std_z,
            meas_xy: self.meas_std_xy,
            meas_z: self.meas_std_z,
            init_velocity: self.init_velocity_std,
        }
    }
}

/// Counters of what the tracker did and what it refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Frames processed.
    pub frames: u64,
    /// Detections with a non-finite or non-positive field (centre, size, yaw, score), dropped.
    pub dropped_non_finite: u64,
    /// Detections in a frame other than the tracker's, dropped.
    pub dropped_wrong_frame: u64,
    /// Resets because a stamp went backwards.
    pub time_resets: u64,
    /// Resets because the gap between frames exceeded `max_gap_s`.
    pub gap_resets: u64,
    /// Tracks started (tentative).
    pub born: u64,
    /// Tracks confirmed.
    pub confirmed: u64,
    /// Tracks deleted (tentative or confirmed).
    pub deleted: u64,
}

/// One track's full state.
#[derive(Debug, Clone)]
struct TrackState {
    id: u64,
    kf: Kalman,
    /// Smoothed length, width, height, m.
    size: Vector3<f64>,
    /// Smoothed detected heading, rad, folded to the track's direction (detected headings are
    /// ambiguous by π).
    yaw_rad: f64,
    /// Detections per class.
    votes: BTreeMap<ObjectClass, (u32, f64)>,
    score: f32,
    hits: u32,
    misses: u32,
    confirmed: bool,
}

/// `a` wrapped to (−π, π].
fn wrap_pi(a: f64) -> f64 {
    let w = (a + PI).rem_euclid(2.0 * PI) - PI;
    if w <= -PI {
        w + 2.0 * PI
    } else {
        w
    }
}

impl TrackState {
    fn class(&self) -> ObjectClass {
        // Most detections wins; ties go to the larger summed score, then the class order.
        self.votes
            .iter()
            .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(a.1 .1.total_cmp(&b.1 .1)))
            .map_or(ObjectClass::Other, |(c, _)| *c)
    }

    fn vote(&mut self, det: &Detection) {
        let v = self.votes.entry(det.class).or_insert((0, 0.0));
        v.0 += 1;
        v.1 += f64::from(det.score);
    }

    fn heading(&self, min_speed: f64) -> f64 {
        let v = self.kf.velocity();
        if v.x.hypot(v.y) > min_speed {
            v.y.atan2(v.x)
        } else {
            self.yaw_rad
        }
    }

    fn to_track(&self, stamp: Stamp, config: &TrackerConfig) -> Track {
        Track {
            id: self.id,
            stamp,
            bbox: Box3 {
                frame_id: config.frame_id.clone(),
                center: Point3::from(self.kf.position()),
                size: self.size,
                yaw_rad: self.heading(config.heading_from_motion_speed),
            },
            velocity: self.kf.velocity(),
            class: self.class(),
            score: self.score,
            hits: self.hits,
        }
    }
}

/// A multi-object tracker in one fixed frame (by default `map`).
///
/// Each frame: predict every track to the frame's stamp; gate detection–track pairs on the
/// squared Mahalanobis distance of the detected centre; assign by the Hungarian algorithm
/// (minimum total distance over gated pairs); update matched tracks (Kalman filter on the
/// centre, exponential smoothing of size and heading, class vote); count misses; start a
/// tentative track from every unmatched detection; confirm after `confirm_hits` hits; delete
/// tentative tracks at their first miss and confirmed ones after more than `max_misses`
/// consecutive misses.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<TrackState>,
    last_stamp: Option<Stamp>,
    next_id: u64,
    stats: TrackerStats,
}

impl Tracker {
    /// A tracker with a validated configuration.
    pub fn new(config: TrackerConfig) -> Result<Self, TrackingError> {
        config.validate()?;
        Ok(Self { config, tracks: Vec::new(), last_stamp: None, next_id: 1, stats: TrackerStats::default() })
    }

    /// The configuration.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// What the tracker has done and dropped so far.
    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// Forgets every track (ids keep increasing, so they stay unique over the run).
    pub fn reset(&mut self) {
        self.stats.deleted += self.tracks.len() as u64;
        self.tracks.clear();
        self.last_stamp = None;
    }

    /// Processes the detections of one frame taken at `stamp` (their own stamps are not used)
    /// and returns the confirmed tracks, coasting ones included, with boxes and velocities
    /// valid at `stamp` in the tracker's frame.
    ///
    /// A stamp earlier than the previous one, or later by more than `max_gap_s`, resets the
    /// tracker first (counted in [`TrackerStats`]).
    pub fn update(&mut self, stamp: Stamp, detections: &[Detection]) -> Vec<Track> {
        self.stats.frames += 1;
        let dt_s = match self.last_stamp {
            Some(last) if stamp < last => {
                self.stats.time_resets += 1;
                self.reset();
                0.0
            }
            Some(last) if (stamp - last).secs_f64() > self.config.max_gap_s => {
                self.stats.gap_resets += 1;
                self.reset();
                0.0
            }
            Some(last) => (stamp - last).secs_f64(),
            None => 0.0,
        };
        self.last_stamp = Some(stamp);
        let noise = self.config.noise();
        for t in &mut self.tracks {
            t.kf.predict(dt_s, &noise);
        }

        let dets: Vec<&Detection> = detections.iter().filter(|d| self.accept(d)).collect();
        let assignment = self.associate(&dets, &noise);

        let mut det_used = vec![false; dets.len()];
        for (ti, det_index) in assignment.iter().enumerate() {
            let Some(t) = self.tracks.get_mut(ti) else { continue };
            match det_index {
                Some(di) => {
                    let Some(det) = dets.get(*di) else { continue };
                    det_used[*di] = true;
                    Self::correct(t, det, &self.config, &noise);
                    if !t.confirmed && t.hits >= self.config.confirm_hits {
                        t.confirmed = true;
                        self.stats.confirmed += 1;
                    }
                }
                None => t.misses += 1,
            }
        }
        let before = self.tracks.len();
        let max_misses = self.config.max_misses;
        self.tracks.retain(|t| t.misses == 0 || (t.confirmed && t.misses <= max_misses));
        self.stats.deleted += (before - self.tracks.len()) as u64;

        for (det, _) in dets.iter().zip(&det_used).filter(|(_, used)| !**used) {
            self.birth(det, &noise);
        }
        self.tracks.iter().filter(|t| t.confirmed).map(|t| t.to_track(stamp, &self.config)).collect()
    }

    /// Whether a detection is usable; counts the ones that are not.
    fn accept(&mut self, d: &Detection) -> bool {
        let b = &d.bbox;
        let finite = b.center.iter().chain(b.size.iter()).all(|v| v.is_finite())
            && b.yaw_rad.is_finite()
            && d.score.is_finite()
            && b.size.iter().all(|&s| s > 0.0);
        if !finite {
            self.stats.dropped_non_finite += 1;
            return false;
        }
        if b.frame_id != self.config.frame_id {
            self.stats.dropped_wrong_frame += 1;
            return false;
        }
        true
    }

    /// For each track, the index of its detection: minimum total squared Mahalanobis distance
    /// over gated pairs, the number of matches first.
    fn associate(&self, dets: &[&Detection], noise: &Noise) -> Vec<Option<usize>> {
        let costs: Vec<Vec<Option<i64>>> = self
            .tracks
            .iter()
            .map(|t| {
                dets.iter()
                    .map(|d| {
                        t.kf.mahalanobis_sq(&d.bbox.center.coords, noise)
                            .filter(|&d2| d2 <= self.config.gate_chi2)
                            .map(|d2| (d2 * COST_SCALE).round() as i64)
                    })
                    .collect()
            })
            .collect();
        let max_cost = costs.iter().flatten().flatten().copied().max().unwrap_or(0);
        let big = (max_cost + 1) * (self.tracks.len().min(dets.len()) as i64 + 1);
        let weights: Vec<Vec<i64>> =
            costs.iter().map(|row| row.iter().map(|c| c.map_or(0, |c| big - c)).collect()).collect();
        max_weight_assignment(&weights, dets.len())
    }

    fn correct(t: &mut TrackState, det: &Detection, config: &TrackerConfig, noise: &Noise) {
        t.kf.update(&det.bbox.center.coords, noise);
        let a = config.smoothing;
        t.size += a * (det.bbox.size - t.size);
        let mut diff = wrap_pi(det.bbox.yaw_rad - t.yaw_rad);
        if diff.abs() > PI / 2.0 {
            diff -= PI * diff.signum();
        }
        t.yaw_rad = wrap_pi(t.yaw_rad + a * diff);
        t.score += (a as f32) * (det.score - t.score);
        t.vote(det);
        t.hits += 1;
        t.misses = 0;
    }

    fn birth(&mut self, det: &Detection, noise: &Noise) {
        let mut t = TrackState {
            id: self.next_id,
            kf: Kalman::new(det.bbox.center.coords, noise),
            size: det.bbox.size,
            yaw_rad: wrap_pi(det.bbox.yaw_rad),
            votes: BTreeMap::new(),
            score: det.score,
            hits: 1,
            misses: 0,
            confirmed: false,
        };
        t.vote(det);
        self.next_id += 1;
        self.stats.born += 1;
        if self.config.confirm_hits <= 1 {
            t.confirmed = true;
            self.stats.confirmed += 1;
        }
        self.tracks.push(t);
    }
}

/// For each row of `weights` (integer weights ≥ 0, 0 meaning "no edge"), the column of a
/// maximum-weight assignment, or `None`. Any shape works.
fn max_weight_assignment(weights: &[Vec<i64>], columns: usize) -> Vec<Option<usize>> {
    let rows = weights.len();
    if rows == 0 || columns == 0 {
        return vec![None; rows];
    }
    let weight = |r: usize, c: usize| weights.get(r).and_then(|row| row.get(c)).copied().unwrap_or(0).max(0);
    let transpose = rows > columns;
    let (n, m) = if transpose { (columns, rows) } else { (rows, columns) };
    let mut matrix = Matrix::new(n, m, 0i64);
    for i in 0..n {
        for j in 0..m {
            matrix[(i, j)] = if transpose { weight(j, i) } else { weight(i, j) };
        }
    }
    let (_, assigned) = kuhn_munkres(&matrix);
    let mut out = vec![None; rows];
    for (i, &j) in assigned.iter().enumerate() {
        let (r, c) = if transpose { (j, i) } else { (i, j) };
        if weight(r, c) > 0 {
            out[r] = Some(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_prefers_the_best_total_and_handles_tall_matrices() {
        assert_eq!(max_weight_assignment(&[vec![10, 9], vec![8, 1]], 2), vec![Some(1), Some(0)]);
        assert_eq!(max_weight_assignment(&[vec![0], vec![5], vec![3]], 1), vec![None, Some(0), None]);
    }

    #[test]
    fn wrap_pi_maps_into_the_half_open_interval() {
        assert!((wrap_pi(3.0 * PI) - PI).abs() < 1e-12);
        assert!((wrap_pi(-PI) - PI).abs() < 1e-12);
        assert!((wrap_pi(0.5) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn rejects_out_of_range_config_naming_the_key() {
        let bad = TrackerConfig { gate_chi2: f64::NAN, ..TrackerConfig::default() };
        assert!(matches!(Tracker::new(bad), Err(TrackingError::Config { key: "gate_chi2", .. })));
        let bad = TrackerConfig { smoothing: 0.0, ..TrackerConfig::default() };
        assert!(matches!(Tracker::new(bad), Err(TrackingError::Config { key: "smoothing", .. })));
        let bad = TrackerConfig { confirm_hits: 0, ..TrackerConfig::default() };
        assert!(matches!(Tracker::new(bad), Err(TrackingError::Config { key: "confirm_hits", .. })));
    }
}
