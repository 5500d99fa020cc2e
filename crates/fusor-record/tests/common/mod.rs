//! Helpers shared by the integration tests.
#![allow(dead_code)]

use fusor_core::Stamp;
use fusor_record::{McapReader, McapWriter, RawMessage, RecordError, WriterOptions};
use std::path::{Path, PathBuf};

/// The shared test data: `$FUSOR_DATA`, else `<repo>/../shared/data`.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("FUSOR_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// A `std_msgs/msg/String`-shaped CDR payload (header + length-prefixed string).
pub fn cdr_string(text: &str) -> Vec<u8> {
    let mut out = vec![0, 1, 0, 0];
    out.extend_from_slice(&(text.len() as u32 + 1).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    out
}

pub const STRING_DEF: &str = "string data\n";

/// Writes `n` messages round-robin on three topics, 10 ms apart from t = 1e18 ns, into small
/// chunks so that the file has many of them. Returns what was written, in log-time order.
pub fn write_sample(path: &Path, n: usize, chunk_size_bytes: u64) -> Vec<(String, Stamp, Vec<u8>)> {
    let options = WriterOptions { chunk_size_bytes, ..WriterOptions::default() };
    let mut writer = McapWriter::create_with_options(path, options).unwrap();
    let topics = ["/a", "/b/c", "/d"];
    let mut written = Vec::new();
    for i in 0..n {
        let topic = topics[i % topics.len()];
        let t = Stamp(1_000_000_000_000_000_000 + i as i64 * 10_000_000);
        let data = cdr_string(&format!("message {i} on {topic} {}", "x".repeat(i % 50)));
        writer.write_raw(topic, "std_msgs/msg/String", STRING_DEF, t, t, &data).unwrap();
        written.push((topic.to_owned(), t, data));
    }
    writer.finish().unwrap();
    written
}

/// Reads every message until the first error; returns the messages and the error, if any.
pub fn read_all(path: &Path) -> Result<(Vec<RawMessage>, Option<RecordError>), RecordError> {
    let reader = McapReader::open(path)?;
    let mut messages = Vec::new();
    let mut error = None;
    let mut iter = reader.messages()?;
    for item in iter.by_ref() {
        match item {
            Ok(m) => messages.push(m),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert!(iter.next().is_none(), "the stream must end after its error");
    Ok((messages, error))
}
