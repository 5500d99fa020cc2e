//! Samples from the simulator: points and boxes land in `base_link` consistently.

use fusor_detect::sample::{drive_samples, CameraSet, DriveSpec};
use nalgebra::Point3;

#[test]
fn a_simulated_sample_puts_lidar_points_inside_its_ground_truth_boxes() {
    let spec = DriveSpec::from_seed(7, 0.25, 1);
    let t = std::time::Instant::now();
    let samples = drive_samples(&spec, [320, 96], None).expect("drive");
    eprintln!("{} samples in {:.2} s", samples.len(), t.elapsed().as_secs_f64());
    assert_eq!(samples.len(), 2);
    let s = &samples[1];
    assert!(s.points.len() > 10_000, "{} points", s.points.len());
    assert!(!s.cameras.is_empty());
    assert!(points_in_boxes(s, 50, 0.2, 0.8) >= 1, "no well-seen object in the sample");
}

#[test]
fn moving_objects_are_labelled_where_the_lidar_swept_them() {
    // Every 3rd scan of 6 s of town: walkers and driving cars. Deskewed to the scan stamp, the
    // points of a moving object lie where it was when the lidar reached it, and so does its box.
    let spec = DriveSpec::from_seed(9, 6.0, 3);
    let samples = drive_samples(&spec, [64, 32], None).expect("drive");
    let checked: usize = samples.iter().map(|s| points_in_boxes(s, 20, 0.1, 0.95)).sum();
    assert!(checked >= 20, "{checked} objects checked");
}

/// Checks that at least `fraction` of the lidar points of each well-seen object of `sample` (at
/// least `min_points`, inside the cached band) lie within its box grown by `margin_m` on every
/// side; returns how many objects it checked.
fn points_in_boxes(sample: &fusor_detect::Sample, min_points: u32, margin_m: f64, fraction: f64) -> usize {
    // Generated samples keep points in x ∈ [-10, 50) m, |y| ≤ 30 m: check objects well inside.
    let kept = |b: &&fusor_detect::GtBox| {
        let c = b.bbox.center;
        (-7.0..47.0).contains(&c.x) && c.y.abs() < 27.0
    };
    let mut checked = 0;
    for b in sample.boxes.iter().filter(|b| b.lidar_points >= min_points).filter(kept) {
        let mut grown = b.bbox.clone();
        grown.size += nalgebra::Vector3::repeat(2.0 * margin_m);
        let inside = sample
            .points
            .iter()
            .filter(|p| grown.contains(&Point3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2]))))
            .count();
        assert!(
            inside as f64 >= fraction * f64::from(b.lidar_points),
            "scan {}: {:?} at {}: {inside} of {} points inside",
            sample.scan,
            b.class,
            b.bbox.center,
            b.lidar_points
        );
        checked += 1;
    }
    checked
}

#[test]
fn cached_samples_of_a_drive_with_another_lidar_are_not_mixed_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clean = DriveSpec::from_seed(8, 0.1, 1);
    let mut sparse = clean.clone();
    sparse.scenario.lidar.beams = 32;
    let a = drive_samples(&clean, [64, 32], Some(dir.path())).expect("64 beams");
    let b = drive_samples(&sparse, [64, 32], Some(dir.path())).expect("32 beams");
    let files = std::fs::read_dir(dir.path()).expect("cache dir").count();
    assert_eq!(files, a.len() + b.len(), "one cache file per sample and drive");
    let (na, nb) = (a[0].points.len() as f64, b[0].points.len() as f64);
    assert!(nb < 0.6 * na, "32 beams gave {nb} points against {na} for 64");
    // Age every file, then read the 32-beam drive back: its files become the recently used ones.
    let long_ago = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    let files = || std::fs::read_dir(dir.path()).expect("cache dir").map(|e| e.expect("entry").path());
    for path in files() {
        let file = std::fs::File::options().write(true).open(&path).expect("open");
        file.set_modified(long_ago).expect("mtime");
    }
    // Read back from the cache, each drive gets its own samples.
    assert_eq!(drive_samples(&sparse, [64, 32], Some(dir.path())).expect("cached"), b);
    let bytes = |recent: bool| -> u64 {
        files()
            .map(|p| std::fs::metadata(p).expect("metadata"))
            .filter(|m| (m.modified().expect("mtime") > long_ago) == recent)
            .map(|m| m.len())
            .sum()
    };
    let (used, unused) = (bytes(true), bytes(false));
    assert!(used > 0 && unused > 0, "read-back refreshes exactly the files read: {used} / {unused}");
    // Pruning to what the 32-beam drive holds removes the 64-beam drive's files, used longest ago.
    let pruned = fusor_detect::sample::prune_cache(dir.path(), used).expect("prune");
    assert_eq!((pruned.files_removed, pruned.bytes_kept), (a.len(), used));
    assert_eq!(drive_samples(&sparse, [64, 32], Some(dir.path())).expect("cached"), b);
    // The removed drive is simulated again, identically.
    assert_eq!(drive_samples(&clean, [64, 32], Some(dir.path())).expect("remade"), a);
}

