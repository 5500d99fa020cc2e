//! End-to-end tests of the `fusor` binary.

use std::process::Command;

fn fusor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fusor"))
}

#[test]
fn doctor_reports_cuda_availability_and_device_count() {
    let out = fusor().arg("doctor").output().unwrap();
    assert!(out.status.success(), "doctor failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name:?} line in:\n{text}"))
    };
    let available: bool = field("CUDA available:").parse().unwrap();
    let count: i64 = field("CUDA device count:").parse().unwrap();
    assert_eq!(available, count > 0, "{text}");
    assert!(field("libtorch lib:").contains("torch"), "{text}");
    assert!(text.contains("smoke test (cpu):"), "{text}");
}

#[test]
fn every_subcommand_has_help() {
    let out = fusor().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // Subcommands are listed between "Commands:" and "Options:".
    let commands: Vec<String> = text
        .split("Commands:")
        .nth(1)
        .and_then(|s| s.split("Options:").next())
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.contains(&"doctor".to_owned()), "{text}");
    for command in commands {
        let out = fusor().args([command.as_str(), "--help"]).output().unwrap();
        assert!(out.status.success(), "`fusor {command} --help` failed");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"), "`fusor {command} --help` shows no usage");
    }
}

fn shared_data() -> std::path::PathBuf {
    std::env::var_os("FUSOR_DATA")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

#[test]
fn import_calib_from_kitti_raw_reproduces_the_committed_rig() {
    let day = shared_data().join("kitti_raw/2011_09_26");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kitti-2011-09-26.toml");
    let status =
        fusor().args(["import", "calib", "--from", "kitti-raw"]).arg(&day).arg("-o").arg(&out).status().unwrap();
    assert!(status.success());
    let imported = fusor_core::calib::Rig::load(&out).unwrap();
    let committed = fusor_core::calib::Rig::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../calibration/kitti-2011-09-26.toml"),
    )
    .unwrap();
    let a = imported.transform("camera_front", "lidar").unwrap().target_from_source;
    let b = committed.transform("camera_front", "lidar").unwrap().target_from_source;
    assert!((a.to_homogeneous() - b.to_homogeneous()).abs().max() < 1e-12);
    assert_eq!(imported.sensors.keys().collect::<Vec<_>>(), committed.sensors.keys().collect::<Vec<_>>());
}

#[test]
fn import_calib_rejects_a_broken_file_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let calib = dir.path().join("000000.txt");
    // A real calibration with P2 cut to 3 of its 12 numbers.
    let real = std::fs::read_to_string(shared_data().join("kitti_object/training/calib/000001.txt")).unwrap();
    let broken: String = real
        .lines()
        .map(|l| if l.starts_with("P2:") { "P2: 721.5377 0.0 609.5593".to_owned() } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&calib, broken).unwrap();
    let out = fusor()
        .args(["import", "calib", "--from", "kitti-object"])
        .arg(&calib)
        .arg("-o")
        .arg(dir.path().join("rig.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("P2"), "error does not name the key: {stderr}");
    assert!(!dir.path().join("rig.toml").exists());
}

#[test]
fn import_kitti_raw_then_info_lists_every_topic() {
    let drive = shared_data().join("kitti_raw/2011_09_26/2011_09_26_drive_0002_sync");
    let dir = tempfile::tempdir().unwrap();
    let mcap = dir.path().join("drive.mcap");
    let out =
        fusor().args(["import", "kitti-raw"]).arg(&drive).arg("--compressed").arg("-o").arg(&mcap).output().unwrap();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("/sensing/lidar/points"), "{stdout}");

    let out = fusor().arg("info").arg(&mcap).output().unwrap();
    assert!(out.status.success(), "info failed: {}", String::from_utf8_lossy(&out.stderr));
    let info = String::from_utf8_lossy(&out.stdout);
    // 5 scans and images on disk, 10 OXTS packets: 5 + 5 + 5 camera_info + 10 + 10 + 1 tf_static.
    let count_of = |topic: &str| -> u64 {
        let line = info
            .lines()
            .find(|l| l.contains(topic) && !l.contains(&format!("{topic}/")))
            .unwrap_or_else(|| panic!("{topic} missing:\n{info}"));
        line.split("Count:")
            .nth(1)
            .and_then(|rest| rest.split('|').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no count in {line:?}"))
    };
    assert_eq!(count_of("/sensing/lidar/points"), 5, "{info}");
    assert_eq!(count_of("/sensing/gnss/fix"), 10, "{info}");
    assert_eq!(count_of("/sensing/imu"), 10, "{info}");
    assert_eq!(count_of("/tf_static"), 1, "{info}");
}

#[test]
fn info_on_a_truncated_recording_reports_damage_instead_of_crashing() {
    let dir = tempfile::tempdir().unwrap();
    let bag = shared_data().join("ros2_mcap/kitti_2011_09_26_drive_0002_f0-1");
    let src = std::fs::read_dir(&bag)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "mcap"))
        .unwrap();
    let bytes = std::fs::read(src).unwrap();
    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = fusor().arg("info").arg(&cut).output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("panicked"), "{all}");
    assert!(
        all.to_lowercase().contains("damage") || all.to_lowercase().contains("truncat"),
        "no damage reported: {all}"
    );
}

