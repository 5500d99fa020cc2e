//! `fusor train` / `fusor detect-eval` end to end on a tiny network and very short drives.

mod common;

use std::process::Command;

#[test]
fn train_writes_weights_curves_and_a_log_that_detect_eval_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let weights = dir.path().join("tiny.safetensors");
    let cache = dir.path().join("cache");
    let out = Command::new(env!("CARGO_BIN_EXE_fusor"))
        .args(["train", "--tiny", "--drives", "1", "--duration-s", "0.3", "--stride", "1", "--val-drives", "1"])
        .args(["--epochs", "2", "--mode", "early", "-o"])
        .arg(&weights)
        .arg("--cache")
        .arg(&cache)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("epoch 2:") && stdout.contains("val BEV AP R40"), "{stdout}");
    for ext in ["safetensors", "loss.png", "ap.png", "log.json", "curves.rrd"] {
        assert!(weights.with_extension(ext).exists(), "{ext} missing");
    }
    // The Rerun curves, read back by the independent Python SDK: a row per epoch per series.
    let listed = Command::new(common::rerun_python())
        .arg("-c")
        .arg(common::ENTITY_ROWS)
        .arg(weights.with_extension("curves.rrd"))
        .output()
        .expect("python runs");
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    let rows = &listed["rows"];
    for entity in ["/loss/total", "/loss/heatmap", "/loss/regression"] {
        assert_eq!(rows[entity].as_u64(), Some(2), "{entity}: {rows}");
    }
    // One validation AP row per epoch and class that had objects to score (the log's non-null APs).
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(weights.with_extension("log.json")).expect("log")).expect("json");
    let scored =
        log.as_array().expect("epochs").iter().flat_map(|e| e["val_bev_ap"].as_array().cloned().unwrap_or_default());
    let scored = scored.filter(|pair| !pair[1].is_null()).count() as u64;
    let ap_rows: u64 = rows
        .as_object()
        .expect("object")
        .iter()
        .filter(|(k, _)| k.starts_with("/val_bev_ap/"))
        .filter_map(|(_, v)| v.as_u64())
        .sum();
    assert_eq!(ap_rows, scored, "{rows}\n{log}");
    // --redraw rebuilds the curves from the log alone.
    std::fs::remove_file(weights.with_extension("ap.png")).expect("remove");
    std::fs::remove_file(weights.with_extension("curves.rrd")).expect("remove");
    let redraw = Command::new(env!("CARGO_BIN_EXE_fusor"))
        .args(["train", "--redraw", "-o"])
        .arg(&weights)
        .output()
        .expect("runs");
    assert!(redraw.status.success(), "{}", String::from_utf8_lossy(&redraw.stderr));
    assert!(weights.with_extension("ap.png").exists() && weights.with_extension("curves.rrd").exists());
    let samples_in = |dir: &std::path::Path| std::fs::read_dir(dir).map_or(0, |d| d.count());
    assert!(samples_in(&cache) > 0, "training cached its samples");
    // detect-eval of the trained weights on one short drive, the cache capped at `max_gb`.
    let detect_eval = |max_gb: &str| {
        Command::new(env!("CARGO_BIN_EXE_fusor"))
            .args(["detect-eval", "--drives", "1", "--duration-s", "0.2", "--stride", "1", "--weights"])
            .arg(&weights)
            .arg("--cache")
            .arg(&cache)
            .args(["--cache-max-gb", max_gb])
            .output()
            .expect("runs")
    };
    // A cap of 0 GB: the run still has its samples, and leaves none in the cache.
    let eval = detect_eval("0");
    let text = String::from_utf8_lossy(&eval.stdout);
    let log = String::from_utf8_lossy(&eval.stderr);
    assert!(eval.status.success(), "{text}\n{log}");
    assert!(text.contains("mode early") && text.contains("| car |"), "{text}");
    assert!(text.contains("Where the AP goes"), "{text}");
    assert_eq!(samples_in(&cache), 0, "{log}");
    assert!(log.contains("samples used longest ago"), "{log}");
    let bad = detect_eval("NaN");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--cache-max-gb"));
    let missing = Command::new(env!("CARGO_BIN_EXE_fusor"))
        .args(["detect-eval", "--weights"])
        .arg(dir.path().join("nope.safetensors"))
        .output()
        .expect("runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.safetensors"));
}