#[test]
fn simulated_pixel_labels_sit_where_the_lidar_sees_the_object_and_stale_cache_files_are_remade() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = DriveSpec::from_seed(7, 0.25, 1);
    let samples = drive_samples(&spec, [320, 96], Some(dir.path())).expect("drive");
    let s = &samples[1];
    let view = s.cameras.first().expect("camera");
    assert_eq!(view.labels.len(), 320 * 96);
    // Points of a well-seen car project onto pixels labelled car (1), apart from edges.
    let mut checked = 0;
    for b in s.boxes.iter().filter(|b| b.class == fusor_core::ObjectClass::Car && b.lidar_points >= 100) {
        let pixels: Vec<u8> = s
            .points
            .iter()
            .map(|p| Point3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2])))
            .filter(|p| b.bbox.contains(p))
            .filter_map(|p| view.pixel_of(&p))
            .map(|(u, v)| view.labels[(v * view.width + u) as usize])
            .collect();
        if pixels.len() < 20 {
            continue; // off the image
        }
        let car = pixels.iter().filter(|&&l| l == 1).count();
        assert!(car * 10 >= pixels.len() * 7, "{car} of {} pixels of a car at {} are car", pixels.len(), b.bbox.center);
        checked += 1;
    }
    assert!(checked >= 1, "no well-seen car on the image");
    // A cache file from before pixel labels is read as stale and made again.
    let file = std::fs::read_dir(dir.path()).expect("cache").filter_map(|e| e.ok()).map(|e| e.path()).min();
    let file = file.expect("a cache file");
    let mut old = fusor_detect::sample::load_sample(&file).expect("reads");
    old.cameras.first_mut().expect("camera").labels.clear();
    fusor_detect::sample::save_sample(&old, &file).expect("writes");
    assert_eq!(drive_samples(&spec, [320, 96], Some(dir.path())).expect("cached"), samples);
}

#[test]
fn a_cache_folder_that_cannot_be_written_costs_the_cache_not_the_samples() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A regular file where the cache folder should be: nothing can be written under it.
    let blocked = dir.path().join("cache");
    std::fs::write(&blocked, b"not a folder").expect("file");
    let spec = DriveSpec::from_seed(8, 0.1, 1);
    let uncached = drive_samples(&spec, [64, 32], None).expect("no cache");
    let samples = drive_samples(&spec, [64, 32], Some(&blocked)).expect("a failed cache write is not an error");
    assert!(!samples.is_empty());
    assert_eq!(samples, uncached, "the samples are those made without a cache");
    assert_eq!(std::fs::read(&blocked).expect("file"), b"not a folder");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no partial file left behind");
}

#[test]
fn pruning_the_cache_removes_the_oldest_samples_first_and_nothing_else() {
    use fusor_detect::sample::{prune_cache, CachePrune};
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().expect("temp dir");
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    // Four 100-byte samples made one minute apart, written in shuffled order.
    for (age, name) in [
        (2, "seed2_b.safetensors"),
        (0, "seed9_a.safetensors"),
        (3, "seed1_c.safetensors"),
        (1, "seed5_d.safetensors.partial"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, [0u8; 100]).expect("write");
        let file = std::fs::File::options().write(true).open(&path).expect("open");
        file.set_modified(t0 + Duration::from_secs(60 * age)).expect("mtime");
    }
    // Not ours: never counted, never removed.
    std::fs::write(dir.path().join("notes.safetensors"), [0u8; 1000]).expect("write");
    let none = prune_cache(dir.path(), 400).expect("prune");
    assert_eq!(none, CachePrune { files_removed: 0, bytes_removed: 0, bytes_kept: 400 });
    let pruned = prune_cache(dir.path(), 250).expect("prune");
    assert_eq!(pruned, CachePrune { files_removed: 2, bytes_removed: 200, bytes_kept: 200 });
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.safetensors", "seed1_c.safetensors", "seed2_b.safetensors"]);
    assert_eq!(prune_cache(dir.path(), 0).expect("prune").files_removed, 2);
    assert_eq!(prune_cache(&dir.path().join("missing"), 0).expect("missing folder"), CachePrune::default());
}

