//! Overlap of oriented boxes: rotated bird's-eye-view (BEV) IoU, 3D IoU and BEV centre distance.
//!
//! Boxes are upright in their frame (z up), so the BEV footprint is an oriented rectangle and the
//! 3D intersection is the footprint intersection times the overlap of the z intervals — the
//! definition the KITTI devkit uses. Footprints are intersected exactly by Sutherland–Hodgman
//! clipping of one convex polygon by the other.
//!
//! Every function is total: a box with a non-finite field or a non-positive size has no area and
//! overlaps nothing (IoU 0).

use fusor_core::Box3;

/// A 2D point `[x, y]` in metres.
type P2 = [f64; 2];

/// Twice the signed area of the triangle `a, b, p`: > 0 when `p` is left of `a → b`.
fn cross(a: P2, b: P2, p: P2) -> f64 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

/// Signed polygon area by the shoelace formula (> 0 counter-clockwise), square metres.
fn signed_area(poly: &[P2]) -> f64 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let (p, q) = (poly[i], poly[(i + 1) % n]);
            p[0] * q[1] - q[0] * p[1]
        })
        .sum::<f64>()
        / 2.0
}

/// The BEV footprint of `b`, counter-clockwise, or `None` when it has no area (non-finite field,
/// size ≤ 0).
fn footprint(b: &Box3) -> Option<[P2; 4]> {
    let finite = b.center.iter().chain(b.size.iter()).all(|v| v.is_finite()) && b.yaw_rad.is_finite();
    if !finite || b.size.x <= 0.0 || b.size.y <= 0.0 {
        return None;
    }
    let (s, c) = b.yaw_rad.sin_cos();
    let (hl, hw) = (b.size.x / 2.0, b.size.y / 2.0);
    // Front-left, rear-left, rear-right, front-right: counter-clockwise for positive sizes.
    let local = [[hl, hw], [-hl, hw], [-hl, -hw], [hl, -hw]];
    Some(local.map(|[dx, dy]| [b.center.x + c * dx - s * dy, b.center.y + s * dx + c * dy]))
}

/// Intersection of a polygon with a convex counter-clockwise polygon (Sutherland–Hodgman).
/// The result is convex when `subject` is, and may be empty.
pub fn clip_convex(subject: &[P2], clip: &[P2]) -> Vec<P2> {
    let mut output: Vec<P2> = subject.to_vec();
    let n = clip.len();
    for i in 0..n {
        if output.is_empty() {
            break;
        }
        let (a, b) = (clip[i], clip[(i + 1) % n]);
        let input = std::mem::take(&mut output);
        let m = input.len();
        for j in 0..m {
            let (s, e) = (input[(j + m - 1) % m], input[j]);
            let (ds, de) = (cross(a, b, s), cross(a, b, e));
            // Points on the edge count as inside, so touching boxes yield a degenerate (zero-area)
            // polygon rather than a spurious sliver.
            let (s_in, e_in) = (ds >= 0.0, de >= 0.0);
            if e_in {
                if !s_in {
                    output.push(intersect(s, e, ds, de));
                }
                output.push(e);
            } else if s_in {
                output.push(intersect(s, e, ds, de));
            }
        }
    }
    output
}

/// The point where segment `s → e` crosses the clip line, given the signed distances (scaled
/// alike) of `s` and `e` to it, which have opposite signs.
fn intersect(s: P2, e: P2, ds: f64, de: f64) -> P2 {
    let t = ds / (ds - de);
    [s[0] + t * (e[0] - s[0]), s[1] + t * (e[1] - s[1])]
}

/// Area of the intersection of the two boxes' BEV footprints, square metres.
pub fn bev_intersection_area(a: &Box3, b: &Box3) -> f64 {
    let (Some(pa), Some(pb)) = (footprint(a), footprint(b)) else {
        return 0.0;
    };
    // Cheap reject: circumscribed circles apart.
    let (ra, rb) = (a.size.x.hypot(a.size.y) / 2.0, b.size.x.hypot(b.size.y) / 2.0);
    if (a.center.x - b.center.x).hypot(a.center.y - b.center.y) > ra + rb {
        return 0.0;
    }
    let inter = clip_convex(&pa, &pb);
    if inter.len() < 3 {
        return 0.0;
    }
    signed_area(&inter).max(0.0)
}

