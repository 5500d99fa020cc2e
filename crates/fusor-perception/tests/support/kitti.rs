//! Loads KITTI object frames for the real-data tests, the bench and the example.
//! Shared by `#[path]` inclusion, so it only uses what every such target has.
#![allow(dead_code)]

use fusor_core::calib::kitti::{import_kitti_object_calib, load_kitti_labels, LIDAR};
use fusor_core::calib::Rig;
use fusor_core::{Box3, Image, ObjectClass, PixelFormat, PointCloud, Stamp};
use std::path::PathBuf;

/// One labelled frame, everything in the `lidar` frame.
pub struct Frame {
    pub id: String,
    pub cloud: PointCloud,
    pub rig: Rig,
    pub image: Image,
    /// Labels of known classes (DontCare skipped) as lidar-frame boxes, with their KITTI type.
    pub labels: Vec<(ObjectClass, Box3)>,
    pub label_types: Vec<String>,
}

/// `$FUSOR_DATA/kitti_object/training`, or `<workspace>/../shared/data/kitti_object/training`.
pub fn training_dir() -> PathBuf {
    let data = std::env::var_os("FUSOR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    data.join("kitti_object/training")
}

/// Loads frame `id` (e.g. "000001"); errors name the file.
pub fn load(id: &str) -> Result<Frame, String> {
    let dir = training_dir();
    let bin = dir.join(format!("velodyne/{id}.bin"));
    let bytes = std::fs::read(&bin).map_err(|e| format!("{}: {e} (set FUSOR_DATA)", bin.display()))?;
    let cloud = PointCloud::from_f32_records(&bytes, 4, Stamp(0), LIDAR).map_err(|e| e.to_string())?;
    let png = dir.join(format!("image_2/{id}.png"));
    let rgb = image::open(&png).map_err(|e| format!("{}: {e}", png.display()))?.to_rgb8();
    let (w, h) = rgb.dimensions();
    let image = Image::new(Stamp(0), "camera_front", w, h, PixelFormat::Rgb8, w as usize * 3, rgb.into_raw())
        .map_err(|e| e.to_string())?;
    let rig = import_kitti_object_calib(dir.join(format!("calib/{id}.txt")), [w, h]).map_err(|e| e.to_string())?;
    let parsed = load_kitti_labels(dir.join(format!("label_2/{id}.txt"))).map_err(|e| e.to_string())?;
    let mut labels = Vec::new();
    let mut label_types = Vec::new();
    for obj in &parsed.objects {
        let Some(class) = obj.class else { continue };
        labels.push((class, obj.box_in(&rig, LIDAR).map_err(|e| e.to_string())?));
        label_types.push(obj.type_name.clone());
    }
    Ok(Frame { id: id.to_owned(), cloud, rig, image, labels, label_types })
}

pub const FRAMES: [&str; 3] = ["000000", "000001", "000002"];
