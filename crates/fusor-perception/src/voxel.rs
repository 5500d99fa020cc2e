//! Centroid voxel filter.
//!
//! Points are keyed by their voxel `(floor(x / leaf), floor(y / leaf), floor(z / leaf))`, the
//! keys sorted, and each run of equal keys replaced by its centroid. Sorting (not hashing) makes
//! the output order a function of the input set only: deterministic across runs and threads.

/// Most points one call accepts: the point index shares a `u64` sort key with the voxel
/// coordinates (22 bits of index, 14 bits per axis).
pub const MAX_POINTS: usize = 1 << 22;
const AXIS_BITS: u32 = 14;
const AXIS_BIAS: i64 = 1 << (AXIS_BITS - 1);
const AXIS_MAX: i64 = (1 << AXIS_BITS) - 1;

/// Voxel centroids as struct-of-arrays (metres, the input frame), plus the mean of one extra
/// per-point attribute (the pipeline carries height above ground).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoxelCloud {
    /// Centroid x.
    pub x: Vec<f32>,
    /// Centroid y.
    pub y: Vec<f32>,
    /// Centroid z.
    pub z: Vec<f32>,
    /// Mean of the extra attribute over the voxel's points.
    pub extra: Vec<f32>,
    /// Number of input points in each voxel.
    pub count: Vec<u32>,
    /// Bird's-eye-view columns: voxels are ordered by (x, y, z) voxel index, so the voxels
    /// sharing one (x, y) cell are contiguous; column `c` is `columns[c]..columns[c + 1]`.
    pub columns: Vec<u32>,
}

impl VoxelCloud {
    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True when there are no voxels.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    fn clear(&mut self) {
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.extra.clear();
        self.count.clear();
        self.columns.clear();
    }

    /// The (x, y) centroid of each column's voxel centroids into `points`, and its voxel count
    /// into `weights` (both cleared first): the input of
    /// [`euclidean_clusters_bev`](crate::cluster::euclidean_clusters_bev).
    pub fn column_centroids(&self, points: &mut Vec<[f32; 2]>, weights: &mut Vec<u32>) {
        points.clear();
        weights.clear();
        for w in self.columns.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            let k = (b - a) as f32;
            let sx: f32 = self.x[a..b].iter().sum();
            let sy: f32 = self.y[a..b].iter().sum();
            points.push([sx / k, sy / k]);
            weights.push((b - a) as u32);
        }
    }

    /// Number of bird's-eye-view columns.
    pub fn column_count(&self) -> usize {
        self.columns.len().saturating_sub(1)
    }
}

/// Reusable buffers of [`voxel_downsample`].
#[derive(Debug, Clone, Default)]
pub struct VoxelScratch {
    keys: Vec<u64>,
    tmp: Vec<u64>,
}

/// Replaces the points selected by `keep` (indices into the columns `[x, y, z, extra]`, metres
/// and any attribute to average) by the centroids of the `leaf_m` voxels they occupy, writing
/// into `out`.
///
/// Voxel coordinates are clamped to ±8192 voxels from the origin (±1.2 km at 0.15 m leaves),
/// so points beyond are merged into the boundary voxels; the pipeline's range cap keeps every
/// point well inside. At most [`MAX_POINTS`] indices are used; the rest are ignored. Non-finite
/// coordinates must be filtered out before (the pipeline's sanitiser does).
pub fn voxel_downsample(
    [x, y, z, extra]: [&[f32]; 4],
    keep: &[u32],
    leaf_m: f32,
    scratch: &mut VoxelScratch,
    out: &mut VoxelCloud,
) {
    out.clear();
    let inv = 1.0 / leaf_m;
    let cell = |v: f32| -> u64 { ((v * inv).floor() as i64 + AXIS_BIAS).clamp(0, AXIS_MAX) as u64 };
    let keep = &keep[..keep.len().min(MAX_POINTS)];
    scratch.keys.clear();
    scratch.keys.extend(keep.iter().enumerate().map(|(k, &i)| {
        let i = i as usize;
        let key = (cell(x[i]) << (2 * AXIS_BITS)) | (cell(y[i]) << AXIS_BITS) | cell(z[i]);
        (key << 22) | k as u64
    }));
    radix_sort_by_high_bits(&mut scratch.keys, &mut scratch.tmp);

    let mut start = 0;
    let keys = &scratch.keys;
    let mut column = u64::MAX;
    while start < keys.len() {
        let key = keys[start] >> 22;
        if key >> AXIS_BITS != column {
            column = key >> AXIS_BITS;
            out.columns.push(out.x.len() as u32);
        }
        let mut end = start + 1;
        while end < keys.len() && keys[end] >> 22 == key {
            end += 1;
        }
        let (mut sx, mut sy, mut sz, mut se) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for &k in &keys[start..end] {
            let i = keep[(k & ((1 << 22) - 1)) as usize] as usize;
            sx += x[i];
            sy += y[i];
            sz += z[i];
            se += extra[i];
        }
        let inv_n = 1.0 / (end - start) as f32;
        out.x.push(sx * inv_n);
        out.y.push(sy * inv_n);
        out.z.push(sz * inv_n);
        out.extra.push(se * inv_n);
        out.count.push((end - start) as u32);
        start = end;
    }
    out.columns.push(out.x.len() as u32);
}

