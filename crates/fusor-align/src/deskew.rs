//! Motion correction of a lidar sweep ("deskewing").
//!
//! A spinning lidar fires over the whole sweep (~100 ms) while the vehicle moves, so a point
//! fired at `stamp + time_offset_s` is measured from where the sensor was *then*. Expressing every
//! point in `base_link` *at the scan stamp* needs the body motion between the two instants:
//!
//! `point_in_base_link(stamp) = base_link(stamp)_from_base_link(t_i) · base_link_from_lidar · point_in_lidar`
//!
//! The motion over one sweep is modelled as a constant body twist (linear and angular velocity
//! in `base_link`), estimated from two poses (see [`BodyTwist::between`]).

pub use fusor_core::BodyTwist;
use fusor_core::{FrameId, PointCloud};
use nalgebra::Isometry3;
use serde::Serialize;

/// What deskewing did to a scan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum DeskewStatus {
    /// Every point was moved to the scan stamp; the largest |time offset| in seconds.
    Applied {
        /// Largest |time offset| among the points, s.
        max_abs_offset_s: f32,
    },
    /// The cloud has no per-point times (e.g. KITTI): points were only transformed.
    NoTimeOffsets,
    /// No motion estimate yet (first scan, or no pose): points were only transformed.
    NoMotionEstimate,
    /// Deskewing is switched off in the configuration.
    Disabled,
}

/// The cloud expressed in `base_link` at its stamp: every point through `base_link_from_lidar`
/// and, when the cloud has per-point `time_offset_s` and `twist` is known, through the body
/// motion between the stamp and the point's own time. Columns other than x/y/z are kept; a
/// non-finite time offset counts as 0.
pub fn deskew_into_base_link(
    cloud: &PointCloud,
    base_link_from_lidar: &Isometry3<f64>,
    twist: Option<&BodyTwist>,
) -> (PointCloud, DeskewStatus) {
    let n = cloud.len().min(cloud.y.len()).min(cloud.z.len());
    let mut out = PointCloud {
        stamp: cloud.stamp,
        frame_id: FrameId::new(FrameId::BASE_LINK),
        x: Vec::with_capacity(cloud.x.len()),
        y: Vec::with_capacity(cloud.y.len()),
        z: Vec::with_capacity(cloud.z.len()),
        intensity: cloud.intensity.clone(),
        ring: cloud.ring.clone(),
        time_offset_s: cloud.time_offset_s.clone(),
    };
    let lidar = Columns { x: &cloud.x[..n], y: &cloud.y[..n], z: &cloud.z[..n] };
    let status = match (&cloud.time_offset_s, twist) {
        (None, _) => {
            Rigid::from(base_link_from_lidar).apply(lidar, &mut out);
            DeskewStatus::NoTimeOffsets
        }
        (Some(_), None) => {
            Rigid::from(base_link_from_lidar).apply(lidar, &mut out);
            DeskewStatus::NoMotionEstimate
        }
        (Some(offsets), Some(twist)) => {
            let mut max_abs_offset_s = 0.0f32;
            // Points of one firing share a time offset and are stored together: one transform
            // per run of equal offsets, applied to the whole run.
            let offset_at = |i: usize| offsets.get(i).copied().filter(|o| o.is_finite()).unwrap_or(0.0);
            let mut start = 0;
            while start < n {
                let offset_s = offset_at(start);
                let mut end = start + 1;
                while end < n && offset_at(end) == offset_s {
                    end += 1;
                }
                max_abs_offset_s = max_abs_offset_s.max(offset_s.abs());
                let base_link_from_lidar_at_t = twist.body_from_body_after(f64::from(offset_s)) * base_link_from_lidar;
                Rigid::from(&base_link_from_lidar_at_t).apply(lidar.range(start, end), &mut out);
                start = end;
            }
            DeskewStatus::Applied { max_abs_offset_s }
        }
    };
    // Malformed clouds with columns of different lengths: the extra values are kept as they are.
    out.x.extend_from_slice(&cloud.x[n..]);
    out.y.extend_from_slice(&cloud.y[n..]);
    out.z.extend_from_slice(&cloud.z[n..]);
    (out, status)
}

/// Borrowed x/y/z columns of equal length.
#[derive(Clone, Copy)]
struct Columns<'a> {
    x: &'a [f32],
    y: &'a [f32],
    z: &'a [f32],
}

impl<'a> Columns<'a> {
    fn range(self, start: usize, end: usize) -> Columns<'a> {
        Columns { x: &self.x[start..end], y: &self.y[start..end], z: &self.z[start..end] }
    }
}