#[test]
fn a_surround_drive_carries_three_labelled_views_and_caches_apart_from_the_front_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let front = DriveSpec::from_seed(7, 0.1, 1);
    let surround = front.clone().with_cameras(CameraSet::Surround);
    let a = drive_samples(&front, [64, 32], Some(dir.path())).expect("front");
    let b = drive_samples(&surround, [64, 32], Some(dir.path())).expect("surround");
    let files = std::fs::read_dir(dir.path()).expect("cache dir").count();
    assert_eq!(files, a.len() + b.len(), "the two rigs' samples are cached apart");
    let (a, b) = (&a[0], &b[0]);
    assert_eq!((a.cameras.len(), b.cameras.len()), (1, 3));
    // Same lidar, same truth; the front view is the front camera's in both.
    assert_eq!((&a.points, &a.boxes), (&b.points, &b.boxes));
    assert_eq!(a.cameras[0], b.cameras[0]);
    // The side views look 60° left and right, each with its own pixels and labels.
    for (view, yaw_deg) in b.cameras.iter().zip([0.0f64, 60.0, -60.0]) {
        let axis = view.camera_from_base_link.inverse().rotation * nalgebra::Vector3::z();
        assert!((axis.y.atan2(axis.x).to_degrees() - yaw_deg).abs() < 1e-6);
        assert_eq!(view.labels.len(), 64 * 32);
    }
    assert_ne!(b.cameras[1].rgb, b.cameras[0].rgb);
    assert_ne!(b.cameras[1].rgb, b.cameras[2].rgb);
    // Read back from the cache: the same three views.
    let again = drive_samples(&surround, [64, 32], Some(dir.path())).expect("cached");
    assert_eq!(&again[0], b);
    // Ground truth beside the car that only the side cameras see: some pedestrian or car
    // centre lands on a side view and on no front view.
    let seen_by = |v: &fusor_detect::CameraView, g: &fusor_detect::GtBox| v.pixel_of(&g.bbox.center).is_some();
    let beside = b.boxes.iter().filter(|g| !seen_by(&b.cameras[0], g) && b.cameras[1..].iter().any(|v| seen_by(v, g)));
    assert!(beside.count() >= 1, "nothing beside the car in {} boxes", b.boxes.len());
}

/// The pipelines' model (`launch/pipeline-network.toml`) is late's crop net on the frozen
/// `lidar-long`: with its camera lost it must be exactly that lidar model (its documented failure
/// mode), and with the camera its crops re-score pedestrians and cyclists, never cars. Retraining
/// one of the pair without the other breaks this.
#[test]
fn the_pipelines_late_model_without_its_camera_is_the_committed_lidar_model() {
    use fusor_core::ObjectClass;
    use fusor_detect::{Detector, FusionMode};
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let late = Detector::load(&models.join("late-long.safetensors"), tch::Device::Cpu).expect("late-long");
    let lidar = Detector::load(&models.join("lidar-long.safetensors"), tch::Device::Cpu).expect("lidar-long");
    assert_eq!(late.config().mode, FusionMode::Late);
    assert_eq!(lidar.config().mode, FusionMode::Lidar);
    let pipeline = std::fs::read_to_string(models.join("../launch/pipeline-network.toml")).expect("pipeline");
    assert!(pipeline.contains("\"../models/late-long.safetensors\""), "the pipeline reads another model");
    // A held-out drive (seeds from 20 001 are never trained on), 1 s, every 5th scan.
    let samples = drive_samples(&DriveSpec::from_seed(20_001, 1.0, 5), late.config().image_size, None).expect("drive");
    assert!(samples.len() >= 2);
    let cars = |d: &[fusor_detect::target::DecodedBox]| {
        format!("{:?}", d.iter().filter(|b| b.class == ObjectClass::Car).collect::<Vec<_>>())
    };
    let mut rescored = 0;
    for s in &samples {
        let alone = lidar.detect_sample(s, true);
        let blind = late.detect_sample(s, false);
        assert_eq!(format!("{blind:?}"), format!("{alone:?}"), "camera lost: late-long ≠ lidar-long");
        let seeing = late.detect_sample(s, true);
        assert!(alone.iter().any(|b| b.class == ObjectClass::Car), "a town frame has cars");
        assert_eq!(cars(&seeing), cars(&alone), "the camera moved a car");
        rescored += usize::from(format!("{seeing:?}") != format!("{alone:?}"));
    }
    assert_eq!(late.rejected_images(), 0);
    assert!(rescored >= 1, "the camera changed no pedestrian or cyclist score in {} frames", samples.len());
}

/// The pipelines' model on CUDA gives the CPU's boxes (fp32 both: the same classes, centres within
/// a millimetre, scores within 1e-4). Needs a CUDA device: where libtorch finds none the test says
/// so and checks nothing (it is never faked). CUDA timing: `scripts/torchscript_timing.py`.
#[test]
fn the_pipelines_late_model_on_cuda_gives_the_cpu_s_boxes() {
    use fusor_detect::Detector;
    if !tch::Cuda::is_available() {
        eprintln!(
            "SKIPPED: no CUDA device (tch::Cuda::is_available() = false, {} devices): the CUDA check runs where \
             libtorch finds one",
            tch::Cuda::device_count()
        );
        return;
    }
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let cpu = Detector::load(&models.join("late-long.safetensors"), tch::Device::Cpu).expect("late-long on the CPU");
    let gpu = Detector::load(&models.join("late-long.safetensors"), tch::Device::Cuda(0)).expect("late-long on CUDA");
    let samples = drive_samples(&DriveSpec::from_seed(20_001, 1.0, 5), cpu.config().image_size, None).expect("drive");
    for s in &samples {
        let (a, b) = (cpu.detect_sample(s, true), gpu.detect_sample(s, true));
        assert_eq!(a.len(), b.len(), "CPU {a:?}\nCUDA {b:?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.class, y.class);
            assert!((x.score - y.score).abs() < 1e-4, "{x:?} / {y:?}");
            assert!((x.bbox.center - y.bbox.center).norm() < 1e-3, "{x:?} / {y:?}");
        }
    }
}