/// Stable LSD radix sort on bits 22..64 (the voxel key), 11 bits per pass. The low 22 bits (the
/// position) come in ascending, so equal keys stay in input order.
fn radix_sort_by_high_bits(keys: &mut Vec<u64>, tmp: &mut Vec<u64>) {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    tmp.clear();
    tmp.resize(keys.len(), 0);
    let mut counts = vec![0usize; BUCKETS];
    let mut shift = 22;
    while shift < 64 {
        counts.fill(0);
        for &k in keys.iter() {
            counts[((k >> shift) as usize) & (BUCKETS - 1)] += 1;
        }
        // Skip passes where every key falls in one bucket (common for the top bits).
        if counts.contains(&keys.len()) {
            shift += BITS;
            continue;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let v = *c;
            *c = sum;
            sum += v;
        }
        for &k in keys.iter() {
            let b = ((k >> shift) as usize) & (BUCKETS - 1);
            tmp[counts[b]] = k;
            counts[b] += 1;
        }
        std::mem::swap(keys, tmp);
        shift += BITS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_one_voxel_become_their_centroid() {
        let x = [0.01, 0.02, 0.03, 1.01];
        let y = [0.0, 0.0, 0.0, 0.0];
        let z = [0.05, 0.05, 0.05, 0.05];
        let h = [1.0, 2.0, 3.0, 4.0];
        let (mut s, mut out) = (VoxelScratch::default(), VoxelCloud::default());
        voxel_downsample([&x, &y, &z, &h], &[0, 1, 2, 3], 0.1, &mut s, &mut out);
        assert_eq!(out.len(), 2);
        assert!((out.x[0] - 0.02).abs() < 1e-6);
        assert_eq!(out.extra[0], 2.0);
        assert_eq!(out.count, vec![3, 1]);
        assert_eq!(out.columns, vec![0, 1, 2]);
    }

    #[test]
    fn voxels_stacked_in_one_bev_cell_form_one_column() {
        let (x, y, z, h) = ([0.05, 0.05, 0.05, 0.5], [0.05, 0.05, 0.05, 0.05], [0.05, 0.5, 1.5, 0.05], [0.0; 4]);
        let (mut s, mut out) = (VoxelScratch::default(), VoxelCloud::default());
        voxel_downsample([&x, &y, &z, &h], &[0, 1, 2, 3], 0.1, &mut s, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(out.columns, vec![0, 3, 4]);
    }

    #[test]
    fn negative_coordinates_do_not_share_a_voxel_with_positive_ones() {
        let (x, y, z, h) = ([-0.01, 0.01], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]);
        let (mut s, mut out) = (VoxelScratch::default(), VoxelCloud::default());
        voxel_downsample([&x, &y, &z, &h], &[0, 1], 0.1, &mut s, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn radix_sort_orders_keys_and_keeps_ties_stable() {
        let mut keys: Vec<u64> = (0..5000u64).map(|i| (((i * 7919) % 1013) << 22) | i).collect();
        let mut expected = keys.clone();
        expected.sort_by_key(|k| (k >> 22, k & ((1 << 22) - 1)));
        radix_sort_by_high_bits(&mut keys, &mut Vec::new());
        assert_eq!(keys, expected);
    }
}
