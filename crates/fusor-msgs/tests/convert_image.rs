//! `Image` / `CompressedImage` ↔ fusor `Image`: encodings, strides, codecs and bad headers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use fusor_core::{Image, PixelFormat, Stamp};
use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::convert::{
    compressed_from_image, image_from_compressed, image_from_msg, image_to_msg, CompressedFormat,
};
use fusor_msgs::sensor_msgs::{self, CompressedImage};
use fusor_msgs::std_msgs::Header;
use fusor_msgs::MsgError;

fn msg(encoding: &str, width: u32, height: u32, step: u32, data: Vec<u8>) -> sensor_msgs::Image {
    sensor_msgs::Image {
        header: Header { stamp: Time { sec: 10, nanosec: 5 }, frame_id: "camera".into() },
        height,
        width,
        encoding: encoding.into(),
        is_bigendian: 0,
        step,
        data,
    }
}

/// A 5×3 RGB test pattern with 2 bytes of row padding.
fn pattern(format: PixelFormat) -> Image {
    let (w, h, ch) = (5u32, 3u32, format.channels());
    let stride = w as usize * ch + 2;
    let data = (0..stride * h as usize).map(|i| (i * 37 % 251) as u8).collect();
    Image::new(Stamp(10_000_000_005), "camera", w, h, format, stride, data).unwrap()
}

#[test]
fn rgb8_keeps_bytes_and_step_both_ways() {
    let data: Vec<u8> = (0..2 * 8).collect();
    let image = image_from_msg(&msg("rgb8", 2, 2, 8, data.clone())).unwrap();
    assert_eq!((image.format, image.stride, image.stamp), (PixelFormat::Rgb8, 8, Stamp(10_000_000_005)));
    assert_eq!(image.rgb(1, 1), Some([11, 12, 13]));
    let back = image_to_msg(&image).unwrap();
    assert_eq!(back, msg("rgb8", 2, 2, 8, data));
}

#[test]
fn bgr8_and_mono8_keep_their_format() {
    assert_eq!(image_from_msg(&msg("bgr8", 1, 1, 3, vec![1, 2, 3])).unwrap().rgb(0, 0), Some([3, 2, 1]));
    assert_eq!(image_from_msg(&msg("mono8", 2, 1, 2, vec![7, 9])).unwrap().format, PixelFormat::Mono8);
}

#[test]
fn rgba8_and_bgra8_become_packed_rgb8() {
    // 2×1 with 3 bytes of row padding.
    let rgba = image_from_msg(&msg("rgba8", 2, 1, 11, vec![1, 2, 3, 255, 4, 5, 6, 255, 0, 0, 0])).unwrap();
    assert_eq!((rgba.format, rgba.stride, rgba.data.clone()), (PixelFormat::Rgb8, 6, vec![1, 2, 3, 4, 5, 6]));
    let bgra = image_from_msg(&msg("bgra8", 2, 1, 8, vec![1, 2, 3, 255, 4, 5, 6, 255])).unwrap();
    assert_eq!(bgra.data, vec![3, 2, 1, 6, 5, 4]);
}

#[test]
fn data_past_step_times_height_is_ignored() {
    let image = image_from_msg(&msg("mono8", 2, 1, 2, vec![7, 9, 11])).unwrap();
    assert_eq!(image.data, vec![7, 9]);
}

#[test]
fn unsupported_encodings_are_named_in_the_error() {
    let err = image_from_msg(&msg("16UC1", 1, 1, 2, vec![0, 0])).unwrap_err();
    assert!(matches!(&err, MsgError::UnsupportedEncoding(e) if e == "16UC1"), "{err}");
}

#[test]
fn step_smaller_than_width_times_channels_is_a_layout_error() {
    assert!(matches!(image_from_msg(&msg("rgb8", 4, 1, 11, vec![0; 12])), Err(MsgError::ImageLayout(_))));
    assert!(matches!(image_from_msg(&msg("rgba8", 4, 1, 15, vec![0; 16])), Err(MsgError::ImageLayout(_))));
}

#[test]
fn height_times_step_beyond_data_is_a_layout_error() {
    assert!(matches!(image_from_msg(&msg("rgb8", 4, 2, 12, vec![0; 23])), Err(MsgError::ImageLayout(_))));
}

#[test]
fn absurd_sizes_fail_without_allocating() {
    let huge = msg("rgba8", u32::MAX, u32::MAX, u32::MAX, vec![]);
    assert!(matches!(image_from_msg(&huge), Err(MsgError::ImageLayout(_))));
    let huge = msg("mono8", u32::MAX, u32::MAX, u32::MAX, vec![]);
    assert!(matches!(image_from_msg(&huge), Err(MsgError::ImageLayout(_))));
}

#[test]
fn png_round_trips_rgb_bgr_and_mono_exactly() {
    for format in [PixelFormat::Rgb8, PixelFormat::Bgr8, PixelFormat::Mono8] {
        let image = pattern(format);
        let png = compressed_from_image(&image, CompressedFormat::Png).unwrap();
        assert_eq!(png.format, "png");
        assert_eq!(png.header.frame_id, "camera");
        let back = image_from_compressed(&png).unwrap();
        assert_eq!(back.stamp, image.stamp);
        let expected_format = if format == PixelFormat::Mono8 { PixelFormat::Mono8 } else { PixelFormat::Rgb8 };
        assert_eq!(back.format, expected_format);
        assert_eq!(back.to_rgb8_packed(), image.to_rgb8_packed(), "{format:?}");
    }
}

#[test]
fn jpeg_round_trips_approximately() {
    // A smooth gradient, which JPEG keeps well.
    let (w, h) = (32u32, 16u32);
    let data = (0..h).flat_map(|v| (0..w).flat_map(move |u| [(u * 8) as u8, (v * 16) as u8, 128])).collect();
    let image = Image::new(Stamp(0), "camera", w, h, PixelFormat::Rgb8, w as usize * 3, data).unwrap();
    let jpeg = compressed_from_image(&image, CompressedFormat::Jpeg { quality: 95 }).unwrap();
    assert_eq!(jpeg.format, "jpeg");
    let back = image_from_compressed(&jpeg).unwrap();
    let diff: f64 = back.data.iter().zip(&image.data).map(|(a, b)| f64::from(a.abs_diff(*b))).sum::<f64>()
        / image.data.len() as f64;
    assert!(diff < 3.0, "mean abs difference {diff}");
}

#[test]
fn garbage_compressed_bytes_are_a_codec_error() {
    let garbage =
        CompressedImage { format: "png".into(), data: b"\x89PNG\r\n\x1a\nnot really".to_vec(), ..Default::default() };
    assert!(matches!(image_from_compressed(&garbage), Err(MsgError::Codec(_))));
    let empty = CompressedImage::default();
    assert!(matches!(image_from_compressed(&empty), Err(MsgError::Codec(_))));
}

/// CRC-32 (IEEE) for patching PNG chunks.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_png_claiming_huge_dimensions_is_rejected_before_decoding() {
    let small = compressed_from_image(&pattern(PixelFormat::Mono8), CompressedFormat::Png).unwrap();
    let mut data = small.data.clone();
    // IHDR: 8-byte signature, length (4), "IHDR" (4), width (4) at 16, height (4) at 20, …, CRC at 29.
    data[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    data[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&data[12..29]);
    data[29..33].copy_from_slice(&crc.to_be_bytes());
    let huge = CompressedImage { data, ..small };
    assert!(matches!(image_from_compressed(&huge), Err(MsgError::Codec(_))));
}
