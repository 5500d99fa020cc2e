//! The message-agnostic MCAP layer: writing, reading, damage, info.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cdr_string, read_all, write_sample, STRING_DEF};
use fusor_core::Stamp;
use fusor_record::{info, Compression, McapReader, McapWriter, RecordError, WriterOptions};
use proptest::prelude::*;
use std::path::Path;

#[test]
fn raw_messages_round_trip_with_topic_type_schema_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.mcap");
    let written = write_sample(&path, 500, 4096);

    let (messages, error) = read_all(&path).unwrap();
    assert!(error.is_none(), "{error:?}");
    assert_eq!(messages.len(), written.len());
    for (m, (topic, t, data)) in messages.iter().zip(&written) {
        assert_eq!(&m.topic, topic);
        assert_eq!(m.log_time, *t);
        assert_eq!(m.publish_time, *t);
        assert_eq!(&m.data, data);
        assert_eq!(m.schema_name, "std_msgs/msg/String");
        assert_eq!(m.schema_encoding, "ros2msg");
        assert_eq!(m.message_encoding, "cdr");
        assert_eq!(m.schema_text.as_deref(), Some(STRING_DEF));
    }
    // Per-topic sequence numbers count up from 0.
    let on_d: Vec<u32> = messages.iter().filter(|m| m.topic == "/d").map(|m| m.sequence).collect();
    assert_eq!(on_d, (0..on_d.len() as u32).collect::<Vec<_>>());
}

#[test]
fn file_is_ros2_profile_with_zstd_chunks_summary_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.mcap");
    write_sample(&path, 500, 4096);
    let reader = McapReader::open(&path).unwrap();
    assert_eq!(reader.profile(), Some("ros2"));
    assert!(reader.library().unwrap().starts_with("fusor-record/"));
    assert!(reader.is_indexed(), "{:?}", reader.summary_problem());
    let info = reader.info().unwrap();
    let chunks = info.chunks.as_ref().unwrap();
    assert!(chunks.chunk_count > 5, "small chunk size gives many chunks: {}", chunks.chunk_count);
    assert_eq!(chunks.compression.keys().collect::<Vec<_>>(), ["zstd"]);
}

#[test]
fn indexed_reading_yields_log_time_order_even_when_written_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shuffled.mcap");
    let options = WriterOptions { chunk_size_bytes: 256, ..WriterOptions::default() };
    let mut writer = McapWriter::create_with_options(&path, options).unwrap();
    // A late sensor: /slow's messages arrive 25 steps after /fast's of the same time.
    let mut expected = Vec::new();
    for i in 0..200i64 {
        let t = Stamp(1_000 + i * 1_000);
        writer.write_raw("/fast", "std_msgs/msg/String", STRING_DEF, t, t, &cdr_string("f")).unwrap();
        expected.push(t);
        if i >= 25 {
            let late = Stamp(1_000 + (i - 25) * 1_000 + 500);
            writer.write_raw("/slow", "std_msgs/msg/String", STRING_DEF, late, late, &cdr_string("s")).unwrap();
            expected.push(late);
        }
    }
    writer.finish().unwrap();
    expected.sort();
    let (messages, error) = read_all(&path).unwrap();
    assert!(error.is_none());
    let times: Vec<Stamp> = messages.iter().map(|m| m.log_time).collect();
    assert_eq!(times, expected);
}

#[test]
fn uncompressed_chunks_read_back_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.mcap");
    let options = WriterOptions { compression: Compression::None, chunk_size_bytes: 1000, ..WriterOptions::default() };
    let mut writer = McapWriter::create_with_options(&path, options).unwrap();
    for i in 0..50 {
        writer.write_raw("/a", "std_msgs/msg/String", STRING_DEF, Stamp(i), Stamp(i), &cdr_string("abc")).unwrap();
    }
    writer.finish().unwrap();
    let (messages, error) = read_all(&path).unwrap();
    assert!(error.is_none());
    assert_eq!(messages.len(), 50);
    assert_eq!(info(&path).unwrap().chunks.unwrap().compression.keys().collect::<Vec<_>>(), [""]);
}

