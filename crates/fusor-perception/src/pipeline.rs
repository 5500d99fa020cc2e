//! The whole geometric detector: sanitise → ground → voxel → cluster → box → class → camera.

use crate::boxfit::fit_box;
use crate::camera::{associate, CameraInput, ImageAssociation};
use crate::classify::classify;
use crate::cluster::{euclidean_clusters, euclidean_clusters_bev, expand_columns};
use crate::error::{PerceptionError, Result};
use crate::ground::{GroundLabels, GroundSegmenter};
use crate::params::{ClusterSpace, PerceptionParams};
use crate::voxel::{voxel_downsample, VoxelCloud, VoxelScratch};
use fusor_core::{Detection, ObjectClass, PointCloud};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// What each stage dropped or produced for one scan. Every point of the input is accounted for:
/// `points_in = points_capped + points_non_finite + points_out_of_range + points_ground +
/// points_above_max_height + points_clustered_input`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Points in the input cloud.
    pub points_in: usize,
    /// Points skipped by decimation because the scan exceeded `limits.max_points`.
    pub points_capped: usize,
    /// Points with a NaN or infinite coordinate.
    pub points_non_finite: usize,
    /// Points outside the ground grid's annulus (closer than the first zone radius, e.g. the
    /// ego vehicle and returns at the sensor origin, or farther than the last), or with
    /// `|z|` beyond the last zone radius.
    pub points_out_of_range: usize,
    /// Points labelled ground.
    pub points_ground: usize,
    /// Non-ground points higher than `voxel.max_height_above_ground_m` above the local ground.
    pub points_above_max_height: usize,
    /// Non-ground points passed to the voxel filter.
    pub points_clustered_input: usize,
    /// Voxels (centroids) passed to clustering.
    pub voxels: usize,
    /// Ground bins whose plane was accepted.
    pub ground_bins_accepted: usize,
    /// Ground bins whose plane was rejected (too steep, or a step too high).
    pub ground_bins_rejected: usize,
    /// Clusters within the size limits.
    pub clusters_found: usize,
    /// Clusters dropped for having fewer than `cluster.min_points` voxels.
    pub clusters_too_small: usize,
    /// Clusters dropped for having more than `cluster.max_points` voxels.
    pub clusters_too_large: usize,
    /// Clusters beyond `limits.max_clusters` (the farthest ones), not boxed.
    pub clusters_capped: usize,
    /// Boxes dropped for a side longer than `boxes.max_extent_m`.
    pub boxes_too_large: usize,
    /// Boxes dropped because their class guess was `Other` and `class.keep_other` is false.
    pub boxes_other_dropped: usize,
    /// Clusters with no point on the image (behind the camera or out of its view); only counted
    /// when a camera is given.
    pub clusters_outside_image: usize,
    /// Detections reported.
    pub detections: usize,
}

/// Wall time of each stage for one scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    /// Dropping non-finite and out-of-range points, decimation.
    pub sanitise: Duration,
    /// Ground segmentation.
    pub ground: Duration,
    /// Height cap and voxel filter.
    pub voxel: Duration,
    /// kd-tree build and clustering.
    pub cluster: Duration,
    /// Box fitting and class guess.
    pub boxes: Duration,
    /// Camera association.
    pub camera: Duration,
    /// Everything (camera association included when a camera was given).
    pub total: Duration,
}

/// Diagnostics of one detection's cluster (same order as the detections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Index of the cluster among those found in this scan (diagnostic id, not stable across scans).
    pub cluster: u32,
    /// Voxels in the cluster.
    pub voxels: u32,
    /// Input points in the cluster's voxels.
    pub points: u32,
    /// Centroid of the voxels, metres in the input frame.
    pub centroid_m: [f32; 3],
    /// Planar distance of the centroid from the origin, metres.
    pub range_m: f32,
    /// Class scores `[car, pedestrian, cyclist]` of the size guess.
    pub class_scores: [f32; 3],
    /// What the camera sees of the cluster, when a camera was given.
    pub image: Option<ImageAssociation>,
}

/// Result of one scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerceptionOutput {
    /// Detections in the input cloud's frame, stamped with the cloud's stamp, closest first.
    pub detections: Vec<Detection>,
    /// Per-detection cluster diagnostics, parallel to `detections`.
    pub clusters: Vec<ClusterInfo>,
    /// Drop and size counters.
    pub stats: Stats,
    /// Stage timings.
    pub times: StageTimes,
}

/// The geometric detector with its reusable buffers: create once, call
/// [`process`](Self::process) per scan (no per-scan allocation of the big buffers once warm).
#[derive(Debug, Clone)]
pub struct Perception {
    params: PerceptionParams,
    ground: GroundSegmenter,
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
    labels: GroundLabels,
    keep: Vec<u32>,
    voxel_scratch: VoxelScratch,
    voxels: VoxelCloud,
    points3: Vec<[f32; 3]>,
    points2: Vec<[f32; 2]>,
    weights: Vec<u32>,
}

