//! CDR framing: the encapsulation header, both byte orders, and typed errors on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::sensor_msgs::{PointCloud2, PointField};
use fusor_msgs::std_msgs::Header;
use fusor_msgs::{decode, encode, MsgError};

fn header() -> Header {
    Header { stamp: Time { sec: 1_317_000_000, nanosec: 123 }, frame_id: "lidar".into() }
}

#[test]
fn encodes_little_endian_cdr_with_the_encapsulation_header() {
    let bytes = encode(&header()).unwrap();
    let mut expected = vec![0x00, 0x01, 0x00, 0x00];
    expected.extend_from_slice(&1_317_000_000i32.to_le_bytes());
    expected.extend_from_slice(&123u32.to_le_bytes());
    expected.extend_from_slice(&6u32.to_le_bytes()); // string length incl. NUL
    expected.extend_from_slice(b"lidar\0");
    assert_eq!(bytes, expected);
}

#[test]
fn decodes_big_endian_cdr() {
    let mut bytes = vec![0x00, 0x00, 0x00, 0x00];
    bytes.extend_from_slice(&1_317_000_000i32.to_be_bytes());
    bytes.extend_from_slice(&123u32.to_be_bytes());
    bytes.extend_from_slice(&6u32.to_be_bytes());
    bytes.extend_from_slice(b"lidar\0");
    assert_eq!(decode::<Header>(&bytes).unwrap(), header());
}

#[test]
fn ignores_trailing_padding_after_the_message() {
    let mut bytes = encode(&header()).unwrap();
    bytes.extend_from_slice(&[0, 0]);
    assert_eq!(decode::<Header>(&bytes).unwrap(), header());
}

#[test]
fn rejects_bytes_shorter_than_the_encapsulation_header() {
    assert!(matches!(decode::<Header>(&[0x00, 0x01, 0x00]), Err(MsgError::TooShort { len: 3 })));
    assert!(matches!(decode::<Header>(&[]), Err(MsgError::TooShort { len: 0 })));
}

#[test]
fn rejects_other_encapsulations_such_as_xcdr2_and_parameter_lists() {
    let mut bytes = encode(&header()).unwrap();
    for id in [[0x00, 0x03], [0x00, 0x07], [0x01, 0x00]] {
        bytes[..2].copy_from_slice(&id);
        assert!(matches!(decode::<Header>(&bytes), Err(MsgError::UnsupportedEncapsulation(got)) if got == id));
    }
}

#[test]
fn every_truncation_of_a_message_is_a_cdr_error() {
    let cloud = PointCloud2 {
        header: header(),
        height: 1,
        width: 2,
        fields: vec![PointField { name: "x".into(), offset: 0, datatype: PointField::FLOAT32, count: 1 }],
        is_bigendian: false,
        point_step: 4,
        row_step: 8,
        data: vec![1, 2, 3, 4, 5, 6, 7, 8],
        is_dense: true,
    };
    let bytes = encode(&cloud).unwrap();
    assert_eq!(decode::<PointCloud2>(&bytes).unwrap(), cloud);
    for len in 4..bytes.len() {
        assert!(matches!(decode::<PointCloud2>(&bytes[..len]), Err(MsgError::Cdr(_))), "cut at {len}");
    }
}

#[test]
fn a_huge_sequence_length_fails_without_allocating_it() {
    // Header, then height/width, then a fields[] count of 2^32-1 with nothing behind it.
    let mut bytes = encode(&header()).unwrap();
    while !(bytes.len() - 4).is_multiple_of(4) {
        bytes.push(0);
    }
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode::<PointCloud2>(&bytes), Err(MsgError::Cdr(_))));
}

#[test]
fn a_huge_byte_array_length_fails_without_allocating_it() {
    let mut cloud = PointCloud2 { header: header(), ..PointCloud2::default() };
    cloud.data = vec![9; 4];
    let mut bytes = encode(&cloud).unwrap();
    // The data length prefix sits 4 bytes before the 4 data bytes and the trailing bool.
    let at = bytes.len() - 1 - 4 - 4;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode::<PointCloud2>(&bytes), Err(MsgError::Cdr(_))));
}

#[test]
fn invalid_utf8_in_a_string_is_an_error() {
    let mut bytes = encode(&header()).unwrap();
    let at = bytes.len() - 3;
    bytes[at] = 0xff;
    assert!(matches!(decode::<Header>(&bytes), Err(MsgError::Cdr(_))));
}
