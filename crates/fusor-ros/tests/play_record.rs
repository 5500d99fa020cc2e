//! `play` → DDS → `record` keeps every message and every byte, and the recorder's file survives
//! an abrupt stop up to its last flushed chunk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fusor_core::Stamp;
use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::sensor_msgs::{NavSatFix, NavSatStatus};
use fusor_msgs::std_msgs::Header;
use fusor_record::{McapReader, McapWriter};
use fusor_ros::play::{play, PlayOptions};
use fusor_ros::record::{record, RecordOptions, StreamingMcapWriter};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// A 1 s drive: 10 lidar scans of 200 kB at 10 Hz, 20 GNSS fixes at 20 Hz.
fn write_drive(path: &std::path::Path) {
    let mut w = McapWriter::create(path).unwrap();
    let t0 = 1_700_000_000_000_000_000i64;
    for i in 0..20u32 {
        let t = t0 + i as i64 * 50_000_000;
        if i % 2 == 0 {
            w.write("/sensing/lidar/points", &cloud_of_size(200_000, i), Stamp(t)).unwrap();
        }
        let fix = NavSatFix {
            header: Header {
                stamp: Time { sec: (t / 1_000_000_000) as i32, nanosec: (t % 1_000_000_000) as u32 },
                frame_id: "gnss".into(),
            },
            status: NavSatStatus { status: 0, service: 1 },
            latitude: 48.1 + i as f64 * 1e-6,
            longitude: 11.5,
            altitude: 520.0,
            position_covariance: [0.0; 9],
            position_covariance_type: 0,
        };
        w.write("/sensing/gnss/fix", &fix, Stamp(t)).unwrap();
    }
    w.finish().unwrap();
}

/// Per topic, the message bytes in order.
fn messages_by_topic(path: &std::path::Path) -> BTreeMap<String, Vec<Vec<u8>>> {
    let reader = McapReader::open(path).unwrap();
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for m in reader.messages().unwrap() {
        let m = m.unwrap();
        out.entry(m.topic).or_default().push(m.data);
    }
    out
}

#[test]
fn play_then_record_preserves_message_count_and_bytes_per_topic() {
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("drive.mcap");
    let recorded = dir.path().join("recorded.mcap");
    write_drive(&drive);
    let domain = test_domain(3);
    let recorder_node = node("recorder", domain);
    let player_node = node("player", domain);

    let stop = AtomicBool::new(false);
    let mut rec_options = RecordOptions::new(&recorded);
    rec_options.idle_exit = Some(Duration::from_secs(2));
    rec_options.duration = Some(Duration::from_secs(20));
    let mut play_options = PlayOptions::new(&drive);
    play_options.rate = 2.0;
    play_options.wait_for_readers = Some(Duration::from_secs(10));

    let (played, summary) = std::thread::scope(|s| {
        let recorder = s.spawn(|| record(&recorder_node, &rec_options, &stop));
        let played = play(&player_node, &play_options, &stop).expect("play");
        (played, recorder.join().expect("recorder thread").expect("record"))
    });

    assert_eq!(played.published, 30);
    assert!(played.unacknowledged.is_empty(), "{played:?}");
    let original = messages_by_topic(&drive);
    let copy = messages_by_topic(&recorded);
    assert_eq!(summary.message_count, 30, "recorded {:?}", summary.per_topic);
    assert_eq!(original.keys().collect::<Vec<_>>(), copy.keys().collect::<Vec<_>>());
    for (topic, messages) in &original {
        assert_eq!(messages.len(), copy[topic].len(), "{topic}: count");
        for (i, (a, b)) in messages.iter().zip(&copy[topic]).enumerate() {
            // DDS pads an unfragmented sample to a multiple of 4 bytes (the RTPS options field
            // counts the padding; the sample reader does not pass it on), as every RMW does: the
            // recorded bytes are the original plus at most 3 trailing zeros, which decoders ignore.
            let (body, padding) = b.split_at(a.len().min(b.len()));
            assert!(body == a.as_slice(), "{topic} message {i}: content differs");
            assert!(padding.len() < 4 && padding.iter().all(|&x| x == 0), "{topic} message {i}: tail {padding:?}");
        }
    }
    let reader = McapReader::open(&recorded).unwrap();
    let info = reader.info().unwrap();
    let gnss = info.topic("/sensing/gnss/fix").unwrap();
    assert_eq!(gnss.schema_name, "sensor_msgs/msg/NavSatFix");
}

#[test]
fn streaming_writer_leaves_every_flushed_chunk_readable_after_an_abrupt_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.mcap");
    let mut w = StreamingMcapWriter::create(&path, 64 * 1024, Duration::from_secs(60)).unwrap();
    let cdr = fusor_msgs::encode(&cloud_of_size(40_000, 1)).unwrap();
    for i in 0..25u64 {
        w.write("/sensing/lidar/points", "sensor_msgs/msg/PointCloud2", 1_000 + i, 1_000 + i, &cdr).unwrap();
    }
    // No finish, no Drop: what a SIGKILL leaves (only what reached the kernel is in the file).
    std::mem::forget(w);
    let reader = McapReader::open(&path).unwrap();
    assert!(!reader.is_indexed(), "an unfinished file has no summary");
    let read: Vec<_> = reader.messages().unwrap().map_while(Result::ok).collect();
    // 40 kB messages, 64 kB chunks: each chunk closes at its second message; the 25th is open.
    assert_eq!(read.len(), 24);
    assert!(read.iter().all(|m| m.data == cdr));
}
