//! Every tunable of the geometric detector, with documented defaults.
//!
//! The runtime loads these from the `params` table of the `perceive` stage in
//! `launch/pipeline.toml`; every field has a default (`#[serde(default)]`), so a config only
//! names what it changes. Lengths are metres, angles degrees, in the input cloud's frame, which
//! must be z-up with the polar grid centred on the origin (`lidar` or `base_link`).

use crate::error::{invalid, Result};
use serde::{Deserialize, Serialize};

/// All parameters of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PerceptionParams {
    /// Work caps (bounded work on any input).
    pub limits: Limits,
    /// Ground segmentation.
    pub ground: GroundParams,
    /// Voxel filter of the non-ground points.
    pub voxel: VoxelParams,
    /// Euclidean clustering.
    pub cluster: ClusterParams,
    /// Box fitting.
    pub boxes: BoxParams,
    /// Class guess.
    pub class: ClassParams,
    /// Camera association.
    pub camera: CameraParams,
}

/// Caps that bound the work on any input. What they cut is counted in [`Stats`](crate::Stats).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most points processed per scan (default 400 000, ~3 HDL-64 scans). A larger scan is
    /// decimated evenly (every k-th point) down to this; the rest count as `points_capped`.
    pub max_points: usize,
    /// Most clusters turned into boxes per scan (default 512), the closest to the origin first;
    /// the rest count as `clusters_capped`.
    pub max_clusters: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_points: 400_000, max_clusters: 512 }
    }
}

/// Zone-based polar-grid ground segmentation (after Patchwork, Lim et al. 2021).
///
/// The annulus `[zone_radii_m[0], zone_radii_m[last]]` is split into concentric zones; zone `i`
/// spans `zone_radii_m[i]..zone_radii_m[i+1]` and holds `zone_rings[i]` rings of
/// `zone_sectors[i]` sectors. Points outside the annulus are dropped as out of range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroundParams {
    /// Zone boundaries in metres, increasing (default `[2.7, 12.3, 22.6, 41.2, 80.0]`, Patchwork's
    /// concentric zone model; 2.7 m keeps the ego vehicle's own returns out).
    pub zone_radii_m: Vec<f32>,
    /// Rings per zone (default `[2, 4, 4, 4]`).
    pub zone_rings: Vec<u32>,
    /// Sectors per zone (default `[16, 32, 54, 32]`).
    pub zone_sectors: Vec<u32>,
    /// Ground height at the origin, metres in the input frame, the seed of the slope continuity
    /// check (default −1.73: KITTI HDL-64 `lidar` frame; use 0.0 for `base_link`).
    pub origin_ground_z_m: f32,
    /// Bins with fewer points keep the neighbouring ground estimate (default 5).
    pub min_bin_points: usize,
    /// How many of a bin's lowest points form its lowest-point representative (default 20).
    pub lpr_points: usize,
    /// Seeds are points less than this above the lowest-point representative (default 0.4 m).
    pub seed_threshold_m: f32,
    /// A point is ground when it is less than this above its bin's plane (default 0.2 m).
    pub distance_threshold_m: f32,
    /// Plane refits per bin (default 3).
    pub iterations: usize,
    /// Steepest ground plane accepted, degrees from horizontal (default 25°): steeper bin planes
    /// are walls or vehicle sides and the whole bin is non-ground.
    pub max_slope_deg: f32,
    /// Step allowed on top of the slope between a bin and the ground inwards of it (default
    /// 0.4 m): curbs (~0.15 m) pass, car roofs and hoods (≥ 0.7 m above the road) do not.
    pub max_step_m: f32,
}

impl Default for GroundParams {
    fn default() -> Self {
        Self {
            zone_radii_m: vec![2.7, 12.3, 22.6, 41.2, 80.0],
            zone_rings: vec![2, 4, 4, 4],
            zone_sectors: vec![16, 32, 54, 32],
            origin_ground_z_m: -1.73,
            min_bin_points: 5,
            lpr_points: 20,
            seed_threshold_m: 0.4,
            distance_threshold_m: 0.2,
            iterations: 3,
            max_slope_deg: 25.0,
            max_step_m: 0.4,
        }
    }
}