#[test]
fn lz4_chunks_read_back_across_many_chunks_with_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lz4.mcap");
    let options = WriterOptions { compression: Compression::Lz4, chunk_size_bytes: 1000, ..WriterOptions::default() };
    let mut writer = McapWriter::create_with_options(&path, options).unwrap();
    let payloads: Vec<Vec<u8>> = (0..200).map(|i| cdr_string(&format!("message {i} {}", "x".repeat(i)))).collect();
    for (i, cdr) in payloads.iter().enumerate() {
        let t = Stamp(i as i64);
        writer.write_raw("/a", "std_msgs/msg/String", STRING_DEF, t, t, cdr).unwrap();
    }
    let summary = writer.finish().unwrap();
    assert!(summary.chunk_count > 20, "{} chunks", summary.chunk_count);
    let (messages, error) = read_all(&path).unwrap();
    assert!(error.is_none(), "{error:?}");
    let read: Vec<&[u8]> = messages.iter().map(|m| m.data.as_slice()).collect();
    assert_eq!(read, payloads.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(info(&path).unwrap().chunks.unwrap().compression.keys().collect::<Vec<_>>(), ["lz4"]);
}

/// splitmix64 bytes: incompressible, so the file size tracks what left the writer.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    // Streams of different seeds start 2^40 steps apart, so they never overlap.
    let mut state = (seed << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn writer_streams_closed_chunks_to_disk_instead_of_buffering_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.mcap");
    let chunk = 256 * 1024u64;
    let message_len = 100_000usize;
    let options = WriterOptions { chunk_size_bytes: chunk, ..WriterOptions::default() };
    let mut writer = McapWriter::create_with_options(&path, options).unwrap();
    assert_eq!(writer.options().chunk_size_bytes, chunk);
    let mut payload = 0u64;
    let mut max_backlog = 0u64;
    for i in 0..300u64 {
        let data = noise(message_len, i + 1);
        writer.write_raw("/noise", "std_msgs/msg/String", STRING_DEF, Stamp(i as i64), Stamp(i as i64), &data).unwrap();
        payload += data.len() as u64;
        let on_disk = std::fs::metadata(&path).unwrap().len();
        max_backlog = max_backlog.max(payload.saturating_sub(on_disk));
    }
    // What is not on disk yet is at most the open chunk, one overflowing message and the 1 MiB
    // file buffer: independent of the 30 MB written.
    let bound = chunk + message_len as u64 + (1 << 20) + 64 * 1024;
    assert!(max_backlog <= bound, "writer held {max_backlog} bytes back, bound {bound}");
    let summary = writer.finish().unwrap();
    assert_eq!(summary.message_count, 300);
    assert!(summary.file_size_bytes >= payload);
    assert!(summary.chunk_count >= 100);
}

#[test]
fn a_topic_keeps_its_first_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = McapWriter::create(dir.path().join("x.mcap")).unwrap();
    writer.write_raw("/a", "std_msgs/msg/String", STRING_DEF, Stamp(1), Stamp(1), &cdr_string("a")).unwrap();
    let err =
        writer.write_raw("/a", "std_msgs/msg/Int32", "int32 data\n", Stamp(2), Stamp(2), &[0, 1, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(err, Err(RecordError::TopicTypeConflict { .. })), "{err:?}");
}

#[test]
fn stamps_before_1970_are_rejected_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = McapWriter::create(dir.path().join("x.mcap")).unwrap();
    let err = writer.write_raw("/a", "std_msgs/msg/String", STRING_DEF, Stamp(-1), Stamp(0), &cdr_string("a"));
    assert!(matches!(err, Err(RecordError::NegativeStamp { stamp_ns: -1 })), "{err:?}");
}

#[test]
fn a_file_that_is_not_mcap_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mcap");
    std::fs::write(&path, b"definitely not an mcap file").unwrap();
    assert!(matches!(McapReader::open(&path), Err(RecordError::NotMcap { .. })));
    assert!(matches!(McapReader::open(dir.path().join("missing.mcap")), Err(RecordError::Io { .. })));
}

/// Checks the damage contract on one damaged copy: the delivered messages are exactly the first
/// `k` written, and if any is missing the stream ended with one `Damaged` error. Returns `k`.
fn check_prefix_contract(path: &Path, written: &[(String, Stamp, Vec<u8>)]) -> usize {
    let (messages, error) = match read_all(path) {
        Ok(r) => r,
        Err(RecordError::NotMcap { .. }) => return 0, // the start magic itself is damaged
        Err(e) => panic!("unexpected open error {e:?}"),
    };
    for (i, (m, (topic, t, data))) in messages.iter().zip(written).enumerate() {
        assert!(&m.topic == topic && m.log_time == *t && &m.data == data, "message {i} altered");
    }
    assert!(messages.len() <= written.len());
    if messages.len() < written.len() {
        match &error {
            Some(RecordError::Damaged { messages_before, .. }) => {
                assert_eq!(*messages_before, messages.len() as u64)
            }
            other => panic!("lost messages without a Damaged error: {other:?}"),
        }
    }
    messages.len()
}

