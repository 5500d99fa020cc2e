//! `sensor_msgs/PointCloud2` ↔ [`PointCloud`].
//!
//! Reading accepts any field layout: x/y/z as float32 or float64, an optional `intensity` of any
//! numeric type, an optional `ring` of any numeric type, an optional per-point time, padding inside
//! and between points, `row_step` padding between rows, `height > 1` (organised clouds are read
//! row by row) and big-endian data.

use super::time::{header, stamp_from_time};
use crate::sensor_msgs::{PointCloud2, PointField};
use crate::std_msgs::Header;
use crate::MsgError;
use byteorder::{BigEndian, LittleEndian};
use fusor_core::{FrameId, PointCloud};
use serde::Deserialize;

/// Names of the per-point time field, in order of preference.
const TIME_FIELDS: [&str; 3] = ["time", "t", "timestamp"];

/// A float time value above this magnitude (seconds, ~11.6 days) is taken as absolute Unix time,
/// not an offset from the header stamp.
const ABSOLUTE_TIME_MIN_S: f64 = 1e6;
/// A float time value above this magnitude is taken as absolute Unix time in nanoseconds
/// (1e14 s would be three million years).
const ABSOLUTE_TIME_NS_MIN: f64 = 1e14;

/// Where and how one field is stored in a point record.
#[derive(Debug, Clone, Copy)]
struct Field {
    offset: usize,
    datatype: u8,
}

impl Field {
    /// The first element of this field in `point`, as f64. `None` when the record is too short
    /// (cannot happen after [`Layout::parse`], but costs nothing to keep safe).
    fn read(self, point: &[u8], big_endian: bool) -> Option<f64> {
        fn take<const N: usize>(point: &[u8], offset: usize) -> Option<[u8; N]> {
            point.get(offset..offset.checked_add(N)?)?.try_into().ok()
        }
        let o = self.offset;
        macro_rules! num {
            ($t:ty) => {{
                let b = take::<{ std::mem::size_of::<$t>() }>(point, o)?;
                if big_endian {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                }
            }};
        }
        Some(match self.datatype {
            PointField::INT8 => f64::from(num!(i8)),
            PointField::UINT8 => f64::from(num!(u8)),
            PointField::INT16 => f64::from(num!(i16)),
            PointField::UINT16 => f64::from(num!(u16)),
            PointField::INT32 => f64::from(num!(i32)),
            PointField::UINT32 => f64::from(num!(u32)),
            PointField::FLOAT32 => f64::from(num!(f32)),
            PointField::FLOAT64 => num!(f64),
            _ => return None,
        })
    }

    fn is_float(self) -> bool {
        matches!(self.datatype, PointField::FLOAT32 | PointField::FLOAT64)
    }
}

/// The parts of a `PointCloud2` the conversion reads, borrowed: from a decoded message, or
/// straight from its CDR bytes (see [`pointcloud_from_cdr`]) without copying the point data.
#[derive(Debug, Clone, Copy)]
struct CloudView<'a> {
    header: &'a Header,
    height: u32,
    width: u32,
    fields: &'a [PointField],
    is_bigendian: bool,
    point_step: u32,
    row_step: u32,
    data: &'a [u8],
}

impl<'a> From<&'a PointCloud2> for CloudView<'a> {
    fn from(msg: &'a PointCloud2) -> Self {
        Self {
            header: &msg.header,
            height: msg.height,
            width: msg.width,
            fields: &msg.fields,
            is_bigendian: msg.is_bigendian,
            point_step: msg.point_step,
            row_step: msg.row_step,
            data: &msg.data,
        }
    }
}

/// `sensor_msgs/PointCloud2` in IDL field order with the point data borrowed from the CDR bytes.
#[derive(Debug, Deserialize)]
struct PointCloud2Borrowed<'a> {
    header: Header,
    height: u32,
    width: u32,
    fields: Vec<PointField>,
    is_bigendian: bool,
    point_step: u32,
    row_step: u32,
    #[serde(borrow)]
    data: &'a [u8],
    #[allow(dead_code)] // read to consume the whole message, like the owned type
    is_dense: bool,
}

impl<'a> PointCloud2Borrowed<'a> {
    fn view(&self) -> CloudView<'_> {
        CloudView {
            header: &self.header,
            height: self.height,
            width: self.width,
            fields: &self.fields,
            is_bigendian: self.is_bigendian,
            point_step: self.point_step,
            row_step: self.row_step,
            data: self.data,
        }
    }
}