impl Perception {
    /// A detector with validated `params`.
    pub fn new(params: PerceptionParams) -> Result<Self> {
        params.validate()?;
        Ok(Self {
            ground: GroundSegmenter::new(&params.ground)?,
            params,
            x: Vec::new(),
            y: Vec::new(),
            z: Vec::new(),
            labels: GroundLabels::default(),
            keep: Vec::new(),
            voxel_scratch: VoxelScratch::default(),
            voxels: VoxelCloud::default(),
            points3: Vec::new(),
            points2: Vec::new(),
            weights: Vec::new(),
        })
    }

    /// The parameters in use.
    pub fn params(&self) -> &PerceptionParams {
        &self.params
    }

    /// Ground labels of the last scan's sanitised points (see [`Self::sanitised_points`]).
    pub fn last_ground_labels(&self) -> &GroundLabels {
        &self.labels
    }

    /// The last scan's voxels (centroids of the non-ground points below the height cap; `extra`
    /// is the mean height above ground).
    pub fn last_voxels(&self) -> &VoxelCloud {
        &self.voxels
    }

    /// The last scan's points after sanitising (x, y, z columns in metres), parallel to
    /// [`Self::last_ground_labels`].
    pub fn sanitised_points(&self) -> (&[f32], &[f32], &[f32]) {
        (&self.x, &self.y, &self.z)
    }

