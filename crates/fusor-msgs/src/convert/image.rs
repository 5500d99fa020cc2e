//! `sensor_msgs/Image` and `CompressedImage` ↔ [`Image`].

use super::time::{header, stamp_from_time};
use crate::sensor_msgs::{self, CompressedImage};
use crate::MsgError;
use fusor_core::{FrameId, Image, PixelFormat};
use image::{ExtendedColorType, ImageEncoder, ImageReader, Limits};
use std::io::Cursor;

/// Largest width or height accepted from a compressed image, in pixels.
pub const MAX_DECODED_SIDE: u32 = 16_384;
/// Largest allocation the PNG/JPEG decoder may make for one image, in bytes.
pub const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

/// How [`compressed_from_image`] encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressedFormat {
    /// Lossless PNG (`format: "png"`).
    Png,
    /// JPEG (`format: "jpeg"`) at `quality` 1–100 (clamped).
    Jpeg {
        /// 1 (smallest) to 100 (best).
        quality: u8,
    },
}

/// How a ROS encoding maps to fusor pixels.
enum Source {
    /// Same bytes, same layout.
    Direct(PixelFormat),
    /// 4 bytes per pixel, alpha dropped; `swap` for BGRA.
    DropAlpha { swap: bool },
}

/// Reads an uncompressed image. `rgb8`, `bgr8` and `mono8` keep their bytes and row step;
/// `rgba8` and `bgra8` become tightly packed `rgb8` (alpha dropped).
///
/// Errors: other encodings ([`MsgError::UnsupportedEncoding`]); `step < width × channels`,
/// `step × height > data.len()` or overflowing sizes ([`MsgError::ImageLayout`]). Data past
/// `step × height` is ignored.
pub fn image_from_msg(msg: &sensor_msgs::Image) -> Result<Image, MsgError> {
    let source = match msg.encoding.as_str() {
        "rgb8" => Source::Direct(PixelFormat::Rgb8),
        "bgr8" => Source::Direct(PixelFormat::Bgr8),
        "mono8" | "8UC1" => Source::Direct(PixelFormat::Mono8),
        "rgba8" => Source::DropAlpha { swap: false },
        "bgra8" => Source::DropAlpha { swap: true },
        other => return Err(MsgError::UnsupportedEncoding(other.to_owned())),
    };
    let channels = match source {
        Source::Direct(format) => format.channels(),
        Source::DropAlpha { .. } => 4,
    };
    let (width, height, step) = (msg.width as usize, msg.height as usize, msg.step as usize);
    let overflow = || MsgError::ImageLayout(format!("{width} × {height} pixels overflow"));
    let row = width.checked_mul(channels).ok_or_else(overflow)?;
    if step < row {
        return Err(MsgError::ImageLayout(format!("step {step} < width {width} × {channels} channels")));
    }
    let size = step.checked_mul(height).ok_or_else(overflow)?;
    let data = msg.data.get(..size).ok_or_else(|| {
        MsgError::ImageLayout(format!("step {step} × height {height} = {size} bytes, data has {}", msg.data.len()))
    })?;
    let stamp = stamp_from_time(msg.header.stamp)?;
    let frame = FrameId::new(&msg.header.frame_id);
    let image = match source {
        Source::Direct(format) => Image::new(stamp, frame, msg.width, msg.height, format, step, data.to_vec())?,
        Source::DropAlpha { swap } => {
            let mut rgb = Vec::with_capacity(width * height * 3);
            for r in 0..height {
                let row_bytes = data.get(r * step..r * step + row).ok_or_else(overflow)?;
                for px in row_bytes.chunks_exact(4) {
                    if let [a, b, c, _alpha] = *px {
                        rgb.extend_from_slice(&if swap { [c, b, a] } else { [a, b, c] });
                    }
                }
            }
            Image::new(stamp, frame, msg.width, msg.height, PixelFormat::Rgb8, width * 3, rgb)?
        }
    };
    Ok(image)
}

