//! Geometric primitives of the simulated world and analytic ray intersections.
//!
//! Everything is in the `map` frame (ENU, metres). Primitives are deliberately few: an (optionally
//! sloped) ground plane, boxes upright about z, and vertical cylinders. Their intersection code is
//! written on plain `f64` triples: it runs a few million times per lidar scan.

/// A 3-vector on plain floats (hot-path maths, no generic dispatch).
pub type V3 = [f64; 3];

#[inline]
pub(crate) fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
#[inline]
pub(crate) fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
#[inline]
pub(crate) fn scale(a: V3, k: f64) -> V3 {
    [a[0] * k, a[1] * k, a[2] * k]
}
#[inline]
pub(crate) fn norm(a: V3) -> f64 {
    dot(a, a).sqrt()
}

/// What a surface is made of: sets lidar reflectivity and base camera colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Material {
    /// Road surface.
    Asphalt,
    /// White paint (lane lines, crosswalks).
    MarkingWhite,
    /// Yellow paint (centre line).
    MarkingYellow,
    /// Sidewalk concrete.
    Concrete,
    /// Lawn in block interiors.
    Grass,
    /// Building walls.
    Facade,
    /// Car body paint.
    CarPaint,
    /// Car windows.
    Glass,
    /// Tyres and the dark underside of cars.
    Rubber,
    /// Clothing of pedestrians and cyclists.
    Clothing,
    /// Skin and hair (heads).
    Skin,
    /// Poles, bollards, bicycle frames.
    Metal,
    /// Tree trunks.
    Bark,
    /// Tree canopies, shrubs.
    Foliage,
    /// Matte plastic and powder-coated housings (bins, pay stations): about as bright to the
    /// lidar as clothing.
    Plastic,
}

impl Material {
    /// Diffuse lidar reflectivity in [0, 1] at 905 nm (rough, plausible values).
    pub const fn reflectivity(self) -> f64 {
        match self {
            Self::Asphalt => 0.12,
            Self::MarkingWhite => 0.65,
            Self::MarkingYellow => 0.55,
            Self::Concrete => 0.3,
            Self::Grass => 0.35,
            Self::Facade => 0.4,
            Self::CarPaint => 0.45,
            Self::Glass => 0.08,
            Self::Rubber => 0.05,
            Self::Clothing => 0.25,
            Self::Skin => 0.3,
            Self::Metal => 0.6,
            Self::Bark => 0.2,
            Self::Foliage => 0.3,
            Self::Plastic => 0.25,
        }
    }

    /// Typical albedo as sRGB bytes (objects vary theirs per instance).
    pub const fn base_color(self) -> [u8; 3] {
        match self {
            Self::Asphalt => [72, 72, 76],
            Self::MarkingWhite => [225, 225, 220],
            Self::MarkingYellow => [220, 180, 40],
            Self::Concrete => [165, 160, 150],
            Self::Grass => [70, 120, 50],
            Self::Facade => [180, 160, 140],
            Self::CarPaint => [150, 30, 30],
            Self::Glass => [40, 50, 60],
            Self::Rubber => [25, 25, 25],
            Self::Clothing => [60, 60, 90],
            Self::Skin => [200, 160, 130],
            Self::Metal => [150, 150, 155],
            Self::Bark => [90, 65, 40],
            Self::Foliage => [50, 100, 40],
            Self::Plastic => [70, 90, 70],
        }
    }

    /// Probability that a ray hitting this surface passes through it (foliage gaps).
    pub const fn porosity(self) -> f64 {
        match self {
            Self::Foliage => 0.25,
            _ => 0.0,
        }
    }
}

/// The appearance of a primitive and the ground-truth object it belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surface {
    /// Material (lidar reflectivity, shading).
    pub material: Material,
    /// Albedo as sRGB bytes.
    pub color: [u8; 3],
    /// Ground-truth object id, 0 for clutter and the static scene.
    pub object_id: u32,
}

/// A box upright about z.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxPrim {
    /// Centre in metres (map).
    pub center: V3,
    /// Half extents in metres: along heading, across, vertical.
    pub half: V3,
    /// Heading about +z in radians.
    pub yaw_rad: f64,
}

/// A vertical cylinder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CylinderPrim {
    /// Axis position (x, y) in metres (map).
    pub xy: [f64; 2],
    /// Radius in metres.
    pub radius_m: f64,
    /// Bottom z in metres.
    pub z_min: f64,
    /// Top z in metres.
    pub z_max: f64,
}

/// A primitive shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Upright box.
    Box(BoxPrim),
    /// Vertical cylinder.
    Cylinder(CylinderPrim),
}

/// A shape with its surface.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Primitive {
    /// Geometry.
    pub shape: Shape,
    /// Appearance and identity.
    pub surface: Surface,
}

/// A ray hit: distance along the (unit) ray and the outward unit normal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeHit {
    /// Distance in metres along the unit direction.
    pub t: f64,
    /// Outward normal (map).
    pub normal: V3,
}

const EPS: f64 = 1e-6;

impl BoxPrim {
    /// 2D bounding circle radius (m) about the centre.
    pub fn radius_xy(&self) -> f64 {
        self.half[0].hypot(self.half[1])
    }