    /// Detects objects in `cloud` (z-up frame centred on the sensor, e.g. `lidar` or
    /// `base_link` with `ground.origin_ground_z_m` set to match), optionally associating each with
    /// `camera`. Only a cloud with ragged columns is an error; bad points are dropped and counted.
    pub fn process(&mut self, cloud: &PointCloud, camera: Option<&CameraInput<'_>>) -> Result<PerceptionOutput> {
        cloud.validate().map_err(|e| PerceptionError::MalformedCloud(e.to_string()))?;
        let t0 = Instant::now();
        let mut out = PerceptionOutput::default();
        let mut stats = Stats { points_in: cloud.len(), ..Stats::default() };

        // Sanitise: decimate oversized scans, drop non-finite and out-of-range points.
        let n = cloud.len();
        let stride = n.div_ceil(self.params.limits.max_points).max(1);
        stats.points_capped = n - n.div_ceil(stride);
        let r_min = self.params.ground.zone_radii_m.first().copied().unwrap_or(0.0);
        let r_max = self.params.ground.zone_radii_m.last().copied().unwrap_or(0.0);
        let (r_min2, r_max2) = (r_min * r_min, r_max * r_max);
        self.x.clear();
        self.y.clear();
        self.z.clear();
        for i in (0..n).step_by(stride) {
            let (px, py, pz) = (cloud.x[i], cloud.y[i], cloud.z[i]);
            if !(px.is_finite() && py.is_finite() && pz.is_finite()) {
                stats.points_non_finite += 1;
                continue;
            }
            let r2 = px * px + py * py;
            if !(r2 >= r_min2 && r2 < r_max2 && pz.abs() < r_max) {
                stats.points_out_of_range += 1;
                continue;
            }
            self.x.push(px);
            self.y.push(py);
            self.z.push(pz);
        }
        let t1 = Instant::now();

        // Ground.
        self.ground.segment(&self.x, &self.y, &self.z, &mut self.labels);
        stats.ground_bins_accepted = self.labels.bins_accepted;
        stats.ground_bins_rejected = self.labels.bins_rejected;
        let t2 = Instant::now();

        // Height cap and voxel filter.
        let max_h = self.params.voxel.max_height_above_ground_m;
        self.keep.clear();
        for (i, (&g, &h)) in self.labels.is_ground.iter().zip(&self.labels.height_above_ground_m).enumerate() {
            if g {
                stats.points_ground += 1;
            } else if h > max_h {
                stats.points_above_max_height += 1;
            } else {
                self.keep.push(i as u32);
            }
        }
        stats.points_clustered_input = self.keep.len();
        voxel_downsample(
            [&self.x, &self.y, &self.z, &self.labels.height_above_ground_m],
            &self.keep,
            self.params.voxel.leaf_m,
            &mut self.voxel_scratch,
            &mut self.voxels,
        );
        stats.voxels = self.voxels.len();
        let t3 = Instant::now();

        // Clusters.
        let v = &self.voxels;
        let cp = &self.params.cluster;
        let clusters = match cp.space {
            ClusterSpace::Xyz => {
                self.points3.clear();
                self.points3.extend(v.x.iter().zip(&v.y).zip(&v.z).map(|((&x, &y), &z)| [x, y, z]));
                euclidean_clusters(&self.points3, cp.tolerance_m, cp.min_points, cp.max_points)
            }
            ClusterSpace::Bev => {
                v.column_centroids(&mut self.points2, &mut self.weights);
                let by_column =
                    euclidean_clusters_bev(&self.points2, &self.weights, cp.tolerance_m, cp.min_points, cp.max_points);
                expand_columns(&by_column, &v.columns)
            }
        };
        stats.clusters_found = clusters.len();
        stats.clusters_too_small = clusters.too_small;
        stats.clusters_too_large = clusters.too_large;
        let t4 = Instant::now();

        // Closest clusters first, capped.
        let mut order: Vec<(f32, usize)> = (0..clusters.len())
            .map(|c| {
                let m = clusters.cluster(c);
                let (sx, sy) =
                    m.iter().fold((0.0f32, 0.0f32), |(sx, sy), &i| (sx + v.x[i as usize], sy + v.y[i as usize]));
                let k = m.len().max(1) as f32;
                ((sx / k).hypot(sy / k), c)
            })
            .collect();
        order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let max_clusters = self.params.limits.max_clusters;
        stats.clusters_capped = order.len().saturating_sub(max_clusters);
        order.truncate(max_clusters);

        // Boxes and classes, in parallel over clusters (order kept).
        enum Boxed {
            Kept(Box<(Detection, ClusterInfo)>),
            TooLarge,
            OtherDropped,
        }
        let params = &self.params;
        let frame_id = &cloud.frame_id;
        let boxed: Vec<Boxed> = order
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(bev, hull): &mut (Vec<[f32; 2]>, Vec<[f32; 2]>), &(range_m, c)| {
                    let m = clusters.cluster(c);
                    bev.clear();
                    let (mut top, mut ground_sum, mut sx, mut sy, mut sz, mut points) =
                        (f32::NEG_INFINITY, 0.0f32, 0.0f32, 0.0f32, 0.0f32, 0u32);
                    for &i in m {
                        let i = i as usize;
                        bev.push([v.x[i], v.y[i]]);
                        top = top.max(v.z[i]);
                        ground_sum += v.z[i] - v.extra[i];
                        sx += v.x[i];
                        sy += v.y[i];
                        sz += v.z[i];
                        points += v.count[i];
                    }
                    let k = m.len().max(1) as f32;
                    let bbox = fit_box(
                        bev,
                        ground_sum / k,
                        top,
                        params.boxes.min_extent_m,
                        params.boxes.method,
                        frame_id,
                        hull,
                    );
                    let max_e = f64::from(params.boxes.max_extent_m);
                    if bbox.size.x > max_e || bbox.size.y > max_e {
                        return Boxed::TooLarge;
                    }
                    let guess =
                        classify(bbox.size.x as f32, bbox.size.y as f32, bbox.size.z as f32, params.class.min_score);
                    if guess.class == ObjectClass::Other && !params.class.keep_other {
                        return Boxed::OtherDropped;
                    }
                    let detection = Detection { stamp: cloud.stamp, bbox, class: guess.class, score: guess.score };
                    let info = ClusterInfo {
                        cluster: c as u32,
                        voxels: m.len() as u32,
                        points,
                        centroid_m: [sx / k, sy / k, sz / k],
                        range_m,
                        class_scores: guess.scores,
                        image: None,
                    };
                    Boxed::Kept(Box::new((detection, info)))
                },
            )
            .collect();
        for b in boxed {
            match b {
                Boxed::Kept(kept) => {
                    let (d, info) = *kept;
                    out.detections.push(d);
                    out.clusters.push(info);
                }
                Boxed::TooLarge => stats.boxes_too_large += 1,
                Boxed::OtherDropped => stats.boxes_other_dropped += 1,
            }
        }
        stats.detections = out.detections.len();
        let t5 = Instant::now();

        // Camera association.
        if let Some(cam) = camera {
            let max_points = params.camera.max_points_per_cluster;
            out.clusters.par_iter_mut().for_each(|info| {
                let m = clusters.cluster(info.cluster as usize);
                info.image = Some(associate(&v.x, &v.y, &v.z, m, cam, max_points));
            });
            stats.clusters_outside_image =
                out.clusters.iter().filter(|c| c.image.as_ref().is_some_and(|a| a.region_px.is_none())).count();
        }
        let t6 = Instant::now();
        out.times = StageTimes {
            sanitise: t1 - t0,
            ground: t2 - t1,
            voxel: t3 - t2,
            cluster: t4 - t3,
            boxes: t5 - t4,
            camera: t6 - t5,
            total: t6 - t0,
        };
        out.stats = stats;
        Ok(out)
    }
}
