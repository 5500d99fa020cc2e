//! ROS 2 messages for fusor, without ROS.
//!
//! - One module per ROS package ([`builtin_interfaces`], [`std_msgs`], [`sensor_msgs`],
//!   [`geometry_msgs`], [`tf2_msgs`], [`vision_msgs`], [`nav_msgs`], [`visualization_msgs`],
//!   [`diagnostic_msgs`]) holds plain serde structs whose fields follow the ROS 2 IDL order
//!   (Humble/Jazzy), so that CDR (de)serialisation matches the DDS wire and rosbag2/MCAP bytes.
//! - [`RosMessage`] gives each type its ROS name and full `ros2msg` schema text (for MCAP).
//! - [`encode`] / [`decode`] add / check the 4-byte CDR encapsulation header.
//! - [`convert`] maps messages to and from `fusor-core` payloads, checking every size taken from a
//!   message header before it is used.

pub mod builtin_interfaces;
pub mod convert;
mod definition;
pub mod diagnostic_msgs;
mod error;
pub mod geometry_msgs;
pub mod nav_msgs;
pub mod sensor_msgs;
pub mod std_msgs;
pub mod tf2_msgs;
pub mod vision_msgs;
pub mod visualization_msgs;

pub use error::MsgError;

use byteorder::{BigEndian, LittleEndian};

/// A ROS 2 message type: serde in IDL field order, plus its name and `.msg` schema text.
pub trait RosMessage: serde::Serialize + serde::de::DeserializeOwned {
    /// e.g. "sensor_msgs/msg/PointCloud2"
    const TYPE_NAME: &'static str;
    /// The full ros2msg schema text: this type's .msg text, then for every dependent type a line of 80 '=', a line `MSG: pkg/Type`, and its .msg text (as rosbag2/MCAP expect).
    fn definition() -> String;
}

/// CDR encapsulation header for little-endian plain CDR (`CDR_LE`), as written by every ROS 2 RMW
/// on x86/ARM.
pub const CDR_LE_HEADER: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// Serialises `msg` as little-endian CDR, prefixed by the 4-byte encapsulation header `00 01 00 00`:
/// exactly the bytes of a DDS sample and of an MCAP `cdr` message.
///
/// Fails only when the serialiser fails (e.g. a sequence longer than `u32::MAX` cannot be
/// represented; such messages are not produced by fusor).
pub fn encode<M: RosMessage>(msg: &M) -> Result<Vec<u8>, MsgError> {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(&CDR_LE_HEADER);
    // Alignment in CDR counts from the end of the encapsulation header; the serialiser counts
    // its own output, so writing after the header keeps alignment right.
    cdr_encoding::to_writer::<M, LittleEndian, _>(&mut bytes, msg)?;
    Ok(bytes)
}

/// Deserialises a CDR message with its 4-byte encapsulation header.
///
/// Accepts plain CDR in either byte order (`00 01` little-endian, `00 00` big-endian); the two
/// option bytes are ignored, as are trailing bytes (RMWs pad samples to 4 bytes). Anything else
/// (too short, other representation ids such as XCDR2 or parameter lists, truncated or malformed
/// payload) is a [`MsgError`]; lengths read from the payload are checked against the remaining
/// bytes before anything is allocated.
pub fn decode<M: RosMessage>(bytes: &[u8]) -> Result<M, MsgError> {
    let (header, payload) = match bytes {
        [a, b, _, _, payload @ ..] => ([*a, *b], payload),
        _ => return Err(MsgError::TooShort { len: bytes.len() }),
    };
    let msg = match header {
        [0x00, 0x01] => cdr_encoding::from_bytes::<M, LittleEndian>(payload)?.0,
        [0x00, 0x00] => cdr_encoding::from_bytes::<M, BigEndian>(payload)?.0,
        other => return Err(MsgError::UnsupportedEncapsulation(other)),
    };
    Ok(msg)
}

/// Implements [`RosMessage`] for a struct: `ros_message!(Type, "pkg", "Name")`.
macro_rules! ros_message {
    ($ty:ty, $pkg:literal, $name:literal) => {
        impl $crate::RosMessage for $ty {
            const TYPE_NAME: &'static str = concat!($pkg, "/msg/", $name);
            fn definition() -> String {
                $crate::definition::full_definition(concat!($pkg, "/", $name))
            }
        }
    };
}
pub(crate) use ros_message;
