//! Rust → Rust over DDS on loopback: typed publishers and subscriptions deliver fusor-msgs
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! structs field for field, large point clouds included.

mod common;

use common::*;
use fusor_msgs::sensor_msgs::PointCloud2;
use fusor_msgs::vision_msgs::Detection3DArray;
use fusor_ros::qos;
use std::time::{Duration, Instant};

#[test]
fn detection3d_array_arrives_field_for_field_with_transient_local_qos() {
    let domain = test_domain(1);
    let mut publisher_node = node("obstacle_pub", domain);
    let mut subscriber_node = node("obstacle_sub", domain);
    let q = qos::transient_local(1);
    let publisher = publisher_node.publisher::<Detection3DArray>("/perception/obstacles", &q).expect("publisher");
    let sent = sample_detections();
    // Transient-local: published before the subscriber exists, still delivered on matching.
    publisher.publish(sent.clone()).expect("publish");
    let subscription =
        subscriber_node.subscription::<Detection3DArray>("/perception/obstacles", &q).expect("subscription");
    let started = Instant::now();
    let received = wait_for(Duration::from_secs(10), || subscription.take().ok().flatten());
    let (msg, source_stamp) = received.expect("no Detection3DArray within 10 s");
    eprintln!("discovery + delivery: {:?}", started.elapsed());
    assert_eq!(msg, sent);
    assert!(source_stamp.is_some(), "DDS source timestamp missing");
}

#[test]
fn point_cloud_of_1_5_mb_arrives_intact_over_loopback() {
    let domain = test_domain(2);
    let mut publisher_node = node("cloud_pub", domain);
    let mut subscriber_node = node("cloud_sub", domain);
    let publisher =
        publisher_node.publisher::<PointCloud2>("/sensing/lidar/points", &qos::reliable()).expect("publisher");
    let subscription =
        subscriber_node.subscription::<PointCloud2>("/sensing/lidar/points", &qos::reliable()).expect("subscription");
    let cloud = cloud_of_size(1_500_000, 3);
    // Volatile: what is sent before the subscriber matched is gone, so repeat until one arrives.
    let received = wait_for(Duration::from_secs(15), || {
        publisher.publish(cloud.clone()).ok()?;
        wait_for(Duration::from_millis(300), || subscription.take().ok().flatten())
    });
    let (msg, _) = received.expect("no 1.5 MB PointCloud2 within 15 s");
    assert_eq!(msg.data.len(), cloud.data.len());
    assert!(msg == cloud, "cloud differs after the round trip");
}