    /// First intersection of the ray `o + t d` (`d` unit) with `t` in `(EPS, t_max)`.
    #[inline]
    pub fn intersect(&self, o: V3, d: V3, t_max: f64) -> Option<ShapeHit> {
        let (s, c) = self.yaw_rad.sin_cos();
        intersect_box(self.center, self.half, c, s, o, d, t_max)
    }

    /// Signed distance (m) of `p` to the box surface (negative inside).
    pub fn signed_distance(&self, p: V3) -> f64 {
        let (s, c) = self.yaw_rad.sin_cos();
        let rx = p[0] - self.center[0];
        let ry = p[1] - self.center[1];
        let l = [c * rx + s * ry, -s * rx + c * ry, p[2] - self.center[2]];
        let q = [l[0].abs() - self.half[0], l[1].abs() - self.half[1], l[2].abs() - self.half[2]];
        let outside = norm([q[0].max(0.0), q[1].max(0.0), q[2].max(0.0)]);
        outside + q[0].max(q[1]).max(q[2]).min(0.0)
    }
}

/// Slab test of the ray `o + t d` against the box at `center` with half extents `half`, turned by
/// the yaw whose cosine and sine are `c` and `s` (precomputed: the ray caster calls this millions
/// of times per scan).
#[inline]
pub(crate) fn intersect_box(center: V3, half: V3, c: f64, s: f64, o: V3, d: V3, t_max: f64) -> Option<ShapeHit> {
    let rx = o[0] - center[0];
    let ry = o[1] - center[1];
    let lo = [c * rx + s * ry, -s * rx + c * ry, o[2] - center[2]];
    let ld = [c * d[0] + s * d[1], -s * d[0] + c * d[1], d[2]];
    let mut t_near = f64::NEG_INFINITY;
    let mut t_far = t_max;
    let mut axis = 0usize;
    let mut sign = 0.0;
    for k in 0..3 {
        if ld[k].abs() < 1e-12 {
            if lo[k].abs() > half[k] {
                return None;
            }
            continue;
        }
        let inv = 1.0 / ld[k];
        let mut t0 = (-half[k] - lo[k]) * inv;
        let mut t1 = (half[k] - lo[k]) * inv;
        // Entering through the face on the side the ray comes from.
        let mut face = -1.0;
        if t0 > t1 {
            std::mem::swap(&mut t0, &mut t1);
            face = 1.0;
        }
        if t0 > t_near {
            t_near = t0;
            axis = k;
            sign = face;
        }
        t_far = t_far.min(t1);
        if t_near > t_far {
            return None;
        }
    }
    if t_near <= EPS || t_near >= t_max {
        return None;
    }
    let normal = match axis {
        0 => [c * sign, s * sign, 0.0],
        1 => [-s * sign, c * sign, 0.0],
        _ => [0.0, 0.0, sign],
    };
    Some(ShapeHit { t: t_near, normal })
}

impl CylinderPrim {
    /// Signed distance (m) of `p` to the cylinder surface (negative inside).
    pub fn signed_distance(&self, p: V3) -> f64 {
        let radial = (p[0] - self.xy[0]).hypot(p[1] - self.xy[1]) - self.radius_m;
        let half = (self.z_max - self.z_min) / 2.0;
        let axial = (p[2] - (self.z_min + self.z_max) / 2.0).abs() - half;
        radial.max(0.0).hypot(axial.max(0.0)) + radial.max(axial).min(0.0)
    }

    /// First intersection of the ray `o + t d` (`d` unit) with `t` in `(EPS, t_max)`.
    #[inline]
    pub fn intersect(&self, o: V3, d: V3, t_max: f64) -> Option<ShapeHit> {
        let ox = o[0] - self.xy[0];
        let oy = o[1] - self.xy[1];
        let r2 = self.radius_m * self.radius_m;
        let mut best: Option<ShapeHit> = None;
        let a = d[0] * d[0] + d[1] * d[1];
        if a > 1e-12 {
            let b = ox * d[0] + oy * d[1];
            let c = ox * ox + oy * oy - r2;
            let disc = b * b - a * c;
            if disc < 0.0 {
                return None; // The infinite cylinder is missed, so are the caps.
            }
            let t = (-b - disc.sqrt()) / a;
            if t > EPS && t < t_max {
                let z = o[2] + t * d[2];
                if z >= self.z_min && z <= self.z_max {
                    let inv_r = 1.0 / self.radius_m;
                    let n = [(ox + t * d[0]) * inv_r, (oy + t * d[1]) * inv_r, 0.0];
                    best = Some(ShapeHit { t, normal: n });
                }
            }
        }
        if d[2].abs() > 1e-12 {
            for (z, nz) in [(self.z_max, 1.0), (self.z_min, -1.0)] {
                // Only the cap facing the ray can be entered.
                if d[2] * nz >= 0.0 {
                    continue;
                }
                let t = (z - o[2]) / d[2];
                if t > EPS && t < t_max && best.is_none_or(|h| t < h.t) {
                    let x = ox + t * d[0];
                    let y = oy + t * d[1];
                    if x * x + y * y <= r2 {
                        best = Some(ShapeHit { t, normal: [0.0, 0.0, nz] });
                    }
                }
            }
        }
        best
    }
}