/// Voxel filter of the non-ground points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoxelParams {
    /// Voxel edge in metres (default 0.15); each occupied voxel becomes its points' centroid.
    pub leaf_m: f32,
    /// Non-ground points higher than this above the local ground are left out of clustering
    /// (default 2.5 m): tree crowns and overhangs would otherwise glue objects together.
    pub max_height_above_ground_m: f32,
}

impl Default for VoxelParams {
    fn default() -> Self {
        Self { leaf_m: 0.15, max_height_above_ground_m: 2.5 }
    }
}

/// Where clustering measures distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterSpace {
    /// Bird's-eye view: the voxels of one (x, y) column are clustered as one planar point
    /// weighing their count. Several times fewer kd-tree queries than `xyz`, and equivalent
    /// below the height cap (`voxel.max_height_above_ground_m`), which already removes the
    /// overhangs (tree crowns, signs) that 3D distance would separate.
    #[default]
    Bev,
    /// Full 3D distances between voxel centroids (PCL `EuclideanClusterExtraction`).
    Xyz,
}

/// Euclidean clustering on a kiddo kd-tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterParams {
    /// Distance space (default `bev`).
    pub space: ClusterSpace,
    /// Two points closer than this (3D, metres) join one cluster (default 0.45).
    pub tolerance_m: f32,
    /// Smaller clusters (in voxels, whichever the space) are dropped as clutter (default 8).
    pub min_points: usize,
    /// Larger clusters (in voxels) are dropped as buildings, walls, hedges (default 4000).
    pub max_points: usize,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self { space: ClusterSpace::Bev, tolerance_m: 0.45, min_points: 8, max_points: 4000 }
    }
}

/// Oriented box fitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoxParams {
    /// Rectangle choice (default `l_shape`; `min_area` for the minimum-area hull rectangle).
    pub method: crate::boxfit::BoxFitMethod,
    /// Smallest box edge reported, metres (default 0.1): a single-column or collinear cluster
    /// still gets a box with a volume.
    pub min_extent_m: f32,
    /// Boxes longer or wider than this are not objects of interest and are dropped (default 12 m).
    pub max_extent_m: f32,
}

impl Default for BoxParams {
    fn default() -> Self {
        Self { method: crate::boxfit::BoxFitMethod::LShape, min_extent_m: 0.1, max_extent_m: 12.0 }
    }
}

/// Size-based class guess.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassParams {
    /// Below this best-class score the detection is reported as `Other` (default 0.1).
    pub min_score: f32,
    /// Report `Other` detections too (default true): recall of unknown obstacles matters to a
    /// planner even when the class does not.
    pub keep_other: bool,
}

impl Default for ClassParams {
    fn default() -> Self {
        Self { min_score: 0.1, keep_other: true }
    }
}

/// Camera association.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraParams {
    /// Most points of one cluster projected (default 512; larger clusters are sampled evenly).
    pub max_points_per_cluster: usize,
}

impl Default for CameraParams {
    fn default() -> Self {
        Self { max_points_per_cluster: 512 }
    }
}

fn positive(name: &str, v: f32) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(name, format!("{v} must be finite and > 0")))
    }
}