/// A validated `PointCloud2` layout: every used field lies inside `point_step`, and every point
/// record lies inside `data`.
#[derive(Debug)]
struct Layout {
    x: Field,
    y: Field,
    z: Field,
    intensity: Option<Field>,
    ring: Option<Field>,
    time: Option<Field>,
    width: usize,
    height: usize,
    point_step: usize,
    row_step: usize,
}

impl Layout {
    fn parse(msg: &CloudView<'_>) -> Result<Self, MsgError> {
        let point_step = msg.point_step as usize;
        // Every field must have a known datatype and lie inside the point record.
        for f in msg.fields {
            let size = PointField::datatype_size(f.datatype)
                .ok_or_else(|| MsgError::UnknownDatatype { name: f.name.clone(), datatype: f.datatype })?;
            // count 0 is malformed but seen in the wild; it still occupies one element to read.
            let end = (f.count.max(1) as usize)
                .checked_mul(size)
                .and_then(|len| (f.offset as usize).checked_add(len))
                .ok_or_else(|| MsgError::PointCloudLayout(format!("field {:?} size overflows", f.name)))?;
            if end > point_step {
                return Err(MsgError::PointCloudLayout(format!(
                    "field {:?} (offset {}, {} × {} bytes) ends at byte {end}, past point_step {point_step}",
                    f.name,
                    f.offset,
                    f.count.max(1),
                    size
                )));
            }
        }
        let find = |name: &str| {
            msg.fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| (f.name.clone(), Field { offset: f.offset as usize, datatype: f.datatype }))
        };
        let coordinate = |name: &'static str| -> Result<Field, MsgError> {
            let (field_name, field) = find(name).ok_or(MsgError::MissingField(name))?;
            if !field.is_float() {
                return Err(MsgError::UnsupportedDatatype {
                    name: field_name,
                    datatype: field.datatype,
                    why: "coordinates must be float32 or float64 metres",
                });
            }
            Ok(field)
        };
        let (x, y, z) = (coordinate("x")?, coordinate("y")?, coordinate("z")?);
        let intensity = find("intensity").map(|(_, f)| f);
        let ring = find("ring").map(|(_, f)| f);
        let time = TIME_FIELDS.iter().find_map(|name| find(name)).map(|(_, f)| f);

        let width = msg.width as usize;
        let height = msg.height as usize;
        let row_step = msg.row_step as usize;
        let too_big =
            || MsgError::PointCloudLayout(format!("{width} × {height} points of {point_step} bytes overflow"));
        let row_bytes = width.checked_mul(point_step).ok_or_else(too_big)?;
        let all_points = row_bytes.checked_mul(height).ok_or_else(too_big)?;
        if all_points > msg.data.len() {
            return Err(MsgError::PointCloudLayout(format!(
                "point_step {point_step} × width {width} × height {height} = {all_points} bytes, data has {}",
                msg.data.len()
            )));
        }
        if row_step < row_bytes {
            return Err(MsgError::PointCloudLayout(format!(
                "row_step {row_step} < width {width} × point_step {point_step}"
            )));
        }
        // Bytes actually read: full rows except the last, which needs no trailing row padding.
        let needed = match height.checked_sub(1) {
            Some(rows_before_last) if width > 0 => {
                rows_before_last.checked_mul(row_step).and_then(|b| b.checked_add(row_bytes)).ok_or_else(too_big)?
            }
            _ => 0,
        };
        if needed > msg.data.len() {
            return Err(MsgError::PointCloudLayout(format!(
                "row_step {row_step} × {height} rows needs {needed} bytes, data has {}",
                msg.data.len()
            )));
        }
        Ok(Self { x, y, z, intensity, ring, time, width, height, point_step, row_step })
    }
}

/// Reads a `PointCloud2` of any layout into a struct-of-arrays [`PointCloud`].
///
/// - `x`, `y`, `z` (metres) must exist as float32 or float64; otherwise [`MsgError::MissingField`]
///   or [`MsgError::UnsupportedDatatype`].
/// - `intensity`: any numeric type, converted to f32 unscaled; 0 when the field is absent.
/// - `ring`: any numeric type; values that are not integers in `0..=65535` become `u16::MAX`.
/// - per-point time, from the first of the fields `time`, `t`, `timestamp`, becomes
///   `time_offset_s` (seconds after `header.stamp`):
///   - integer types are **nanoseconds** after the header stamp (Ouster's `t: uint32`);
///   - float32/float64 are **seconds** after the header stamp (Velodyne's `time: float32`), except
///     that values above 1e6 are absolute Unix time (seconds, e.g. Hesai's `timestamp: float64`;
///     nanoseconds above 1e14, e.g. Livox) and have the header stamp subtracted.
/// - Points are read row by row (`row * row_step + col * point_step`); invalid (NaN) points of
///   organised clouds are kept, so indices stay aligned with the sensor's order.
/// - Every field (used or not) must have a known datatype and lie within `point_step`, and every
///   point within `data`; all products are checked. Violations are
///   [`MsgError::UnknownDatatype`] / [`MsgError::PointCloudLayout`].
pub fn pointcloud_from_msg(msg: &PointCloud2) -> Result<PointCloud, MsgError> {
    pointcloud_from_view(&CloudView::from(msg))
}