impl Shape {
    /// Signed distance (m) of `p` to the surface (negative inside).
    pub fn signed_distance(&self, p: V3) -> f64 {
        match self {
            Self::Box(b) => b.signed_distance(p),
            Self::Cylinder(c) => c.signed_distance(p),
        }
    }

    /// First intersection of the ray with `t` in `(EPS, t_max)`.
    #[inline]
    pub fn intersect(&self, o: V3, d: V3, t_max: f64) -> Option<ShapeHit> {
        match self {
            Self::Box(b) => b.intersect(o, d, t_max),
            Self::Cylinder(c) => c.intersect(o, d, t_max),
        }
    }

    /// Axis-aligned 2D bounds `[x_min, y_min, x_max, y_max]` in metres.
    pub fn bounds_xy(&self) -> [f64; 4] {
        match self {
            Self::Box(b) => {
                let (s, c) = b.yaw_rad.sin_cos();
                let ex = (c * b.half[0]).abs() + (s * b.half[1]).abs();
                let ey = (s * b.half[0]).abs() + (c * b.half[1]).abs();
                [b.center[0] - ex, b.center[1] - ey, b.center[0] + ex, b.center[1] + ey]
            }
            Self::Cylinder(c) => {
                [c.xy[0] - c.radius_m, c.xy[1] - c.radius_m, c.xy[0] + c.radius_m, c.xy[1] + c.radius_m]
            }
        }
    }

    /// Highest z in metres.
    pub fn z_max(&self) -> f64 {
        match self {
            Self::Box(b) => b.center[2] + b.half[2],
            Self::Cylinder(c) => c.z_max,
        }
    }
}

/// The ground: the plane `z = z0 + slope_x · x + slope_y · y` (map metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ground {
    /// Height at the map origin in metres.
    pub z0_m: f64,
    /// dz/dx (rise per metre east).
    pub slope_x: f64,
    /// dz/dy (rise per metre north).
    pub slope_y: f64,
}

impl Ground {
    /// A level ground at z = 0.
    pub const FLAT: Ground = Ground { z0_m: 0.0, slope_x: 0.0, slope_y: 0.0 };

    /// Height of the ground in metres at (x, y).
    #[inline]
    pub fn height(&self, x: f64, y: f64) -> f64 {
        self.z0_m + self.slope_x * x + self.slope_y * y
    }

    /// Upward unit normal.
    pub fn normal(&self) -> V3 {
        let n = [-self.slope_x, -self.slope_y, 1.0];
        scale(n, 1.0 / norm(n))
    }

    /// Distance along the unit ray to the ground, when it goes down onto it from above.
    #[inline]
    pub fn intersect(&self, o: V3, d: V3) -> Option<f64> {
        // f(p) = p.z - height(p.x, p.y) is linear along the ray.
        let f0 = o[2] - self.height(o[0], o[1]);
        let df = d[2] - self.slope_x * d[0] - self.slope_y * d[1];
        if df >= -1e-12 || f0 <= 0.0 {
            return None;
        }
        Some(-f0 / df)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_hits_rotated_box_face_with_outward_normal() {
        let b = BoxPrim { center: [10.0, 0.0, 1.0], half: [2.0, 1.0, 1.0], yaw_rad: std::f64::consts::FRAC_PI_2 };
        // Rotated 90°: the box spans x 9..11, y -2..2.
        let h = b.intersect([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], 100.0).unwrap();
        assert!((h.t - 9.0).abs() < 1e-9);
        assert!((h.normal[0] + 1.0).abs() < 1e-9);
        assert!(b.intersect([0.0, 3.0, 1.0], [1.0, 0.0, 0.0], 100.0).is_none());
        assert!(b.signed_distance([9.0, 0.5, 1.0]).abs() < 1e-9);
    }

    #[test]
    fn ray_hits_cylinder_side_and_cap() {
        let c = CylinderPrim { xy: [5.0, 0.0], radius_m: 0.5, z_min: 0.0, z_max: 2.0 };
        let side = c.intersect([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], 100.0).unwrap();
        assert!((side.t - 4.5).abs() < 1e-9);
        let cap = c.intersect([5.0, 0.0, 5.0], [0.0, 0.0, -1.0], 100.0).unwrap();
        assert!((cap.t - 3.0).abs() < 1e-9 && cap.normal[2] == 1.0);
        assert!(c.intersect([0.0, 0.0, 3.0], [1.0, 0.0, 0.0], 100.0).is_none());
    }

    #[test]
    fn sloped_ground_is_hit_at_its_height() {
        let g = Ground { z0_m: 0.0, slope_x: 0.05, slope_y: 0.0 };
        let d = [0.0, 0.0, -1.0];
        let t = g.intersect([10.0, 0.0, 2.0], d).unwrap();
        assert!((t - 1.5).abs() < 1e-12);
        assert!(g.intersect([10.0, 0.0, 0.0], d).is_none());
    }
}