/// Writes an image as `sensor_msgs/Image` with its own encoding (`rgb8`, `bgr8`, `mono8`) and
/// row stride as `step`.
pub fn image_to_msg(image: &Image) -> Result<sensor_msgs::Image, MsgError> {
    let expected = image.stride.checked_mul(image.height as usize);
    if expected != Some(image.data.len()) || image.stride < image.width as usize * image.format.channels() {
        return Err(MsgError::ImageLayout(format!(
            "{} data bytes for stride {} × height {} (width {})",
            image.data.len(),
            image.stride,
            image.height,
            image.width
        )));
    }
    let step = u32::try_from(image.stride)
        .map_err(|_| MsgError::ImageLayout(format!("stride {} does not fit u32", image.stride)))?;
    Ok(sensor_msgs::Image {
        header: header(image.stamp, &image.frame_id)?,
        height: image.height,
        width: image.width,
        encoding: image.format.ros_encoding().to_owned(),
        is_bigendian: 0,
        step,
        data: image.data.clone(),
    })
}

/// Decodes a PNG or JPEG `CompressedImage` (the codec is sniffed from the bytes; `format` is
/// ignored). Grey images become `Mono8`, everything else `Rgb8` (alpha dropped, 16-bit scaled to
/// 8). Images wider or taller than [`MAX_DECODED_SIDE`] or needing more than
/// [`MAX_DECODED_BYTES`] are rejected before decoding.
pub fn image_from_compressed(msg: &CompressedImage) -> Result<Image, MsgError> {
    let mut reader = ImageReader::new(Cursor::new(msg.data.as_slice()))
        .with_guessed_format()
        .map_err(|e| MsgError::Codec(image::ImageError::IoError(e)))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let decoded = reader.decode()?;
    let (width, height) = (decoded.width(), decoded.height());
    let (format, data) = match decoded.color() {
        image::ColorType::L8 | image::ColorType::L16 => (PixelFormat::Mono8, decoded.into_luma8().into_raw()),
        _ => (PixelFormat::Rgb8, decoded.into_rgb8().into_raw()),
    };
    let stride = width as usize * format.channels();
    Ok(Image::new(
        stamp_from_time(msg.header.stamp)?,
        FrameId::new(&msg.header.frame_id),
        width,
        height,
        format,
        stride,
        data,
    )?)
}

/// Encodes an image as PNG or JPEG. `Mono8` stays grey; `Rgb8`/`Bgr8` are written as RGB.
/// `format` is `"png"` or `"jpeg"`.
pub fn compressed_from_image(image: &Image, format: CompressedFormat) -> Result<CompressedImage, MsgError> {
    let (pixels, color) = match image.format {
        PixelFormat::Mono8 => {
            let width = image.width as usize;
            let mut grey = Vec::with_capacity(width * image.height as usize);
            for r in 0..image.height as usize {
                let start = r * image.stride;
                let row = image
                    .data
                    .get(start..start + width)
                    .ok_or_else(|| MsgError::ImageLayout(format!("row {r} outside {} data bytes", image.data.len())))?;
                grey.extend_from_slice(row);
            }
            (grey, ExtendedColorType::L8)
        }
        PixelFormat::Rgb8 | PixelFormat::Bgr8 => (image.to_rgb8_packed(), ExtendedColorType::Rgb8),
    };
    let expected = image.width as usize * image.height as usize * image.format.channels();
    if pixels.len() != expected {
        return Err(MsgError::ImageLayout(format!("{} pixel bytes, expected {expected}", pixels.len())));
    }
    let mut out = Vec::new();
    let name = match format {
        CompressedFormat::Png => {
            image::codecs::png::PngEncoder::new(&mut out).write_image(&pixels, image.width, image.height, color)?;
            "png"
        }
        CompressedFormat::Jpeg { quality } => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100)).write_image(
                &pixels,
                image.width,
                image.height,
                color,
            )?;
            "jpeg"
        }
    };
    Ok(CompressedImage { header: header(image.stamp, &image.frame_id)?, format: name.to_owned(), data: out })
}