/// The first Markdown row of `table` for `mode` under `condition`.
/// Runs `fusor detect-ablation <args> --cache <cache> -o <stem>` in `dir` (the models' paths are
/// relative to it) and returns its Markdown report.
#[allow(clippy::expect_used)] // a test helper: a run that fails is a failed test
fn ablation(dir: &std::path::Path, args: &[&str], cache: &std::path::Path, stem: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fusor"))
        .current_dir(dir)
        .arg("detect-ablation")
        .args(args)
        .arg("--cache")
        .arg(cache)
        .arg("-o")
        .arg(stem)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(stem.with_extension("md")).expect("markdown")
}

fn table_row<'a>(table: &'a str, mode: &str, condition: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {mode} | {condition} |")))
        .unwrap_or_else(|| panic!("no {mode} / {condition} row in\n{table}"))
}

/// `fusor detect-ablation` without `--weights` scores the README's table: the longer budget's
/// five committed models, each under its own label, every camera model run again blacked out.
/// (That late-long blacked out *is* lidar-long is checked detection by detection in fusor-detect's
/// `tests/simulated.rs`; this drive is too short for pedestrian AP.)
#[test]
fn detect_ablation_defaults_to_the_committed_models_of_the_readme_table() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().expect("temp dir");
    let args = ["--drives", "1", "--duration-s", "0.3", "--stride", "1", "--bootstrap", "0"];
    let args = [&args[..], &["--conditions", "clean,camera-blackout"]].concat();
    let md = ablation(&root, &args, &dir.path().join("cache"), &dir.path().join("ablation"));
    for mode in ["lidar", "early", "intermediate", "intermediate-crops", "late"] {
        table_row(&md, mode, "clean");
    }
    assert!(table_row(&md, "lidar", "camera blackout").contains("no camera input"), "{md}");
    for mode in ["early", "intermediate", "intermediate-crops", "late"] {
        let r = table_row(&md, mode, "camera blackout");
        assert!(!r.contains("= clean") && !r.contains("| – | |"), "{mode}'s blackout is run, not copied: {r}");
    }
}