#[test]
fn simulate_writes_a_deterministic_drive_that_info_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = |name: &str| {
        let out = dir.path().join(name);
        let result = fusor()
            .current_dir(&root)
            .args(["simulate", "--scenario", "recordings/town-day.toml", "--duration", "0.35", "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(result.status.success(), "simulate failed: {}", String::from_utf8_lossy(&result.stderr));
        out
    };
    let a = run("a.mcap");
    let b = run("b.mcap");
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "same scenario, different bytes");

    let out = fusor().arg("info").arg(&a).output().unwrap();
    assert!(out.status.success());
    let info = String::from_utf8_lossy(&out.stdout);
    for topic in [
        "/sensing/lidar/points",
        "/sensing/camera/front/image_raw",
        "/sensing/gnss/fix",
        "/sensing/imu",
        "/tf_static",
        "/ground_truth/objects",
    ] {
        assert!(info.contains(topic), "{topic} missing from:\n{info}");
    }
}

#[test]
fn eval_on_kitti_object_writes_tables_json_and_pr_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = fusor()
        .args(["eval", "--kitti"])
        .arg(shared_data().join("kitti_object/training"))
        .arg("-o")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "eval failed: {}", String::from_utf8_lossy(&out.stderr));
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(markdown.contains("| pedestrian | BEV | 0.5 |"), "{markdown}");
    assert!(markdown.contains("recall of labelled cars, pedestrians and cyclists within 40 m"), "{markdown}");
    // Where the geometric detector's AP goes: a row per labelled class, every kind counted.
    let errors = markdown.split_once("Where the AP goes").map(|(_, e)| e).unwrap_or_else(|| panic!("{markdown}"));
    let car = errors.lines().find(|l| l.starts_with("| car | ")).unwrap_or_else(|| panic!("{errors}"));
    assert_eq!(car.matches(" (").count(), 5, "{car}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert!(json.is_object());
    let png = std::fs::read(dir.path().join("pr_pedestrian_kitti.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

/// `fusor export --torchscript` of `weights` (relative to the repository `root`) to `module`;
/// its standard output.
fn export(root: &std::path::Path, weights: &str, module: &std::path::Path) -> String {
    let out = match fusor()
        .current_dir(root)
        .args(["export", "--torchscript", "--weights", weights, "-o"])
        .arg(module)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!("fusor did not run: {e}"),
    };
    assert!(out.status.success(), "export failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn export_writes_a_torchscript_module_that_python_pytorch_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("intermediate.pt");
    let text = export(&root, "models/intermediate.safetensors", &module);
    assert!(text.contains("input images") && text.contains("input point_pixel_index"), "{text}");
    // The grid and the image feature size as the export reports them.
    let numbers = |after: &str| -> Vec<i64> {
        let line = text.lines().find(|l| l.contains(after)).unwrap_or_else(|| panic!("no {after:?} in {text}"));
        line.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty()).map(|w| w.parse().unwrap()).collect()
    };
    let g = numbers("grid");
    let (nx, ny, off_image) = (g[0], g[1], g[4]);
    let image = text.lines().find(|l| l.contains("input images")).unwrap();
    let dims: Vec<i64> =
        image.split(|c: char| !c.is_ascii_digit()).filter(|w| !w.is_empty()).map(|w| w.parse().unwrap()).collect();
    // A random cloud of 500 points on the grid, none on the image: 3 classes + 8 regression maps.
    let script = r#"
import sys, torch
m = torch.jit.load(sys.argv[1])
nx, ny, off, h, w = (int(a) for a in sys.argv[2:7])
p = 500
feats = torch.rand(p, 7)
pillar = torch.randint(0, nx * ny, (p,))
on = torch.zeros(p, 1)
images = torch.zeros(1, 3, h, w)
pix = torch.full((p,), off, dtype=torch.int64)
with torch.no_grad():
    out = m(feats, pillar, on, images, pix)
assert torch.isfinite(out).all()
print(list(out.shape))
"#;
    let python = root.join(".venv/bin/python");
    let run = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&module)
        .args([nx, ny, off_image, dims[dims.len() - 2], dims[dims.len() - 1]].map(|v| v.to_string()))
        .output()
        .unwrap();
    assert!(run.status.success(), "python: {}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), format!("[1, 11, {nx}, {ny}]"));
}

#[test]
fn export_of_the_committed_late_model_runs_in_python_and_sees_the_camera() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("late.pt");
    let text = export(&root, "models/late.safetensors", &module);
    assert!(text.contains("input cell_rect") && text.contains("input cell_on_image"), "{text}");
    assert!(!text.contains("point_pixel_index"), "late paints no image features: {text}");
    // Pedestrian-like points in one cell; every cell's crop is the image's centre. With the cells
    // marked off the image the camera cannot move the output; marked on, the crops must.
    let script = r#"
import sys, torch
m = torch.jit.load(sys.argv[1])
nx = ny = 80
torch.manual_seed(0)
p = 400
feats = torch.rand(p, 7)
pillar = torch.full((p,), 20 * ny + 40, dtype=torch.int64)
on = torch.ones(p, 1)
images = torch.rand(1, 3, 192, 640)  # the committed late model reads 640 × 192
rect = torch.tensor([[-0.1, -0.5, 0.1, 0.5]]).repeat(nx * ny, 1)
with torch.no_grad():
    off = m(feats, pillar, on, images, rect, torch.zeros(nx * ny, 1))
    seen = m(feats, pillar, on, images, rect, torch.ones(nx * ny, 1))
assert torch.isfinite(seen).all()
print(list(seen.shape), float((seen - off)[:, 1:3].abs().max()), float((seen - off)[:, 0].abs().max()))
"#;
    let run = Command::new(root.join(".venv/bin/python")).arg("-c").arg(script).arg(&module).output().unwrap();
    assert!(run.status.success(), "python: {}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let fields: Vec<&str> = stdout.trim().rsplitn(3, ' ').collect();
    assert!(stdout.starts_with("[1, 11, 80, 80]"), "{stdout}");
    let (cars, people): (f64, f64) = (fields[0].parse().unwrap(), fields[1].parse().unwrap());
    assert!(people > 1e-4, "the crops moved the pedestrian / cyclist logits by only {people}");
    assert_eq!(cars, 0.0, "late never touches car scores");
}

fn comma_bag() -> std::path::PathBuf {
    shared_data().join(
        "ros2_mcap/comma2k19_b0c9d2329ad1606b_2018-08-02--08-34-47_seg40/\
         comma2k19_b0c9d2329ad1606b_2018-08-02--08-34-47_seg40.mcap",
    )
}

#[test]
fn pose_on_a_real_gnss_imu_bag_finds_the_phone_s_tilt_and_writes_every_pose() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("poses.csv");
    let out = fusor().arg("pose").arg(comma_bag()).arg("-o").arg(&csv).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("fixes from /comma/gnss/fix, IMU from /comma/imu"), "{text}");
    assert!(
        text.contains("579 fixes (0 unusable, 0 out of order, 0 rejected as outliers, 0 filter restarts)"),
        "{text}"
    );
    // comma's phone sits ~4° nose down (the drive implies 4.6°; tests/ego_pose.rs).
    let tilt: f64 = text
        .split("as a mount tilt: ")
        .nth(1)
        .and_then(|s| s.split("° nose down").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no nose-down tilt in:\n{text}"));
    assert!((3.0..6.0).contains(&tilt), "{tilt}");
    let rows: Vec<String> = std::fs::read_to_string(&csv).unwrap().lines().map(str::to_owned).collect();
    assert!(rows[0].starts_with("# map = ENU at lat 37.72"), "{}", rows[0]);
    assert_eq!(rows[1], "stamp_s,x_m,y_m,z_m,yaw_deg,vx_m_s,vy_m_s,vz_m_s");
    assert_eq!(rows.len(), 2 + 579);
    // 1 km of highway at 8–20 m/s: the last pose is far from the first and has a velocity.
    let last: Vec<f64> = rows[rows.len() - 1].split(',').map(|v| v.parse().unwrap()).collect();
    assert!(last[1].hypot(last[2]) > 800.0, "{last:?}");
    assert!((5.0..25.0).contains(&last[5].hypot(last[6])), "{last:?}");
}

#[test]
fn pose_refuses_a_wrong_topic_a_rig_without_the_frames_and_a_file_that_is_not_a_recording() {
    let out = fusor().arg("pose").arg(comma_bag()).args(["--fix-topic", "/comma/imu"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("topic /comma/imu is sensor_msgs/msg/Imu, not sensor_msgs/msg/NavSatFix"), "{err}");
    // The curator's KITTI bag names its frames after the ROS KITTI driver, not after fusor's rig.
    let kitti = shared_data().join("ros2_mcap/kitti_2011_09_26_drive_0002_f0-1/kitti_2011_09_26_drive_0002_f0-1.mcap");
    let rig = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../calibration/kitti-2011-09-26.toml");
    let out = fusor().arg("pose").arg(&kitti).arg("--rig").arg(&rig).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the rig has no frame \"imu_link\" (the fixes' frame)"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.mcap");
    std::fs::write(&junk, b"not an mcap file at all").unwrap();
    let out = fusor().arg("pose").arg(&junk).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.mcap"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_timing_script_runs_the_exported_pipelines_model_and_matches_fusor_s_output() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("late-long.pt");
    let text = export(&root, "models/late-long.safetensors", &module);
    assert!(text.contains("late-long.inputs.safetensors"), "{text}");
    let timing = |device: &str| {
        let out = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("scripts/torchscript_timing.py"))
            .arg(&module)
            .args(["--device", device, "--runs", "3"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let cpu = timing("cpu");
    assert!(cpu.contains("fp32: ") && cpu.contains("ms per frame") && cpu.contains("(ok, tolerance"), "{cpu}");
    assert!(!cpu.contains("MISMATCH"), "{cpu}");
    // Without a GPU the CUDA run says it was skipped; with one it must match too.
    let cuda = timing("cuda");
    assert!(
        cuda.contains("SKIPPED: no CUDA device") || (cuda.contains("fp16 autocast") && !cuda.contains("MISMATCH")),
        "{cuda}"
    );
}
