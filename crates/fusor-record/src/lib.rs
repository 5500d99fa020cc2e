//! MCAP recordings in the ROS 2 profile, and dataset importers.
//!
//! - [`McapWriter`]: streams typed or raw ROS 2 messages into a chunked, zstd-compressed,
//!   indexed MCAP file with bounded memory.
//! - [`McapReader`]: reads any ROS 2 MCAP (ours, rosbag2's, other libraries') in log-time order
//!   through its index, or by a linear scan when the index is missing or damaged; truncated
//!   and corrupted files yield every intact message and then one typed error.
//! - [`import`]: dataset importers (KITTI raw) into the standard topic layout.
//! - [`info`]: topics, types, counts, rates, time span, compression: `fusor info drive.mcap`.

mod error;
pub mod import;
pub mod info;
pub mod read;
pub mod write;

pub use error::{RecordError, Result};
pub use info::{info, McapInfo, TopicInfo};
pub use read::{McapReader, Messages, RawMessage};
pub use write::{Compression, McapWriter, WriteSummary, WriterOptions};
