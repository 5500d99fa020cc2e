//! Size/shape class guess.
//!
//! Each class has a prior box size (KITTI training means: car 3.9 × 1.6 × 1.56 m, pedestrian
//! 0.8 × 0.6 × 1.73 m, cyclist 1.76 × 0.6 × 1.73 m). A lidar sees only the near faces of an
//! object, so an observed length or width *shorter* than the prior is penalised softly (wide
//! spread below the mean), a longer one hard; height is seen fully (ground to top) and is
//! compared symmetrically. The class score is `exp(−d²/2)` of that normalised distance; the best
//! class wins, and below `min_score` the guess is `Other`.

use fusor_core::ObjectClass;

/// Prior of one class: mean (length, width, height) in metres and the spreads below and above.
struct Prior {
    class: ObjectClass,
    mean: [f32; 3],
    below: [f32; 3],
    above: [f32; 3],
}

const PRIORS: [Prior; 3] = [
    Prior { class: ObjectClass::Car, mean: [3.9, 1.6, 1.56], below: [2.0, 0.8, 0.3], above: [0.9, 0.35, 0.35] },
    Prior { class: ObjectClass::Pedestrian, mean: [0.8, 0.6, 1.73], below: [0.5, 0.4, 0.3], above: [0.35, 0.25, 0.2] },
    Prior { class: ObjectClass::Cyclist, mean: [1.76, 0.6, 1.73], below: [0.8, 0.4, 0.15], above: [0.35, 0.3, 0.2] },
];

/// The guess for one box: the best class, its score in [0, 1], and every class's score
/// (`[car, pedestrian, cyclist]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassGuess {
    /// Best class, or `Other` when no class scores `min_score`.
    pub class: ObjectClass,
    /// Score of `class` (for `Other`: 1 − the best class score).
    pub score: f32,
    /// Scores of car, pedestrian, cyclist.
    pub scores: [f32; 3],
}

/// Guesses the class of a box of `length_m × width_m × height_m` (length ≥ width).
pub fn classify(length_m: f32, width_m: f32, height_m: f32, min_score: f32) -> ClassGuess {
    let dims = [length_m, width_m, height_m];
    let mut scores = [0.0f32; 3];
    for (s, prior) in scores.iter_mut().zip(&PRIORS) {
        let mut d2 = 0.0;
        for (k, dim) in dims.iter().enumerate() {
            let diff = dim - prior.mean[k];
            let spread = if diff < 0.0 { prior.below[k] } else { prior.above[k] };
            d2 += (diff / spread).powi(2);
        }
        *s = if d2.is_finite() { (-0.5 * d2).exp() } else { 0.0 };
    }
    let (mut best, mut best_score) = (0, scores[0]);
    for (k, &s) in scores.iter().enumerate() {
        if s > best_score {
            (best, best_score) = (k, s);
        }
    }
    if best_score < min_score {
        ClassGuess { class: ObjectClass::Other, score: 1.0 - best_score, scores }
    } else {
        ClassGuess { class: PRIORS[best].class, score: best_score, scores }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_sizes_get_their_class() {
        assert_eq!(classify(4.1, 1.7, 1.5, 0.2).class, ObjectClass::Car);
        assert_eq!(classify(0.7, 0.5, 1.75, 0.2).class, ObjectClass::Pedestrian);
        assert_eq!(classify(1.8, 0.6, 1.7, 0.2).class, ObjectClass::Cyclist);
    }

    #[test]
    fn a_car_seen_from_behind_is_still_a_car_and_a_wall_is_other() {
        assert_eq!(classify(1.7, 0.5, 1.4, 0.1).class, ObjectClass::Car);
        let wall = classify(9.0, 0.4, 2.4, 0.1);
        assert_eq!(wall.class, ObjectClass::Other);
        assert!(wall.score > 0.5);
    }
}
