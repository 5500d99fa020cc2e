//! Euclidean clustering on a kiddo kd-tree.
//!
//! Two points closer than `tolerance_m` belong to the same cluster (single linkage, as PCL's
//! `EuclideanClusterExtraction`). The fixed-radius neighbour queries, the costly part, run in
//! parallel on an immutable kiddo tree; a union–find joins the pairs. Each point is queried once,
//! so work is bounded by the number of points times the neighbours within the tolerance, which
//! the voxel filter before bounds in turn (at most ~(2·tol/leaf)³ voxels fit in one ball).

use kiddo::{ImmutableKdTree, SquaredEuclidean};
use rayon::prelude::*;

/// Clusters in compressed form: the members of cluster `c` are
/// `members[starts[c] as usize..starts[c + 1] as usize]` (indices into the clustered points).
/// Clusters are ordered by their first member, so the output is deterministic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clusters {
    /// Member point indices, cluster after cluster.
    pub members: Vec<u32>,
    /// Start of each cluster in `members`, plus the end.
    pub starts: Vec<u32>,
    /// Clusters dropped for having fewer than `min_points` points.
    pub too_small: usize,
    /// Clusters dropped for having more than `max_points` points.
    pub too_large: usize,
}

impl Clusters {
    /// Number of clusters kept.
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// True when no cluster was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member indices of cluster `c` (empty when out of range).
    pub fn cluster(&self, c: usize) -> &[u32] {
        match (self.starts.get(c), self.starts.get(c + 1)) {
            (Some(&a), Some(&b)) => &self.members[a as usize..b as usize],
            _ => &[],
        }
    }
}

fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let p = parent[i as usize];
        parent[i as usize] = parent[p as usize];
        i = p;
    }
    i
}

/// Clusters the points (finite coordinates in metres) with tolerance `tolerance_m`, keeping
/// clusters of `min_points..=max_points` points. `points` is also the kd-tree's storage.
pub fn euclidean_clusters(points: &[[f32; 3]], tolerance_m: f32, min_points: usize, max_points: usize) -> Clusters {
    if points.is_empty() {
        return cluster_pairs(0, None, min_points, max_points, |_, _| {});
    }
    let tree: ImmutableKdTree<f32, 3> = ImmutableKdTree::new_from_slice(points);
    let r2 = tolerance_m * tolerance_m;
    cluster_pairs(points.len(), None, min_points, max_points, |i, edges| {
        for nb in tree.within_unsorted::<SquaredEuclidean>(&points[i], r2) {
            let j = nb.item as u32;
            if j > i as u32 {
                edges.push((i as u32, j));
            }
        }
    })
}

/// Bird's-eye-view variant: clusters planar points (metres), each standing for `weights[i]`
/// points (e.g. the voxels of one BEV column), with planar tolerance `tolerance_m`; cluster
/// sizes, and `min_points..=max_points`, count weights. Missing weights count 1.
pub fn euclidean_clusters_bev(
    points: &[[f32; 2]],
    weights: &[u32],
    tolerance_m: f32,
    min_points: usize,
    max_points: usize,
) -> Clusters {
    if points.is_empty() {
        return cluster_pairs(0, None, min_points, max_points, |_, _| {});
    }
    let tree: ImmutableKdTree<f32, 2> = ImmutableKdTree::new_from_slice(points);
    let r2 = tolerance_m * tolerance_m;
    cluster_pairs(points.len(), Some(weights), min_points, max_points, |i, edges| {
        for nb in tree.within_unsorted::<SquaredEuclidean>(&points[i], r2) {
            let j = nb.item as u32;
            if j > i as u32 {
                edges.push((i as u32, j));
            }
        }
    })
}

/// Turns clusters of BEV columns into clusters of the columns' voxels (`columns` as in
/// [`VoxelCloud::columns`](crate::voxel::VoxelCloud::columns)).
pub fn expand_columns(by_column: &Clusters, columns: &[u32]) -> Clusters {
    let mut c = Clusters { too_small: by_column.too_small, too_large: by_column.too_large, ..Clusters::default() };
    c.starts.push(0);
    for k in 0..by_column.len() {
        for &col in by_column.cluster(k) {
            if let (Some(&a), Some(&b)) = (columns.get(col as usize), columns.get(col as usize + 1)) {
                c.members.extend(a..b);
            }
        }
        c.starts.push(c.members.len() as u32);
    }
    c
}