/// [`pointcloud_from_msg`] straight from the message's CDR bytes (with the 4-byte encapsulation
/// header, as stored in MCAP and sent over DDS): the point data is read where it lies instead of
/// being copied into a `PointCloud2` first. Same result, same checks; CDR errors as in
/// [`crate::decode`].
pub fn pointcloud_from_cdr(cdr: &[u8]) -> Result<PointCloud, MsgError> {
    let (encapsulation, payload) = match cdr {
        [a, b, _, _, payload @ ..] => ([*a, *b], payload),
        _ => return Err(MsgError::TooShort { len: cdr.len() }),
    };
    let msg: PointCloud2Borrowed<'_> = match encapsulation {
        [0x00, 0x01] => cdr_encoding::from_bytes::<_, LittleEndian>(payload)?.0,
        [0x00, 0x00] => cdr_encoding::from_bytes::<_, BigEndian>(payload)?.0,
        other => return Err(MsgError::UnsupportedEncapsulation(other)),
    };
    pointcloud_from_view(&msg.view())
}

fn pointcloud_from_view(msg: &CloudView<'_>) -> Result<PointCloud, MsgError> {
    let layout = Layout::parse(msg)?;
    let stamp = stamp_from_time(msg.header.stamp)?;
    if let Some(fast) = FastLayout::of(&layout, msg.is_bigendian) {
        return Ok(pointcloud_fast(msg, &layout, fast, stamp));
    }
    pointcloud_generic(msg, &layout, stamp)
}

/// The generic path of [`pointcloud_from_msg`], for any validated layout. Kept callable so tests
/// can check the fast path against it.
#[doc(hidden)]
pub fn pointcloud_from_msg_generic(msg: &PointCloud2) -> Result<PointCloud, MsgError> {
    let view = CloudView::from(msg);
    let layout = Layout::parse(&view)?;
    let stamp = stamp_from_time(msg.header.stamp)?;
    pointcloud_generic(&view, &layout, stamp)
}

/// The layout nearly every driver and our own writer use: little-endian, rows without padding,
/// float32 x/y/z, optional float32 intensity, uint16 ring and float32 time. Offsets are free (and
/// already checked to lie inside `point_step` by [`Layout::parse`]).
#[derive(Debug, Clone, Copy)]
struct FastLayout {
    x: usize,
    y: usize,
    z: usize,
    intensity: Option<usize>,
    ring: Option<usize>,
    time: Option<usize>,
}

impl FastLayout {
    fn of(layout: &Layout, big_endian: bool) -> Option<Self> {
        let contiguous = layout.height <= 1 || layout.row_step == layout.width * layout.point_step;
        if big_endian || !contiguous {
            return None;
        }
        let f32_at = |f: Field| (f.datatype == PointField::FLOAT32).then_some(f.offset);
        let optional = |f: Option<Field>, datatype: u8| match f {
            None => Some(None),
            Some(f) if f.datatype == datatype => Some(Some(f.offset)),
            Some(_) => None,
        };
        Some(Self {
            x: f32_at(layout.x)?,
            y: f32_at(layout.y)?,
            z: f32_at(layout.z)?,
            intensity: optional(layout.intensity, PointField::FLOAT32)?,
            ring: optional(layout.ring, PointField::UINT16)?,
            time: optional(layout.time, PointField::FLOAT32)?,
        })
    }
}

/// Little-endian f32 at `offset` of a point record; NaN if the record is too short, which
/// [`Layout::parse`] rules out.
#[inline(always)]
fn le_f32(point: &[u8], offset: usize) -> f32 {
    match point.get(offset..offset + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
        Some(b) => f32::from_le_bytes(b),
        None => f32::NAN,
    }
}

#[inline(always)]
fn le_u16(point: &[u8], offset: usize) -> u16 {
    match point.get(offset..offset + 2).and_then(|b| <[u8; 2]>::try_from(b).ok()) {
        Some(b) => u16::from_le_bytes(b),
        None => u16::MAX,
    }
}

