//! `fusor import`: datasets and calibrations into fusor's formats.

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use fusor_core::calib::{kitti, nuscenes, Rig};
use fusor_record::import::kitti_raw::{self, ImageMode, ImportOptions};
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A KITTI raw drive (`<date>_drive_NNNN_sync/` + the day's calibration folder) as a ROS 2 MCAP
    /// on fusor's standard topics (`/sensing/lidar/points`, `/sensing/camera/front/...`,
    /// `/sensing/gnss/fix`, `/sensing/imu`, `/tf_static`).
    KittiRaw {
        /// The drive folder, e.g. `2011_09_26/2011_09_26_drive_0002_sync`.
        drive: PathBuf,
        /// The day's calibration folder holding calib_cam_to_cam.txt etc. (default: the drive's parent).
        #[arg(long)]
        calib: Option<PathBuf>,
        /// Keep camera frames as their PNG bytes (CompressedImage) instead of decoded rgb8 Images.
        #[arg(long)]
        compressed: bool,
        /// Output MCAP file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// A calibration (KITTI object, KITTI raw day, nuScenes sample JSON) as a fusor rig file (TOML).
    Calib {
        /// Which calibration format `path` is in.
        #[arg(long, value_enum)]
        from: CalibFormat,
        /// KITTI object `calib/NNNNNN.txt`, KITTI raw day folder (`2011_09_26/`), or nuScenes `sample_info.json`.
        path: PathBuf,
        /// Image size `WIDTHxHEIGHT`, needed for KITTI object calibs (their files do not say it).
        #[arg(long, value_parser = parse_size, default_value = "1242x375")]
        image_size: [u32; 2],
        /// Rig name written into the file (default: the output file stem).
        #[arg(long)]
        name: Option<String>,
        /// Output rig file.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Calibration formats `fusor import calib` reads.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CalibFormat {
    /// KITTI 3D object `calib/NNNNNN.txt` (P2, R0_rect, Tr_velo_to_cam, Tr_imu_to_velo).
    KittiObject,
    /// KITTI raw day folder (calib_cam_to_cam.txt, calib_velo_to_cam.txt, calib_imu_to_velo.txt).
    KittiRaw,
    /// nuScenes sample JSON (lidar and camera calibrated_sensor records).
    Nuscenes,
}

pub fn run(command: ImportCommand) -> Result<()> {
    match command {
        ImportCommand::KittiRaw { drive, calib, compressed, output } => {
            let calib = match calib {
                Some(calib) => calib,
                None => {
                    drive.parent().map(Path::to_path_buf).context("the drive folder has no parent; pass --calib")?
                }
            };
            let options = ImportOptions {
                image_mode: if compressed { ImageMode::CompressedPng } else { ImageMode::Raw },
                ..ImportOptions::default()
            };
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{spinner} importing [{bar:30}] {pos}/{len} messages {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let summary = kitti_raw::import_with_progress(&drive, &calib, &output, &options, |p| {
                bar.set_length(p.total as u64);
                bar.set_position(p.written as u64);
                bar.set_message(format!("{:.1} MB read", p.input_bytes as f64 / 1e6));
            })?;
            bar.finish_and_clear();
            print_import_summary(&summary);
        }
        ImportCommand::Calib { from, path, image_size, name, output } => {
            let mut rig = match from {
                CalibFormat::KittiObject => kitti::import_kitti_object_calib(&path, image_size)?,
                CalibFormat::KittiRaw => kitti::import_kitti_raw_calib(&path)?,
                CalibFormat::Nuscenes => nuscenes::import_nuscenes_sample(&path)?,
            };
            if let Some(name) = name.or_else(|| stem(&output)) {
                rig.name = name;
            }
            write_rig(&rig, &path, &output)?;
            println!("wrote {} ({} sensors: {})", output.display(), rig.sensors.len(), sensor_list(&rig));
        }
    }
    Ok(())
}

fn print_import_summary(summary: &kitti_raw::ImportSummary) {
    println!(
        "wrote {}: {} messages, {:.1} MB ({:.1} MB payload), {:.2} s",
        summary.out_path.display(),
        summary.message_count,
        summary.file_size_bytes as f64 / 1e6,
        summary.payload_bytes as f64 / 1e6,
        summary.elapsed_s
    );
    for (topic, count) in &summary.messages_per_topic {
        println!("  {topic:<45} {count:>6}");
    }
    let missing = summary.missing;
    if missing.total() > 0 {
        println!(
            "  listed frames without files (skipped): lidar {}, image {}, oxts {} of {} listed",
            missing.lidar, missing.image, missing.oxts, summary.frames_listed
        );
    }
}

fn write_rig(rig: &Rig, source: &Path, output: &Path) -> Result<()> {
    let text = format!(
        "# fusor rig calibration, imported by `fusor import calib` from {}\n\
         # extrinsics are base_link_from_sensor: translation in metres, quaternion [x, y, z, w].\n\n{}",
        source.display(),
        rig.to_toml_string()
    );
    std::fs::write(output, text).with_context(|| format!("writing {}", output.display()))
}

fn sensor_list(rig: &Rig) -> String {
    rig.sensors.keys().cloned().collect::<Vec<_>>().join(", ")
}

fn stem(path: &Path) -> Option<String> {
    path.file_stem().map(|s| s.to_string_lossy().into_owned())
}

pub(crate) fn parse_size(text: &str) -> Result<[u32; 2], String> {
    let (w, h) = text.split_once('x').ok_or_else(|| format!("expected WIDTHxHEIGHT, got {text:?}"))?;
    let parse = |v: &str| v.trim().parse::<u32>().map_err(|e| format!("{v:?}: {e}"));
    let size = [parse(w)?, parse(h)?];
    if size.contains(&0) {
        return Err(format!("image size {text:?} has a zero side"));
    }
    Ok(size)
}