#[test]
fn truncated_file_yields_every_message_before_the_cut_then_a_damaged_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.mcap");
    let written = write_sample(&path, 400, 2048);
    let bytes = std::fs::read(&path).unwrap();
    let cut_path = dir.path().join("cut.mcap");
    let mut previous = 0;
    let mut cuts = 0;
    for len in (0..bytes.len()).step_by(97) {
        std::fs::write(&cut_path, &bytes[..len]).unwrap();
        let delivered = check_prefix_contract(&cut_path, &written);
        assert!(delivered >= previous, "cutting later lost messages: {previous} → {delivered} at {len}");
        if len > 8 {
            // A cut file always says so.
            let (_, error) = read_all(&cut_path).unwrap();
            assert!(matches!(error, Some(RecordError::Damaged { .. })), "cut at {len}: {error:?}");
        }
        previous = delivered;
        cuts += 1;
    }
    assert!(cuts > 100);
    // Cut inside the summary: all messages survive, and info still reports them (by a scan).
    let summary_cut = bytes.len() - 40;
    std::fs::write(&cut_path, &bytes[..summary_cut]).unwrap();
    assert_eq!(check_prefix_contract(&cut_path, &written), written.len());
    let scanned = info(&cut_path).unwrap();
    assert!(!scanned.from_index);
    assert_eq!(scanned.message_count, written.len() as u64);
    assert!(scanned.damage.as_deref().unwrap().contains("truncated"), "{:?}", scanned.damage);
}

#[test]
fn corrupted_bytes_never_deliver_altered_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.mcap");
    let written = write_sample(&path, 200, 2048);
    let bytes = std::fs::read(&path).unwrap();
    let bad_path = dir.path().join("bad.mcap");
    let mut detected = 0;
    for at in (0..bytes.len()).step_by(7) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        std::fs::write(&bad_path, &bad).unwrap();
        if check_prefix_contract(&bad_path, &written) < written.len() {
            detected += 1;
        }
    }
    assert!(detected > 0);
}

/// The top-level records of an MCAP file's data section: (offset, opcode, body length).
fn top_level_records(bytes: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut records = Vec::new();
    let mut at = 8;
    while at + 9 <= bytes.len() {
        let opcode = bytes[at];
        let len = u64::from_le_bytes(bytes[at + 1..at + 9].try_into().unwrap()) as usize;
        records.push((at, opcode, len));
        if opcode == 0x0f {
            break; // data end
        }
        at += 9 + len;
    }
    records
}