/// Points this many at a time: each field is read column by column (tight loops, no per-field
/// type dispatch) while the block's records (~50 KB) stay in the L1/L2 cache, so the record bytes
/// come from memory once, not once per field.
const FAST_BLOCK_POINTS: usize = 2048;

/// Gives exactly what [`pointcloud_generic`] gives for these layouts.
fn pointcloud_fast(msg: &CloudView<'_>, layout: &Layout, fast: FastLayout, stamp: fusor_core::Stamp) -> PointCloud {
    let n = layout.width * layout.height;
    let step = layout.point_step.max(1);
    // Layout::parse checked that n points of point_step bytes lie inside data; rows are contiguous.
    let bytes = msg.data.get(..n * layout.point_step).unwrap_or_default();
    let mut cloud = PointCloud::with_capacity(stamp, FrameId::new(&msg.header.frame_id), n);
    let mut ring = fast.ring.map(|_| Vec::with_capacity(n));
    let mut time = fast.time.map(|_| Vec::with_capacity(n));
    let stamp_s = stamp.secs_f64();
    for block in bytes.chunks(FAST_BLOCK_POINTS * step) {
        let points = || block.chunks_exact(step);
        cloud.x.extend(points().map(|p| le_f32(p, fast.x)));
        cloud.y.extend(points().map(|p| le_f32(p, fast.y)));
        cloud.z.extend(points().map(|p| le_f32(p, fast.z)));
        match fast.intensity {
            Some(at) => cloud.intensity.extend(points().map(|p| le_f32(p, at))),
            None => cloud.intensity.extend(points().map(|_| 0.0)),
        }
        if let (Some(ring), Some(at)) = (ring.as_mut(), fast.ring) {
            ring.extend(points().map(|p| le_u16(p, at)));
        }
        if let (Some(time), Some(at)) = (time.as_mut(), fast.time) {
            time.extend(points().map(|p| time_offset_s(f64::from(le_f32(p, at)), true, stamp_s) as f32));
        }
    }
    cloud.ring = ring;
    cloud.time_offset_s = time;
    cloud
}

fn pointcloud_generic(msg: &CloudView<'_>, layout: &Layout, stamp: fusor_core::Stamp) -> Result<PointCloud, MsgError> {
    // Bounded by data.len() / point_step (point_step ≥ 4 because x fits in it).
    let n = layout.width * layout.height;
    let mut cloud = PointCloud::with_capacity(stamp, FrameId::new(&msg.header.frame_id), n);
    let mut ring = layout.ring.map(|_| Vec::with_capacity(n));
    let mut time = layout.time.map(|_| Vec::with_capacity(n));
    let stamp_s = stamp.secs_f64();
    let big = msg.is_bigendian;
    let truncated = || MsgError::PointCloudLayout("point record outside data".into());

    for row in 0..layout.height {
        let row_start = row * layout.row_step;
        for col in 0..layout.width {
            let start = row_start + col * layout.point_step;
            let point = msg.data.get(start..start + layout.point_step).ok_or_else(truncated)?;
            let x = layout.x.read(point, big).ok_or_else(truncated)?;
            let y = layout.y.read(point, big).ok_or_else(truncated)?;
            let z = layout.z.read(point, big).ok_or_else(truncated)?;
            let intensity = match layout.intensity {
                Some(f) => f.read(point, big).ok_or_else(truncated)?,
                None => 0.0,
            };
            cloud.push(x as f32, y as f32, z as f32, intensity as f32);
            if let (Some(ring), Some(f)) = (ring.as_mut(), layout.ring) {
                ring.push(ring_value(f.read(point, big).ok_or_else(truncated)?));
            }
            if let (Some(time), Some(f)) = (time.as_mut(), layout.time) {
                let raw = f.read(point, big).ok_or_else(truncated)?;
                time.push(time_offset_s(raw, f.is_float(), stamp_s) as f32);
            }
        }
    }
    cloud.ring = ring;
    cloud.time_offset_s = time;
    Ok(cloud)
}

fn ring_value(v: f64) -> u16 {
    if v.is_finite() && v.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&v) {
        v as u16
    } else {
        u16::MAX
    }
}

fn time_offset_s(raw: f64, is_float: bool, stamp_s: f64) -> f64 {
    if !is_float {
        raw * 1e-9
    } else if raw.abs() > ABSOLUTE_TIME_NS_MIN {
        raw * 1e-9 - stamp_s
    } else if raw.abs() > ABSOLUTE_TIME_MIN_S {
        raw - stamp_s
    } else {
        raw
    }
}

