//! Hand-built `PointCloud2` messages of any layout, for tests.
#![allow(dead_code)]

use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::sensor_msgs::{PointCloud2, PointField};
use fusor_msgs::std_msgs::Header;

/// One field of a hand-built layout.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: &'static str,
    pub datatype: u8,
    pub offset: u32,
}

/// Writes `value` as `datatype` at `at` in `buf` (caller guarantees room).
pub fn put(buf: &mut [u8], at: usize, datatype: u8, value: f64, big: bool) {
    macro_rules! w {
        ($t:ty) => {{
            let v = value as $t;
            let b = if big { v.to_be_bytes() } else { v.to_le_bytes() };
            buf[at..at + b.len()].copy_from_slice(&b);
        }};
    }
    match datatype {
        PointField::INT8 => w!(i8),
        PointField::UINT8 => w!(u8),
        PointField::INT16 => w!(i16),
        PointField::UINT16 => w!(u16),
        PointField::INT32 => w!(i32),
        PointField::UINT32 => w!(u32),
        PointField::FLOAT32 => w!(f32),
        PointField::FLOAT64 => w!(f64),
        other => panic!("datatype {other}"),
    }
}

/// Builds a cloud of `height` rows × `width` points with the given fields, `point_step` and
/// `row_step`; `values(point_index, field_name)` gives each value.
#[allow(clippy::too_many_arguments)]
pub fn build(
    specs: &[Spec],
    point_step: u32,
    row_step: u32,
    width: u32,
    height: u32,
    big: bool,
    stamp: Time,
    values: impl Fn(usize, &str) -> f64,
) -> PointCloud2 {
    let mut data = vec![0xAB; (row_step * height) as usize];
    for row in 0..height as usize {
        for col in 0..width as usize {
            let start = row * row_step as usize + col * point_step as usize;
            for s in specs {
                put(&mut data, start + s.offset as usize, s.datatype, values(row * width as usize + col, s.name), big);
            }
        }
    }
    PointCloud2 {
        header: Header { stamp, frame_id: "lidar".into() },
        height,
        width,
        fields: specs
            .iter()
            .map(|s| PointField { name: s.name.into(), offset: s.offset, datatype: s.datatype, count: 1 })
            .collect(),
        is_bigendian: big,
        point_step,
        row_step,
        data,
        is_dense: true,
    }
}
