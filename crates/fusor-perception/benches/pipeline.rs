//! The geometric detector on the real 120k-point KITTI scan (kitti_object training 000001):
//! each stage on its real input, and the whole pipeline (sanitise + ground + voxel + cluster +
//! boxes, no camera).
//!
//! `cargo bench -p fusor-perception --bench pipeline -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used)] // bench: a panic is a setup failure report

#[path = "../tests/support/kitti.rs"]
mod kitti;

use criterion::{criterion_group, criterion_main, Criterion};
use fusor_perception::boxfit::fit_box;
use fusor_perception::classify::classify;
use fusor_perception::cluster::{euclidean_clusters_bev, expand_columns};
use fusor_perception::ground::{GroundLabels, GroundSegmenter};
use fusor_perception::voxel::{voxel_downsample, VoxelCloud, VoxelScratch};
use fusor_perception::{Perception, PerceptionParams};
use std::hint::black_box;

fn pipeline(c: &mut Criterion) {
    let frame = kitti::load("000001").expect("KITTI object frame 000001 (set FUSOR_DATA)");
    let params = PerceptionParams::default();
    let mut perception = Perception::new(params.clone()).unwrap();
    let out = perception.process(&frame.cloud, None).unwrap();
    eprintln!("000001: {} points, stats {:?}", frame.cloud.len(), out.stats);

    // Stage inputs, taken from one full run.
    let (x, y, z) = perception.sanitised_points();
    let (x, y, z) = (x.to_vec(), y.to_vec(), z.to_vec());
    let labels = perception.last_ground_labels().clone();
    let keep: Vec<u32> = (0..x.len() as u32)
        .filter(|&i| {
            !labels.is_ground[i as usize]
                && labels.height_above_ground_m[i as usize] <= params.voxel.max_height_above_ground_m
        })
        .collect();
    let voxels = perception.last_voxels().clone();
    let (mut columns, mut weights) = (Vec::new(), Vec::new());
    voxels.column_centroids(&mut columns, &mut weights);
    let cp = &params.cluster;
    let clusters = expand_columns(
        &euclidean_clusters_bev(&columns, &weights, cp.tolerance_m, cp.min_points, cp.max_points),
        &voxels.columns,
    );

    let mut group = c.benchmark_group("kitti_000001");
    group.bench_function("total", |b| b.iter(|| black_box(perception.process(&frame.cloud, None).unwrap())));
    let mut ground = GroundSegmenter::new(&params.ground).unwrap();
    let mut out_labels = GroundLabels::default();
    group.bench_function("ground", |b| b.iter(|| ground.segment(&x, &y, &z, black_box(&mut out_labels))));
    let (mut scratch, mut vout) = (VoxelScratch::default(), VoxelCloud::default());
    group.bench_function("voxel", |b| {
        b.iter(|| {
            voxel_downsample(
                [&x, &y, &z, &labels.height_above_ground_m],
                &keep,
                params.voxel.leaf_m,
                &mut scratch,
                black_box(&mut vout),
            )
        })
    });
    group.bench_function("cluster", |b| {
        b.iter(|| {
            voxels.column_centroids(&mut columns, &mut weights);
            black_box(expand_columns(
                &euclidean_clusters_bev(&columns, &weights, cp.tolerance_m, cp.min_points, cp.max_points),
                &voxels.columns,
            ))
        })
    });
    let (mut bev, mut hull) = (Vec::new(), Vec::new());
    group.bench_function("boxes", |b| {
        b.iter(|| {
            for k in 0..clusters.len() {
                bev.clear();
                let (mut top, mut bottom) = (f32::NEG_INFINITY, 0.0);
                for &i in clusters.cluster(k) {
                    let i = i as usize;
                    bev.push([voxels.x[i], voxels.y[i]]);
                    top = top.max(voxels.z[i]);
                    bottom += voxels.z[i] - voxels.extra[i];
                }
                bottom /= clusters.cluster(k).len().max(1) as f32;
                let bx = fit_box(
                    &mut bev,
                    bottom,
                    top,
                    params.boxes.min_extent_m,
                    params.boxes.method,
                    &frame.cloud.frame_id,
                    &mut hull,
                );
                black_box(classify(bx.size.x as f32, bx.size.y as f32, bx.size.z as f32, params.class.min_score));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