/// A rigid transform as a rotation matrix and a translation (f64): 9 multiply-adds per point
/// instead of a quaternion rotation, in a loop the compiler vectorises.
struct Rigid {
    r: [[f64; 3]; 3],
    t: [f64; 3],
}

impl From<&Isometry3<f64>> for Rigid {
    fn from(target_from_source: &Isometry3<f64>) -> Self {
        let m = target_from_source.rotation.to_rotation_matrix();
        let m = m.matrix();
        let v = target_from_source.translation.vector;
        Self {
            r: [
                [m[(0, 0)], m[(0, 1)], m[(0, 2)]],
                [m[(1, 0)], m[(1, 1)], m[(1, 2)]],
                [m[(2, 0)], m[(2, 1)], m[(2, 2)]],
            ],
            t: [v.x, v.y, v.z],
        }
    }
}

impl Rigid {
    /// Appends `self * p` for every point of `source` to `out`'s x/y/z columns.
    fn apply(&self, source: Columns<'_>, out: &mut PointCloud) {
        let [[r00, r01, r02], [r10, r11, r12], [r20, r21, r22]] = self.r;
        let [tx, ty, tz] = self.t;
        let points = source.x.iter().zip(source.y).zip(source.z);
        out.x.extend(
            points
                .clone()
                .map(|((&x, &y), &z)| (r00 * f64::from(x) + r01 * f64::from(y) + r02 * f64::from(z) + tx) as f32),
        );
        out.y.extend(
            points
                .clone()
                .map(|((&x, &y), &z)| (r10 * f64::from(x) + r11 * f64::from(y) + r12 * f64::from(z) + ty) as f32),
        );
        out.z.extend(
            points.map(|((&x, &y), &z)| (r20 * f64::from(x) + r21 * f64::from(y) + r22 * f64::from(z) + tz) as f32),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use fusor_core::Stamp;
    use nalgebra::Vector3;

    #[test]
    fn deskewed_points_match_the_isometry_applied_point_by_point() {
        // Firings of 3 points sharing a time offset, a non-finite offset, a lone point at the end.
        let offsets = [-0.05f32, -0.05, -0.05, 0.0, 0.0, f32::NAN, 0.02, 0.02, 0.049];
        let mut cloud = PointCloud::with_capacity(Stamp(1_000), "lidar", offsets.len());
        for (i, _) in offsets.iter().enumerate() {
            let k = i as f32;
            cloud.push(10.0 + k, -3.0 + 0.5 * k, 0.2 * k - 1.0, k);
        }
        cloud.time_offset_s = Some(offsets.to_vec());
        cloud.ring = Some((0..offsets.len() as u16).collect());
        let base_link_from_lidar = Isometry3::new(Vector3::new(0.8, 0.1, 1.7), Vector3::new(0.01, -0.02, 0.3));
        let twist = BodyTwist { linear_m_s: Vector3::new(12.0, 0.5, 0.0), angular_rad_s: Vector3::new(0.0, 0.01, 0.4) };
        let (out, status) = deskew_into_base_link(&cloud, &base_link_from_lidar, Some(&twist));
        assert_eq!(status, DeskewStatus::Applied { max_abs_offset_s: 0.05 });
        assert_eq!(out.frame_id.as_str(), FrameId::BASE_LINK);
        assert_eq!((&out.intensity, &out.ring, out.len()), (&cloud.intensity, &cloud.ring, cloud.len()));
        for (i, &offset_s) in offsets.iter().enumerate() {
            let offset_s = if offset_s.is_finite() { f64::from(offset_s) } else { 0.0 };
            let p_lidar = nalgebra::Point3::new(f64::from(cloud.x[i]), f64::from(cloud.y[i]), f64::from(cloud.z[i]));
            let expected = twist.body_from_body_after(offset_s) * base_link_from_lidar * p_lidar;
            let got = [out.x[i], out.y[i], out.z[i]];
            for (g, e) in got.iter().zip(expected.iter()) {
                assert!((f64::from(*g) - e).abs() < 1e-5, "point {i}: {got:?} vs {expected:?}");
            }
        }
        // Without a twist: the extrinsic alone.
        let (still, status) = deskew_into_base_link(&cloud, &base_link_from_lidar, None);
        assert_eq!(status, DeskewStatus::NoMotionEstimate);
        let p = base_link_from_lidar * nalgebra::Point3::new(10.0, -3.0, -1.0);
        assert_relative_eq!(f64::from(still.x[0]), p.x, epsilon = 1e-5);
        assert_relative_eq!(f64::from(still.z[0]), p.z, epsilon = 1e-5);
    }
}