/// Rotated intersection over union of the BEV footprints, in [0, 1].
pub fn iou_bev(a: &Box3, b: &Box3) -> f64 {
    let inter = bev_intersection_area(a, b);
    if inter <= 0.0 {
        return 0.0;
    }
    let union = a.size.x * a.size.y + b.size.x * b.size.y - inter;
    if union > 0.0 {
        (inter / union).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// 3D intersection over union of two upright boxes (BEV intersection × z overlap), in [0, 1].
pub fn iou_3d(a: &Box3, b: &Box3) -> f64 {
    if !(a.size.z > 0.0 && b.size.z > 0.0) {
        return 0.0;
    }
    let top = (a.center.z + a.size.z / 2.0).min(b.center.z + b.size.z / 2.0);
    let bottom = (a.center.z - a.size.z / 2.0).max(b.center.z - b.size.z / 2.0);
    let dz = top - bottom;
    if dz.is_nan() || dz <= 0.0 {
        return 0.0;
    }
    let inter = bev_intersection_area(a, b) * dz;
    if inter <= 0.0 {
        return 0.0;
    }
    let union = a.size.product() + b.size.product() - inter;
    if union > 0.0 {
        (inter / union).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Distance between the box centres in the x-y plane, metres (nuScenes' matching criterion).
/// `f64::INFINITY` when either centre is not finite.
pub fn center_distance_bev(a: &Box3, b: &Box3) -> f64 {
    let d = (a.center.x - b.center.x).hypot(a.center.y - b.center.y);
    if d.is_finite() {
        d
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use fusor_core::FrameId;
    use nalgebra::{Point3, Vector3};
    use proptest::prelude::*;
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};

    fn bx(x: f64, y: f64, z: f64, l: f64, w: f64, h: f64, yaw: f64) -> Box3 {
        Box3 {
            frame_id: FrameId::new("base_link"),
            center: Point3::new(x, y, z),
            size: Vector3::new(l, w, h),
            yaw_rad: yaw,
        }
    }

    #[test]
    fn identical_boxes_have_iou_one() {
        let a = bx(3.0, -2.0, 0.8, 4.0, 2.0, 1.6, 0.7);
        assert_relative_eq!(iou_bev(&a, &a), 1.0, epsilon = 1e-12);
        assert_relative_eq!(iou_3d(&a, &a), 1.0, epsilon = 1e-12);
    }

    #[test]
    fn four_by_two_box_shifted_one_metre_along_length_has_iou_three_fifths() {
        // Overlap 3 × 2 = 6, union 8 + 8 − 6 = 10.
        let a = bx(0.0, 0.0, 0.0, 4.0, 2.0, 1.0, 0.0);
        let b = bx(1.0, 0.0, 0.0, 4.0, 2.0, 1.0, 0.0);
        assert_relative_eq!(iou_bev(&a, &b), 0.6, epsilon = 1e-12);
        assert_relative_eq!(iou_3d(&a, &b), 0.6, epsilon = 1e-12);
    }

    #[test]
    fn four_by_two_box_shifted_half_a_metre_sideways_has_iou_three_fifths() {
        // Overlap 4 × 1.5 = 6, union 10.
        let a = bx(0.0, 0.0, 0.0, 4.0, 2.0, 1.0, 0.3);
        let (s, c) = 0.3f64.sin_cos();
        let b = bx(-0.5 * s, 0.5 * c, 0.0, 4.0, 2.0, 1.0, 0.3);
        assert_relative_eq!(iou_bev(&a, &b), 0.6, epsilon = 1e-12);
    }

    #[test]
    fn rectangle_turned_ninety_degrees_about_its_centre_overlaps_in_a_square() {
        // 4 × 2 against 2 × 4: overlap 2 × 2 = 4, union 8 + 8 − 4 = 12.
        let a = bx(5.0, 5.0, 0.0, 4.0, 2.0, 1.0, 0.0);
        let b = bx(5.0, 5.0, 0.0, 4.0, 2.0, 1.0, FRAC_PI_2);
        assert_relative_eq!(iou_bev(&a, &b), 1.0 / 3.0, epsilon = 1e-12);
    }

    #[test]
    fn square_turned_ninety_degrees_about_its_centre_is_itself() {
        let a = bx(1.0, 2.0, 0.0, 2.0, 2.0, 1.0, 0.2);
        let b = bx(1.0, 2.0, 0.0, 2.0, 2.0, 1.0, 0.2 + FRAC_PI_2);
        assert_relative_eq!(iou_bev(&a, &b), 1.0, epsilon = 1e-12);
        // Half a turn is the same box too.
        let c = bx(1.0, 2.0, 0.0, 2.0, 2.0, 1.0, 0.2 + PI);
        assert_relative_eq!(iou_bev(&a, &c), 1.0, epsilon = 1e-12);
    }

    #[test]
    fn square_turned_forty_five_degrees_overlaps_in_a_regular_octagon() {
        // Unit-half-side square vs the same turned 45°: the octagon has area 8(√2 − 1)·1² .
        let a = bx(0.0, 0.0, 0.0, 2.0, 2.0, 1.0, 0.0);
        let b = bx(0.0, 0.0, 0.0, 2.0, 2.0, 1.0, FRAC_PI_4);
        let inter = 8.0 * (2f64.sqrt() - 1.0);
        assert_relative_eq!(bev_intersection_area(&a, &b), inter, epsilon = 1e-12);
        assert_relative_eq!(iou_bev(&a, &b), inter / (8.0 - inter), epsilon = 1e-12);
    }

    #[test]
    fn iou_3d_multiplies_footprint_overlap_by_height_overlap() {
        // Same footprint, heights [0, 2] and [1, 3]: overlap 1 of union 3.
        let a = bx(0.0, 0.0, 1.0, 4.0, 2.0, 2.0, 0.0);
        let b = bx(0.0, 0.0, 2.0, 4.0, 2.0, 2.0, 0.0);
        assert_relative_eq!(iou_bev(&a, &b), 1.0, epsilon = 1e-12);
        assert_relative_eq!(iou_3d(&a, &b), 1.0 / 3.0, epsilon = 1e-12);
        let c = bx(0.0, 0.0, 5.0, 4.0, 2.0, 2.0, 0.0);
        assert_eq!(iou_3d(&a, &c), 0.0);
    }

    #[test]
    fn touching_and_disjoint_boxes_have_iou_zero() {
        let a = bx(0.0, 0.0, 0.0, 4.0, 2.0, 1.0, 0.0);
        assert_eq!(iou_bev(&a, &bx(4.0, 0.0, 0.0, 4.0, 2.0, 1.0, 0.0)), 0.0);
        assert_eq!(iou_bev(&a, &bx(40.0, 0.0, 0.0, 4.0, 2.0, 1.0, 1.0)), 0.0);
    }

    #[test]
    fn degenerate_and_non_finite_boxes_overlap_nothing() {
        let a = bx(0.0, 0.0, 0.0, 4.0, 2.0, 1.0, 0.0);
        assert_eq!(iou_bev(&a, &bx(0.0, 0.0, 0.0, 0.0, 2.0, 1.0, 0.0)), 0.0);
        assert_eq!(iou_bev(&a, &bx(f64::NAN, 0.0, 0.0, 4.0, 2.0, 1.0, 0.0)), 0.0);
        assert_eq!(iou_3d(&a, &bx(0.0, 0.0, 0.0, 4.0, 2.0, f64::INFINITY, 0.0)), 0.0);
        assert_eq!(iou_bev(&a, &bx(0.0, 0.0, 0.0, -4.0, 2.0, 1.0, 0.0)), 0.0);
        assert_eq!(center_distance_bev(&a, &bx(f64::NAN, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0)), f64::INFINITY);
    }

    /// xorshift64*: a deterministic generator for the Monte-Carlo check.
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn in_bev(b: &Box3, x: f64, y: f64) -> bool {
        b.contains(&Point3::new(x, y, b.center.z))
    }

    #[test]
    fn rotated_iou_agrees_with_a_monte_carlo_estimate() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let pairs = [
            (bx(0.0, 0.0, 0.0, 4.0, 2.0, 1.0, 0.3), bx(0.8, 0.4, 0.0, 3.5, 1.8, 1.0, -0.5)),
            (bx(0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0), bx(0.3, 0.3, 0.0, 0.8, 0.6, 1.0, 1.1)),
            (bx(2.0, 1.0, 0.0, 5.0, 1.0, 1.0, 2.0), bx(2.0, 1.0, 0.0, 5.0, 1.0, 1.0, 2.6)),
        ];
        for (a, b) in pairs {
            // Sample the square that holds both boxes' circumscribed circles.
            let r = a.size.x.hypot(a.size.y).max(b.size.x.hypot(b.size.y));
            let (cx, cy) = ((a.center.x + b.center.x) / 2.0, (a.center.y + b.center.y) / 2.0);
            let half = r + (a.center.x - b.center.x).hypot(a.center.y - b.center.y);
            let (mut both, mut either) = (0u64, 0u64);
            for _ in 0..200_000 {
                let x = cx + (2.0 * rng.uniform() - 1.0) * half;
                let y = cy + (2.0 * rng.uniform() - 1.0) * half;
                let (ia, ib) = (in_bev(&a, x, y), in_bev(&b, x, y));
                both += u64::from(ia && ib);
                either += u64::from(ia || ib);
            }
            let estimate = both as f64 / either as f64;
            let exact = iou_bev(&a, &b);
            assert!((estimate - exact).abs() < 0.01, "exact {exact}, Monte-Carlo {estimate}");
        }
    }

    fn arb_box() -> impl Strategy<Value = Box3> {
        (-5.0..5.0, -5.0..5.0, -1.0..1.0, 0.1..6.0, 0.1..3.0, 0.1..3.0, -4.0..4.0)
            .prop_map(|(x, y, z, l, w, h, yaw)| bx(x, y, z, l, w, h, yaw))
    }

    proptest! {
        #[test]
        fn rotated_iou_is_symmetric_and_within_unit_interval(a in arb_box(), b in arb_box()) {
            for (ab, ba) in [(iou_bev(&a, &b), iou_bev(&b, &a)), (iou_3d(&a, &b), iou_3d(&b, &a))] {
                prop_assert!((0.0..=1.0).contains(&ab));
                prop_assert!((ab - ba).abs() < 1e-9, "{} vs {}", ab, ba);
            }
            prop_assert!(iou_3d(&a, &b) <= iou_bev(&a, &b) + 1e-9 || a.size.z != b.size.z);
        }

        #[test]
        fn intersection_never_exceeds_the_smaller_footprint(a in arb_box(), b in arb_box()) {
            let inter = bev_intersection_area(&a, &b);
            prop_assert!(inter <= (a.size.x * a.size.y).min(b.size.x * b.size.y) + 1e-9);
        }
    }
}