#[test]
fn a_scan_refuses_damaged_framing_instead_of_skipping_or_inventing_messages() {
    // Found by the property test below: without a summary the file is scanned, and a scan that
    // follows the MCAP spec's "skip what you do not know" silently lost a whole chunk when its
    // opcode byte was damaged, read a message index as a message when its opcode became 0x05,
    // and swallowed the next chunk when a message index's length field grew.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.mcap");
    let written = write_sample(&path, 60, 1024);
    let bytes = std::fs::read(&path).unwrap();
    let records = top_level_records(&bytes);
    let chunks: Vec<usize> = records.iter().filter(|r| r.1 == 0x06).map(|r| r.0).collect();
    let indexes: Vec<usize> = records.iter().filter(|r| r.1 == 0x07).map(|r| r.0).collect();
    assert!(chunks.len() >= 4 && indexes.len() >= 4, "{records:?}");
    let damages = [
        ("a chunk's opcode made unknown", chunks[1], 0x06 ^ 0x80),
        ("a message index's opcode made a message's", indexes[2], 0x05),
        ("a message index's opcode made a data end's", indexes[2], 0x0f),
        ("a chunk's opcode made a message index's", chunks[2], 0x07),
    ];
    let bad = dir.path().join("bad.mcap");
    for (what, at, value) in damages {
        let mut damaged = bytes.clone();
        damaged[at] = value;
        damaged.pop(); // no end magic: no summary, so a linear scan
        std::fs::write(&bad, &damaged).unwrap();
        let delivered = check_prefix_contract(&bad, &written);
        assert!(delivered < written.len(), "{what}: every message delivered from a damaged file");
    }
    // A message index whose length grew by 512 bytes would swallow the next chunk.
    let (at, _, len) = records[records.iter().position(|r| r.1 == 0x07 && r.0 > chunks[1]).unwrap()];
    let mut damaged = bytes.clone();
    damaged[at + 1..at + 9].copy_from_slice(&(len as u64 + 512).to_le_bytes());
    damaged.pop();
    std::fs::write(&bad, &damaged).unwrap();
    assert!(check_prefix_contract(&bad, &written) < written.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_single_corruption_or_cut_keeps_the_prefix_contract(at in 0.0..1.0f64, xor in 1u8..=255, cut in 0.5..1.0f64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whole.mcap");
        let written = write_sample(&path, 60, 1024);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = ((bytes.len() - 1) as f64 * at) as usize;
        bytes[at] ^= xor;
        bytes.truncate((bytes.len() as f64 * cut) as usize);
        let bad = dir.path().join("bad.mcap");
        std::fs::write(&bad, &bytes).unwrap();
        check_prefix_contract(&bad, &written);
    }
}

#[test]
fn info_reports_topics_counts_span_rates_and_compression_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.mcap");
    write_sample(&path, 300, 4096);
    let info = info(&path).unwrap();
    assert!(info.from_index);
    assert_eq!(info.message_count, 300);
    assert_eq!(info.start, Some(Stamp(1_000_000_000_000_000_000)));
    assert_eq!(info.duration().nanos(), 299 * 10_000_000);
    let a = info.topic("/a").unwrap();
    assert_eq!(
        (a.message_count, a.schema_name.as_str(), a.message_encoding.as_str()),
        (100, "std_msgs/msg/String", "cdr")
    );
    assert_eq!(a.first, Some(Stamp(1_000_000_000_000_000_000)));
    assert_eq!(a.last, Some(Stamp(1_000_000_000_000_000_000 + 297 * 10_000_000)));
    // 100 messages, 30 ms apart.
    assert!((a.rate_hz().unwrap() - 1.0 / 0.03).abs() < 1e-9);
    assert!(info.compression_ratio().unwrap() > 1.0);

    let text = info.to_string();
    assert!(text.contains("Messages:          300"), "{text}");
    assert!(text.contains("Topic: /b/c | Type: std_msgs/msg/String | Count: 100 | Rate: 33.33 Hz"), "{text}");
    assert!(text.contains("zstd"), "{text}");
}

#[test]
fn a_chunk_without_crc_holding_an_unknown_record_is_damage_not_a_skipped_message() {
    // Another writer may leave chunk CRCs out (mcap's `calculate_chunk_crcs(false)`). Nothing then
    // tells a damaged message opcode from an extension record, so the indexed reader must stop
    // there rather than skip the message and deliver the ones after it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-crc.mcap");
    let mut written = Vec::new();
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut writer = mcap::WriteOptions::new()
            .profile("ros2")
            .compression(None)
            .chunk_size(Some(512))
            .calculate_chunk_crcs(false)
            .create(file)
            .unwrap();
        let schema = writer.add_schema("std_msgs/msg/String", "ros2msg", STRING_DEF.as_bytes()).unwrap();
        let channel = writer.add_channel(schema, "/a", "cdr", &Default::default()).unwrap();
        for i in 0..40u32 {
            let t = 1_000_000_000 + u64::from(i) * 10_000_000;
            let data = cdr_string(&format!("message {i:02}"));
            let header =
                mcap::records::MessageHeader { channel_id: channel, sequence: i, log_time: t, publish_time: t };
            writer.write_to_known_channel(&header, &data).unwrap();
            written.push(("/a".to_owned(), Stamp(t as i64), data));
        }
        writer.finish().unwrap();
    }
    let (messages, error) = read_all(&path).unwrap();
    assert!(error.is_none() && messages.len() == 40, "{error:?}");
    assert!(McapReader::open(&path).unwrap().is_indexed());

    // Message 17's record opcode (31 bytes before its payload, chunks uncompressed) made unknown.
    let mut bytes = std::fs::read(&path).unwrap();
    let payload = cdr_string("message 17");
    let at = bytes.windows(payload.len()).position(|w| w == payload.as_slice()).unwrap() - 31;
    assert_eq!(bytes[at], 0x05, "a message record starts there");
    bytes[at] = 0x90;
    let bad = dir.path().join("bad.mcap");
    std::fs::write(&bad, &bytes).unwrap();
    assert!(McapReader::open(&bad).unwrap().is_indexed(), "the summary does not cover the chunk");
    let delivered = check_prefix_contract(&bad, &written);
    assert!(delivered <= 17, "{delivered} messages delivered, past the damaged one");
}