impl PerceptionParams {
    /// Checks every parameter; the error names the offending one.
    pub fn validate(&self) -> Result<()> {
        let l = &self.limits;
        if l.max_points == 0 || l.max_points > crate::voxel::MAX_POINTS {
            return Err(invalid("limits.max_points", format!("must be in 1..={}", crate::voxel::MAX_POINTS)));
        }
        if l.max_clusters == 0 {
            return Err(invalid("limits.max_clusters", "must be ≥ 1"));
        }
        let g = &self.ground;
        let zones = g.zone_rings.len();
        if zones == 0 || g.zone_radii_m.len() != zones + 1 || g.zone_sectors.len() != zones {
            return Err(invalid(
                "ground.zone_radii_m",
                format!(
                    "need n + 1 radii for n zone_rings and n zone_sectors, got {} radii, {} rings, {} sectors",
                    g.zone_radii_m.len(),
                    zones,
                    g.zone_sectors.len()
                ),
            ));
        }
        if !g.zone_radii_m.iter().all(|r| r.is_finite() && *r >= 0.0) || !g.zone_radii_m.windows(2).all(|w| w[0] < w[1])
        {
            return Err(invalid("ground.zone_radii_m", "must be finite, ≥ 0 and strictly increasing"));
        }
        if g.zone_rings.iter().chain(&g.zone_sectors).any(|&n| n == 0 || n > 1024) {
            return Err(invalid("ground.zone_rings", "rings and sectors per zone must be in 1..=1024"));
        }
        if !g.origin_ground_z_m.is_finite() {
            return Err(invalid("ground.origin_ground_z_m", "must be finite"));
        }
        if g.min_bin_points < 3 {
            return Err(invalid("ground.min_bin_points", "must be ≥ 3 (a plane needs 3 points)"));
        }
        if g.lpr_points == 0 || g.iterations == 0 {
            return Err(invalid("ground.lpr_points", "lpr_points and iterations must be ≥ 1"));
        }
        positive("ground.seed_threshold_m", g.seed_threshold_m)?;
        positive("ground.distance_threshold_m", g.distance_threshold_m)?;
        positive("ground.max_step_m", g.max_step_m)?;
        if !(g.max_slope_deg > 0.0 && g.max_slope_deg < 89.0) {
            return Err(invalid("ground.max_slope_deg", "must be in (0, 89)"));
        }
        positive("voxel.leaf_m", self.voxel.leaf_m)?;
        if self.voxel.leaf_m < 0.01 {
            return Err(invalid("voxel.leaf_m", "must be ≥ 0.01 m"));
        }
        positive("voxel.max_height_above_ground_m", self.voxel.max_height_above_ground_m)?;
        positive("cluster.tolerance_m", self.cluster.tolerance_m)?;
        if self.cluster.min_points == 0 || self.cluster.min_points > self.cluster.max_points {
            return Err(invalid("cluster.min_points", "need 1 ≤ min_points ≤ max_points"));
        }
        positive("boxes.min_extent_m", self.boxes.min_extent_m)?;
        positive("boxes.max_extent_m", self.boxes.max_extent_m)?;
        if !(0.0..=1.0).contains(&self.class.min_score) {
            return Err(invalid("class.min_score", "must be in [0, 1]"));
        }
        if self.camera.max_points_per_cluster == 0 {
            return Err(invalid("camera.max_points_per_cluster", "must be ≥ 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let p = PerceptionParams::default();
        p.validate().unwrap();
        let text = toml::to_string(&p).unwrap();
        assert_eq!(toml::from_str::<PerceptionParams>(&text).unwrap(), p);
    }

    #[test]
    fn partial_config_keeps_other_defaults_and_unknown_keys_are_rejected() {
        let p: PerceptionParams = toml::from_str("[cluster]\ntolerance_m = 0.6\n").unwrap();
        assert_eq!(p.cluster.tolerance_m, 0.6);
        assert_eq!(p.voxel, VoxelParams::default());
        assert!(toml::from_str::<PerceptionParams>("[cluster]\ntolerance = 0.6\n").is_err());
    }

    #[test]
    fn invalid_parameters_are_named() {
        let mut p = PerceptionParams::default();
        p.ground.zone_radii_m = vec![2.0, 1.0, 3.0, 4.0, 5.0];
        let err = p.validate().unwrap_err().to_string();
        assert!(err.contains("ground.zone_radii_m"), "{err}");
        let mut p = PerceptionParams::default();
        p.voxel.leaf_m = f32::NAN;
        assert!(p.validate().unwrap_err().to_string().contains("voxel.leaf_m"));
    }
}
