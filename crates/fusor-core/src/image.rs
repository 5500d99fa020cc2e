//! Camera images (8-bit, row-major, with an explicit row stride).

use crate::{CoreError, FrameId, Result, Stamp};
use serde::{Deserialize, Serialize};

/// Pixel layout of an [`Image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PixelFormat {
    /// 3 bytes per pixel: red, green, blue.
    Rgb8,
    /// 3 bytes per pixel: blue, green, red.
    Bgr8,
    /// 1 byte per pixel: grey.
    Mono8,
}

impl PixelFormat {
    /// Bytes per pixel.
    pub const fn channels(self) -> usize {
        match self {
            Self::Rgb8 | Self::Bgr8 => 3,
            Self::Mono8 => 1,
        }
    }
    /// The ROS `sensor_msgs/Image.encoding` string.
    pub const fn ros_encoding(self) -> &'static str {
        match self {
            Self::Rgb8 => "rgb8",
            Self::Bgr8 => "bgr8",
            Self::Mono8 => "mono8",
        }
    }
}

/// An 8-bit image. Row `r` starts at byte `r * stride`; a row may carry padding after
/// `width * channels` bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Time of exposure.
    pub stamp: Stamp,
    /// Camera optical frame (z forward, x right, y down).
    pub frame_id: FrameId,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel layout.
    pub format: PixelFormat,
    /// Bytes per row (≥ `width * channels`).
    pub stride: usize,
    /// Pixel bytes, `stride * height` long.
    pub data: Vec<u8>,
}

impl Image {
    /// A checked image: the stride covers a row and `data` holds exactly `stride * height` bytes.
    pub fn new(
        stamp: Stamp,
        frame_id: impl Into<FrameId>,
        width: u32,
        height: u32,
        format: PixelFormat,
        stride: usize,
        data: Vec<u8>,
    ) -> Result<Self> {
        let row = (width as usize)
            .checked_mul(format.channels())
            .ok_or_else(|| CoreError::invalid("image", "width overflows"))?;
        if stride < row {
            return Err(CoreError::invalid(
                "image",
                format!("stride {stride} < width {width} × {} channels", format.channels()),
            ));
        }
        let need = stride
            .checked_mul(height as usize)
            .ok_or_else(|| CoreError::invalid("image", "stride × height overflows"))?;
        if data.len() != need {
            return Err(CoreError::invalid(
                "image",
                format!("{} data bytes, expected stride {stride} × height {height} = {need}", data.len()),
            ));
        }
        Ok(Self { stamp, frame_id: frame_id.into(), width, height, format, stride, data })
    }

    /// The bytes of pixel `(u, v)` (column, row), `None` outside the image.
    pub fn pixel(&self, u: u32, v: u32) -> Option<&[u8]> {
        if u >= self.width || v >= self.height {
            return None;
        }
        let c = self.format.channels();
        let start = v as usize * self.stride + u as usize * c;
        self.data.get(start..start + c)
    }

    /// The pixel as RGB (grey replicated), `None` outside the image.
    pub fn rgb(&self, u: u32, v: u32) -> Option<[u8; 3]> {
        let p = self.pixel(u, v)?;
        Some(match self.format {
            PixelFormat::Rgb8 => [p[0], p[1], p[2]],
            PixelFormat::Bgr8 => [p[2], p[1], p[0]],
            PixelFormat::Mono8 => [p[0]; 3],
        })
    }

    /// Tightly packed RGB bytes (`width * height * 3`), dropping row padding.
    pub fn to_rgb8_packed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.width as usize * self.height as usize * 3);
        for v in 0..self.height {
            for u in 0..self.width {
                if let Some(px) = self.rgb(u, v) {
                    out.extend_from_slice(&px);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stride_padding_is_skipped_and_bgr_is_swapped() {
        // 2×2 bgr8 with 2 bytes of padding per row.
        let data = vec![1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        let img = Image::new(Stamp(0), "camera", 2, 2, PixelFormat::Bgr8, 8, data).unwrap();
        assert_eq!(img.rgb(1, 1), Some([12, 11, 10]));
        assert_eq!(img.rgb(2, 0), None);
        assert_eq!(img.to_rgb8_packed(), vec![3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]);
    }

    #[test]
    fn rejects_short_stride_and_wrong_length() {
        assert!(Image::new(Stamp(0), "c", 4, 1, PixelFormat::Rgb8, 11, vec![0; 11]).is_err());
        assert!(Image::new(Stamp(0), "c", 4, 2, PixelFormat::Rgb8, 12, vec![0; 23]).is_err());
        assert!(Image::new(Stamp(0), "c", u32::MAX, u32::MAX, PixelFormat::Rgb8, usize::MAX, vec![]).is_err());
    }
}