/// Writes a [`PointCloud`] as an unorganised (`height` 1), little-endian `PointCloud2`:
/// `x, y, z, intensity` float32 at offsets 0/4/8/12, then `ring` uint16 at 16 when present, then
/// `time` float32 (seconds after the stamp, 4-byte aligned) when present; `point_step` is a
/// multiple of 4. `is_dense` is true when every coordinate is finite.
///
/// Fails when the columns have different lengths, the stamp does not fit a ROS time, or the cloud
/// does not fit `u32` sizes.
pub fn pointcloud_to_msg(cloud: &PointCloud) -> Result<PointCloud2, MsgError> {
    cloud.validate()?;
    let field = |name: &str, offset: u32, datatype: u8| PointField { name: name.into(), offset, datatype, count: 1 };
    let mut fields = vec![
        field("x", 0, PointField::FLOAT32),
        field("y", 4, PointField::FLOAT32),
        field("z", 8, PointField::FLOAT32),
        field("intensity", 12, PointField::FLOAT32),
    ];
    let mut step = 16u32;
    let ring_offset = cloud.ring.as_ref().map(|_| {
        fields.push(field("ring", step, PointField::UINT16));
        step += 2;
        step as usize - 2
    });
    let time_offset = cloud.time_offset_s.as_ref().map(|_| {
        step = step.next_multiple_of(4);
        fields.push(field("time", step, PointField::FLOAT32));
        step += 4;
        step as usize - 4
    });
    let point_step = step.next_multiple_of(4);

    let n = cloud.len();
    let too_big = || MsgError::PointCloudLayout(format!("{n} points do not fit PointCloud2's u32 sizes"));
    let width = u32::try_from(n).map_err(|_| too_big())?;
    let row_step = width.checked_mul(point_step).ok_or_else(too_big)?;
    let mut data = vec![0u8; row_step as usize];
    let mut is_dense = true;
    for (i, record) in data.chunks_exact_mut(point_step as usize).enumerate() {
        // validate() guarantees every column has n values.
        let (x, y, z) = (cloud.x[i], cloud.y[i], cloud.z[i]);
        is_dense &= x.is_finite() && y.is_finite() && z.is_finite();
        for (k, v) in [x, y, z, cloud.intensity[i]].into_iter().enumerate() {
            record[4 * k..4 * k + 4].copy_from_slice(&v.to_le_bytes());
        }
        if let (Some(at), Some(ring)) = (ring_offset, cloud.ring.as_ref()) {
            record[at..at + 2].copy_from_slice(&ring[i].to_le_bytes());
        }
        if let (Some(at), Some(time)) = (time_offset, cloud.time_offset_s.as_ref()) {
            record[at..at + 4].copy_from_slice(&time[i].to_le_bytes());
        }
    }
    Ok(PointCloud2 {
        header: header(cloud.stamp, &cloud.frame_id)?,
        height: 1,
        width,
        fields,
        is_bigendian: false,
        point_step,
        row_step,
        data,
        is_dense,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_core::Stamp;

    fn scan() -> PointCloud {
        let mut cloud = PointCloud::with_capacity(Stamp(1_700_000_000_123_456_789), "lidar", 5000);
        for i in 0..5000 {
            let k = i as f32;
            cloud.push(0.01 * k, -0.02 * k, 1.0 + 0.001 * k, k % 255.0);
        }
        cloud.ring = Some((0..5000).map(|i| (i % 64) as u16).collect());
        cloud.time_offset_s = Some((0..5000).map(|i| (i / 64) as f32 * 1e-4).collect());
        cloud
    }

    #[test]
    fn cdr_bytes_convert_like_the_decoded_message_and_the_generic_path() {
        let msg = pointcloud_to_msg(&scan()).unwrap_or_else(|e| panic!("{e}"));
        let cdr = crate::encode(&msg).unwrap_or_else(|e| panic!("{e}"));
        let from_cdr = pointcloud_from_cdr(&cdr).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(from_cdr, pointcloud_from_msg(&msg).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(from_cdr, pointcloud_from_msg_generic(&msg).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(from_cdr, scan());
    }

    #[test]
    fn bad_cdr_is_an_error_not_a_panic() {
        let msg = pointcloud_to_msg(&scan()).unwrap_or_else(|e| panic!("{e}"));
        let cdr = crate::encode(&msg).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(pointcloud_from_cdr(&cdr[..3]), Err(MsgError::TooShort { len: 3 })));
        assert!(matches!(pointcloud_from_cdr(&[0, 7, 0, 0, 1]), Err(MsgError::UnsupportedEncapsulation(_))));
        for len in [4, 40, cdr.len() / 2, cdr.len() - 1] {
            assert!(pointcloud_from_cdr(&cdr[..len]).is_err(), "truncated to {len} bytes");
        }
    }
}