#[test]
fn detect_ablation_scores_every_mode_under_every_condition_and_reuses_only_provably_equal_inputs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let mut weights = Vec::new();
    // The two models read the camera at different sizes: the ablation loads the drives at each.
    for (mode, size) in [("lidar", "64x32"), ("intermediate", "96x48")] {
        let w = dir.path().join(format!("{mode}.safetensors"));
        let out = Command::new(env!("CARGO_BIN_EXE_fusor"))
            .args(["train", "--tiny", "--drives", "1", "--duration-s", "0.2", "--stride", "1", "--val-drives", "0"])
            .args(["--epochs", "1", "--mode", mode, "--image-size", size, "-o"])
            .arg(&w)
            .arg("--cache")
            .arg(&cache)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The size is stored in the weights (the `meta` tensor's entries 15 and 16).
        let meta: Vec<f32> = tch::Tensor::read_safetensors(&w)
            .expect("weights")
            .into_iter()
            .find(|(name, _)| name == "meta")
            .map(|(_, t)| Vec::try_from(t.to_kind(tch::Kind::Float)).expect("floats"))
            .expect("meta tensor");
        let stored = format!("{}x{}", meta[15], meta[16]);
        assert_eq!(stored, size, "{mode}");
        weights.push(w.display().to_string());
    }
    let stem = dir.path().join("ablation");
    let weights = weights.join(",");
    let args = ["--drives", "1", "--duration-s", "0.2", "--stride", "1", "--bootstrap", "20", "--weights", &weights];
    let md = ablation(dir.path(), &args, &cache, &stem);
    let row = |mode: &str, condition: &str| table_row(&md, mode, condition).to_owned();
    // The lidar-only model cannot see a camera fault; nobody's input changes without GNSS.
    assert!(row("lidar", "camera blackout").contains("no camera input"));
    assert!(row("lidar", "camera yaw 1°").contains("no camera input"));
    assert!(row("intermediate", "GNSS outage").contains("inputs identical to the clean drives"));
    // Everything else is run: no note, a time per frame.
    for (mode, condition) in [
        ("intermediate", "camera blackout"),
        ("intermediate", "camera yaw 1°"),
        ("lidar", "32 beams"),
        ("intermediate", "32 beams, no camera"),
        ("lidar", "16 beams"),
        ("intermediate", "16 beams, no camera"),
        ("lidar", "no street clutter"),
    ] {
        let r = row(mode, condition);
        assert!(!r.contains("= clean") && !r.contains("| – | |"), "{r}");
    }
    assert!(md.contains("| intermediate | ") && md.contains("pedestrian gain"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stem.with_extension("json")).expect("json")).expect("parses");
    assert_eq!(json.as_array().map(Vec::len), Some(18), "2 modes × 9 conditions");
    // The range breakdown: clean and 16-beam rows with 3 bins × 2 classes, and bins that together
    // hold every scored object exactly once.
    let ranges = md.split_once("by range").map(|(_, r)| r).unwrap_or_else(|| panic!("no range table in\n{md}"));
    for (mode, condition) in [("lidar", "clean"), ("intermediate", "16 beams, no camera")] {
        let r = table_row(ranges, mode, condition);
        assert_eq!(r.matches('|').count(), 9, "{r}");
    }
    let range_gains =
        ranges.split_once("gain over lidar-only by range").map(|(_, r)| r).unwrap_or_else(|| panic!("{ranges}"));
    for condition in ["clean", "16 beams"] {
        let r = table_row(range_gains, "intermediate", condition);
        assert_eq!(r.matches('|').count(), 6, "{r}");
    }
    for cell in json.as_array().into_iter().flatten() {
        let by_range = cell["gt_by_range"].as_array().expect("gt_by_range");
        assert_eq!(by_range.len(), 3, "{cell}");
        for class in 0..3 {
            let sum: u64 = by_range.iter().filter_map(|b| b[class].as_u64()).sum();
            assert_eq!(Some(sum), cell["gt"][class].as_u64(), "{cell}");
        }
    }
    // The field-of-view split: a row per mode for clean, blackout and no clutter, and ground truth
    // in view and out of view that together is every scored object of the clean drives.
    let view = md.split_once("field of view").map(|(_, r)| r).unwrap_or_else(|| panic!("no view table in\n{md}"));
    for condition in ["clean", "camera blackout", "no street clutter"] {
        for mode in ["lidar", "intermediate"] {
            let r = table_row(view, mode, condition);
            assert_eq!(r.matches('|').count(), 9, "{r}");
        }
    }
    let counts = view
        .lines()
        .find(|l| l.contains("scored ground truth (clean)"))
        .unwrap_or_else(|| panic!("no counts in\n{view}"));
    let numbers: Vec<u64> = counts.split('|').filter_map(|c| c.split_whitespace().next()?.parse().ok()).collect();
    let clean_gt = &json.as_array().expect("cells")[0]["gt"];
    assert_eq!(numbers.len(), 4, "{counts}");
    assert_eq!(Some(numbers[0] + numbers[1]), clean_gt[0].as_u64(), "{counts}");
    assert_eq!(Some(numbers[2] + numbers[3]), clean_gt[1].as_u64(), "{counts}");
    // Where the AP goes: a row per model for pedestrians (clean, in view, no clutter, 16 beams)
    // and cars (clean), with the AP the main table gives.
    let errors = md.split_once("Where the AP goes").map(|(_, r)| r).unwrap_or_else(|| panic!("no breakdown in\n{md}"));
    for mode in ["lidar", "intermediate"] {
        for (condition, class) in [
            ("clean", "pedestrian"),
            ("clean, in view", "pedestrian"),
            ("no street clutter", "pedestrian"),
            ("16 beams", "pedestrian"),
            ("clean", "car"),
        ] {
            let r = table_row(errors, &format!("{mode}, {condition}"), class);
            assert_eq!(r.matches('|').count(), 9, "{r}");
        }
        let car_ap = |r: &str| r.split('|').map(str::trim).nth(3).map(str::to_owned);
        assert_eq!(
            car_ap(table_row(errors, &format!("{mode}, clean"), "car")),
            car_ap(&row(mode, "clean")),
            "{errors}"
        );
    }
    assert!(std::fs::metadata(stem.with_extension("png")).expect("png").len() > 10_000);
    assert!(std::fs::metadata(stem.with_extension("errors.png")).expect("errors png").len() > 10_000);
    // The same rows as JSON: 5 per model, each with every kind of error.
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stem.with_extension("errors.json")).expect("errors json"))
            .expect("parses");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 10, "2 models × 5 slices");
    for r in rows {
        let label = r["label"].as_str().expect("label");
        let class = r["breakdown"]["class"].as_str().expect("class").to_lowercase();
        table_row(errors, label, &class);
        assert_eq!(r["breakdown"]["errors"].as_array().map(Vec::len), Some(5), "{r}");
    }
}

