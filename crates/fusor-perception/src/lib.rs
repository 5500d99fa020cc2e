//! Geometric lidar–camera perception: a detector that works on any scan without training.
//!
//! One lidar scan (a z-up frame: `lidar` or `base_link`) goes through plain library stages that
//! the runtime wraps as actors:
//!
//! 1. [`sanitise`](pipeline): drops non-finite points, points outside the range annulus, and
//!    decimates scans larger than [`Limits::max_points`] (every drop counted in [`Stats`]);
//! 2. [`ground::GroundSegmenter`]: zone-based polar-grid ground fit (Patchwork-style concentric
//!    zones, per-bin PCA plane from lowest-point-representative seeds, uprightness and
//!    slope/step continuity checks), robust to slopes and curbs;
//! 3. [`voxel::voxel_downsample`]: centroid voxel filter of the non-ground points;
//! 4. [`cluster::euclidean_clusters_bev`] (default) or [`cluster::euclidean_clusters`] (3D):
//!    Euclidean clustering on a kiddo kd-tree, of the voxels' bird's-eye-view columns by default;
//! 5. [`boxfit::fit_box`]: oriented boxes (L-shape fitting, or the minimum-area rectangle of the
//!    BEV convex hull; height from the local ground to the cluster top);
//! 6. [`classify::classify`]: a size/shape class guess with a score;
//! 7. [`camera::associate`]: each cluster projected into the image through the calibration, with
//!    colour statistics and the image region it covers (early-fusion input, late-fusion hook).
//!
//! [`Perception::process`] runs them all and returns [`Detection`](fusor_core::Detection)s in the
//! input frame, per-cluster diagnostics and [`Stats`]. Every stage has a documented cap
//! ([`Limits`]), so no input makes work unbounded; no input makes it panic.

pub mod boxfit;
pub mod camera;
pub mod classify;
pub mod cluster;
pub mod error;
pub mod ground;
pub mod params;
pub mod pipeline;
pub mod recall;
pub mod voxel;

pub use camera::{CameraInput, ImageAssociation};
pub use error::PerceptionError;
pub use params::{
    BoxParams, CameraParams, ClassParams, ClusterParams, ClusterSpace, GroundParams, Limits, PerceptionParams,
    VoxelParams,
};
pub use pipeline::{ClusterInfo, Perception, PerceptionOutput, StageTimes, Stats};