/// Union–find over the pairs `neighbours(i, edges)` pushes (in parallel chunks), then the
/// size filter and a counting sort of members by cluster.
fn cluster_pairs<F>(n: usize, weights: Option<&[u32]>, min_points: usize, max_points: usize, neighbours: F) -> Clusters
where
    F: Fn(usize, &mut Vec<(u32, u32)>) + Sync,
{
    let mut out = Clusters::default();
    out.starts.push(0);
    if n == 0 {
        return out;
    }
    let chunk = 512;
    let pairs: Vec<Vec<(u32, u32)>> = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut edges = Vec::with_capacity(chunk * 8);
            for i in c * chunk..((c + 1) * chunk).min(n) {
                neighbours(i, &mut edges);
            }
            edges
        })
        .collect();

    let mut parent: Vec<u32> = (0..n as u32).collect();
    for edges in &pairs {
        for &(i, j) in edges {
            let (a, b) = (find(&mut parent, i), find(&mut parent, j));
            if a != b {
                // Smaller root wins: roots are then the first member of each cluster.
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                parent[hi as usize] = lo;
            }
        }
    }

    // Sizes per root (weighted), then counting sort of members by root.
    let mut size = vec![0u64; n];
    let mut members_of = vec![0u32; n];
    for i in 0..n as u32 {
        let r = find(&mut parent, i) as usize;
        size[r] += weights.and_then(|w| w.get(i as usize)).map_or(1, |&w| u64::from(w));
        members_of[r] += 1;
    }
    let mut slot = vec![u32::MAX; n];
    let mut total = 0u32;
    for r in 0..n {
        if members_of[r] == 0 {
            continue;
        }
        let s = size[r] as usize;
        if s < min_points {
            out.too_small += 1;
        } else if s > max_points {
            out.too_large += 1;
        } else {
            slot[r] = total;
            total += members_of[r];
            out.starts.push(total);
        }
    }
    out.members.resize(total as usize, 0);
    for i in 0..n as u32 {
        let r = parent[i as usize] as usize;
        let s = &mut slot[r];
        if *s != u32::MAX {
            out.members[*s as usize] = i;
            *s += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(cx: f32, cy: f32, n: usize) -> Vec<[f32; 3]> {
        (0..n).map(|i| [cx + (i % 4) as f32 * 0.1, cy + (i / 4) as f32 * 0.1, 0.0]).collect()
    }

    #[test]
    fn separates_blobs_farther_apart_than_the_tolerance() {
        let mut pts = blob(0.0, 0.0, 16);
        pts.extend(blob(5.0, 0.0, 12));
        pts.extend(blob(-5.0, 0.0, 2));
        let c = euclidean_clusters(&pts, 0.3, 3, 100);
        assert_eq!(c.len(), 2);
        assert_eq!(c.cluster(0).len(), 16);
        assert_eq!(c.cluster(1).len(), 12);
        assert_eq!(c.too_small, 1);
    }

    #[test]
    fn bev_clusters_count_weights_and_ignore_height() {
        let pts: Vec<[f32; 2]> = (0..10).map(|i| [i as f32 * 0.1, 0.0]).chain([[9.0, 9.0]]).collect();
        let weights = [3u32; 11];
        let c = euclidean_clusters_bev(&pts, &weights, 0.15, 4, 100);
        assert_eq!((c.len(), c.too_small), (1, 1), "the row weighs 30, the lone column 3");
        let c = euclidean_clusters_bev(&pts, &weights, 0.15, 31, 100);
        assert_eq!((c.len(), c.too_small), (0, 2));
    }

    #[test]
    fn chains_closer_than_the_tolerance_join_and_oversized_clusters_are_dropped() {
        let pts: Vec<[f32; 3]> = (0..200).map(|i| [i as f32 * 0.2, 0.0, 0.0]).collect();
        let c = euclidean_clusters(&pts, 0.25, 1, 150);
        assert_eq!((c.len(), c.too_large), (0, 1));
        let c = euclidean_clusters(&pts, 0.25, 1, 500);
        assert_eq!(c.cluster(0).len(), 200);
    }
}