#[test]
fn late_fusion_trained_on_a_frozen_lidar_model_keeps_its_lidar_weights() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let train = |mode: &str, out: &std::path::Path, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fusor"))
            .args(["train", "--tiny", "--drives", "1", "--duration-s", "0.3", "--stride", "1", "--val-drives", "0"])
            .args(["--epochs", "1", "--mode", mode])
            .args(extra)
            .arg("-o")
            .arg(out)
            .arg("--cache")
            .arg(&cache)
            .output()
            .expect("runs")
    };
    let lidar = dir.path().join("lidar.safetensors");
    let out = train("lidar", &lidar, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let late = dir.path().join("late.safetensors");
    let lidar_arg = lidar.to_string_lossy().into_owned();
    // As the committed late model: the crop net on the frozen lidar model, the camera's
    // calibration jittered.
    let out = train("late", &late, &["--init", &lidar_arg, "--freeze-init", "--camera-jitter-deg", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("warm start from") && stdout.contains("(lidar model)"), "{stdout}");
    let read = |p: &std::path::Path| -> std::collections::HashMap<String, tch::Tensor> {
        tch::Tensor::read_safetensors(p).expect("weights").into_iter().collect()
    };
    let (lidar_w, late_w) = (read(&lidar), read(&late));
    let mut shared = 0;
    for (name, t) in &lidar_w {
        if name == "meta" {
            continue;
        }
        assert_eq!(late_w.get(name), Some(t), "{name}: a frozen lidar tensor moved or is missing");
        shared += 1;
    }
    assert!(shared > 20, "{shared} lidar tensors");
    // The camera branch did train (its corrections start at zero) and has no dense image net.
    let scale = &late_w["crop.scale"];
    assert!(scale.abs().sum(tch::Kind::Float).double_value(&[]) > 0.0);
    assert_eq!(scale.size(), [2], "pedestrian and cyclist corrections");
    assert!(late_w.keys().all(|k| !k.starts_with("image.")), "{:?}", late_w.keys());
    // Late has no pixel-class head to pretrain.
    let out = train("late", &late, &["--init", &lidar_arg, "--freeze-init", "--image-epochs", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image-epochs"));

    // Intermediate with crops, end to end from the lidar model: a crop net and the fusion
    // layers, no dense image net, no late corrections; nothing to pretrain; only for intermediate.
    let crops = dir.path().join("crops.safetensors");
    let out = train("intermediate", &crops, &["--init", &lidar_arg, "--image-branch", "crops"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let crops_w = read(&crops);
    assert!(crops_w.contains_key("fusion.out.weight") && crops_w.contains_key("crop.c1.weight"));
    assert!(crops_w.keys().all(|k| !k.starts_with("image.") && k != "crop.scale"), "{:?}", crops_w.keys());
    let out = train("intermediate", &crops, &["--image-branch", "crops", "--image-epochs", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image-epochs"));
    let out = train("late", &crops, &["--image-branch", "crops"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image-branch"));

    // A calibration error beyond 10° is no calibration: refused by name.
    let out = train("late", &late, &["--init", &lidar_arg, "--freeze-init", "--camera-jitter-deg", "30"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--camera-jitter-deg"));

    // An image size the network cannot take (odd) is refused by name.
    let out = train("late", &late, &["--init", &lidar_arg, "--freeze-init", "--image-size", "65x32"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image-size"));

    // Without --init there is nothing to freeze; a file of another grid is refused by name.
    let out = train("late", &late, &["--freeze-init"]);
    assert!(!out.status.success());
    // A mode without an image net has nothing to pretrain.
    let out = train("lidar", &dir.path().join("l2.safetensors"), &["--image-epochs", "1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image-epochs"));
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not safetensors").expect("write");
    let out = train("intermediate", &late, &["--init", &bad.to_string_lossy()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.safetensors"));
}
