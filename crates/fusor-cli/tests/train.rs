//! `fusor train` / `fusor detect-eval` end to end on a tiny network and very short drives.

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
    for ext in ["safetensors", "loss.png", "ap.png", "log.json"] {
        assert!(weights.with_extension(ext).exists(), "{ext} missing");
    }
    let eval = Command::new(env!("CARGO_BIN_EXE_fusor"))
        .args(["detect-eval", "--drives", "1", "--duration-s", "0.2", "--stride", "1", "--weights"])
        .arg(&weights)
        .arg("--cache")
        .arg(&cache)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&eval.stdout);
    assert!(eval.status.success(), "{text}\n{}", String::from_utf8_lossy(&eval.stderr));
    assert!(text.contains("mode early") && text.contains("| car |"), "{text}");
    let missing = Command::new(env!("CARGO_BIN_EXE_fusor"))
        .args(["detect-eval", "--weights"])
        .arg(dir.path().join("nope.safetensors"))
        .output()
        .expect("runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.safetensors"));
}
