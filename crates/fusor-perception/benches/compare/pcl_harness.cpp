// Minimal PCL harness for the fusor side-by-side: the same stages with the same parameters as
// fusor-perception on KITTI velodyne scans.
//
//   pcl_harness <runs> <leaf_m> <plane_dist_m> <tol_m> <min_pts> <max_pts> <min_r> <max_r> <max_h> <scan.bin>...
//
// Per scan: range crop (min_r <= planar range < max_r), VoxelGrid(leaf), SACSegmentation plane
// (RANSAC, distance plane_dist, 100 iterations), drop inliers and points more than max_h above
// the plane, EuclideanClusterExtraction(tol, min_pts, max_pts) on a KdTree, axis-aligned boxes
// (getMinMax3D). Prints one JSON object: median stage times (ms) over <runs> runs of the first
// scan, and each scan's boxes (centre, size in metres, lidar frame).
#include <pcl/point_types.h>
#include <pcl/filters/voxel_grid.h>
#include <pcl/filters/extract_indices.h>
#include <pcl/segmentation/sac_segmentation.h>
#include <pcl/segmentation/extract_clusters.h>
#include <pcl/search/kdtree.h>
#include <pcl/common/common.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

using Cloud = pcl::PointCloud<pcl::PointXYZ>;
using Clock = std::chrono::steady_clock;

struct Params { float leaf, plane, tol; int min_pts, max_pts; float min_r, max_r, max_h; };
struct Times { double crop, voxel, ground, cluster, boxes; };
struct Box { float c[3], s[3]; };

static double ms(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

static Cloud::Ptr load(const char* path) {
    Cloud::Ptr cloud(new Cloud);
    std::ifstream f(path, std::ios::binary);
    if (!f) { std::fprintf(stderr, "cannot open %s\n", path); std::exit(1); }
    float rec[4];
    while (f.read(reinterpret_cast<char*>(rec), sizeof rec)) cloud->push_back(pcl::PointXYZ(rec[0], rec[1], rec[2]));
    return cloud;
}

static std::vector<Box> run(const Cloud::Ptr& raw, const Params& p, Times& t) {
    auto t0 = Clock::now();
    Cloud::Ptr cropped(new Cloud);
    cropped->reserve(raw->size());
    for (const auto& q : raw->points) {
        float r = std::hypot(q.x, q.y);
        if (std::isfinite(r) && std::isfinite(q.z) && r >= p.min_r && r < p.max_r) cropped->push_back(q);
    }
    auto t1 = Clock::now();
    Cloud::Ptr voxels(new Cloud);
    pcl::VoxelGrid<pcl::PointXYZ> vg;
    vg.setInputCloud(cropped);
    vg.setLeafSize(p.leaf, p.leaf, p.leaf);
    vg.filter(*voxels);
    auto t2 = Clock::now();
    pcl::ModelCoefficients::Ptr coeff(new pcl::ModelCoefficients);
    pcl::PointIndices::Ptr inliers(new pcl::PointIndices);
    pcl::SACSegmentation<pcl::PointXYZ> seg;
    seg.setOptimizeCoefficients(true);
    seg.setModelType(pcl::SACMODEL_PLANE);
    seg.setMethodType(pcl::SAC_RANSAC);
    seg.setDistanceThreshold(p.plane);
    seg.setMaxIterations(100);
    seg.setInputCloud(voxels);
    seg.segment(*inliers, *coeff);
    std::vector<char> is_ground(voxels->size(), 0);
    for (int i : inliers->indices) is_ground[i] = 1;
    float a = 0, b = 0, c = 1, d = 0;
    if (coeff->values.size() == 4) { a = coeff->values[0]; b = coeff->values[1]; c = coeff->values[2]; d = coeff->values[3]; }
    if (c < 0) { a = -a; b = -b; c = -c; d = -d; }
    Cloud::Ptr objects(new Cloud);
    for (size_t i = 0; i < voxels->size(); ++i) {
        const auto& q = voxels->points[i];
        float h = a * q.x + b * q.y + c * q.z + d;
        if (!is_ground[i] && h <= p.max_h) objects->push_back(q);
    }
    auto t3 = Clock::now();
    std::vector<pcl::PointIndices> clusters;
    pcl::search::KdTree<pcl::PointXYZ>::Ptr tree(new pcl::search::KdTree<pcl::PointXYZ>);
    tree->setInputCloud(objects);
    pcl::EuclideanClusterExtraction<pcl::PointXYZ> ec;
    ec.setClusterTolerance(p.tol);
    ec.setMinClusterSize(p.min_pts);
    ec.setMaxClusterSize(p.max_pts);
    ec.setSearchMethod(tree);
    ec.setInputCloud(objects);
    ec.extract(clusters);
    auto t4 = Clock::now();
    std::vector<Box> boxes;
    for (const auto& cl : clusters) {
        Eigen::Vector4f lo, hi;
        pcl::getMinMax3D(*objects, cl, lo, hi);
        boxes.push_back({{(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2}, {hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]}});
    }
    auto t5 = Clock::now();
    t = {ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t3, t4), ms(t4, t5)};
    return boxes;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

int main(int argc, char** argv) {
    if (argc < 11) { std::fprintf(stderr, "usage: see the header of pcl_harness.cpp\n"); return 2; }
    int runs = std::max(1, std::atoi(argv[1]));
    Params p{std::strtof(argv[2], nullptr), std::strtof(argv[3], nullptr), std::strtof(argv[4], nullptr),
             std::atoi(argv[5]), std::atoi(argv[6]), std::strtof(argv[7], nullptr), std::strtof(argv[8], nullptr),
             std::strtof(argv[9], nullptr)};
    std::printf("{\"tool\":\"pcl\",\"scans\":[");
    std::vector<double> crop, voxel, ground, cluster, boxes, total;
    for (int s = 10; s < argc; ++s) {
        Cloud::Ptr raw = load(argv[s]);
        Times t{};
        std::vector<Box> out = run(raw, p, t);
        if (s == 10) {
            for (int r = 0; r < runs; ++r) {
                run(raw, p, t);
                crop.push_back(t.crop); voxel.push_back(t.voxel); ground.push_back(t.ground);
                cluster.push_back(t.cluster); boxes.push_back(t.boxes);
                total.push_back(t.crop + t.voxel + t.ground + t.cluster + t.boxes);
            }
        }
        std::printf("%s{\"points\":%zu,\"boxes\":[", s == 10 ? "" : ",", raw->size());
        for (size_t i = 0; i < out.size(); ++i)
            std::printf("%s[%g,%g,%g,%g,%g,%g]", i ? "," : "", out[i].c[0], out[i].c[1], out[i].c[2], out[i].s[0], out[i].s[1], out[i].s[2]);
        std::printf("]}");
    }
    std::printf("],\"timing\":{\"crop_ms\":%g,\"voxel_ms\":%g,\"ground_ms\":%g,\"cluster_ms\":%g,\"boxes_ms\":%g,\"total_ms\":%g}}\n",
                median(crop), median(voxel), median(ground), median(cluster), median(boxes), median(total));
    return 0;
}
