//! `Detector::export_torchscript`: the traced module gives the network's outputs, in Rust
//! (`CModule`) and in the project venv's Python PyTorch (an independent runtime of the file).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{frame, gt};
use fusor_core::ObjectClass;
use fusor_detect::{Detector, FrameInput, FusionMode, ImageBranch, ModelConfig};
use std::path::PathBuf;
use std::process::Command;
use tch::{Device, Tensor};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Reads the safetensors files the test writes, runs the TorchScript module and prints the
/// largest absolute difference to the Rust outputs per output.
const PYTHON: &str = r#"
import json, struct, sys, torch

def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    kinds = {"F32": torch.float32, "I64": torch.int64, "F64": torch.float64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[a:b]), dtype=kinds[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out

module = torch.jit.load(sys.argv[1])
inputs = read_safetensors(sys.argv[2])
expected = read_safetensors(sys.argv[3])
order = sys.argv[4].split(",")
with torch.no_grad():
    out = module(*[inputs[k] for k in order])
heatmap, regression = out[:, :3], out[:, 3:]
print(json.dumps({
    "heatmap": float((heatmap - expected["heatmap_logits"]).abs().max()),
    "regression": float((regression - expected["regression"]).abs().max()),
    "shape": list(heatmap.shape),
    "torch": torch.__version__,
}))
"#;

#[test]
fn the_exported_torchscript_module_matches_the_network_in_rust_and_in_python() {
    check_export(FusionMode::Intermediate);
}

#[test]
fn the_exported_late_fusion_module_matches_too() {
    check_export(FusionMode::Late);
}

#[test]
fn the_exported_intermediate_module_with_crops_matches_too() {
    check_config(ModelConfig { image_branch: ImageBranch::Crops, ..ModelConfig::tiny(FusionMode::Intermediate) });
}

/// The tiny configuration of `mode` (its 64 × 32 camera matches the test frames), random
/// weights from a fixed seed: the export must reproduce whatever the weights are.
fn check_export(mode: FusionMode) {
    check_config(ModelConfig::tiny(mode));
}

fn check_config(cfg: ModelConfig) {
    let mode = cfg.label();
    tch::manual_seed(7);
    let mut detector = Detector::new(&cfg, Device::Cpu).unwrap();
    // Late fusion's corrections start at zero scale and shift, and the crop fusion's last layer
    // at zero, which would hide their inputs: give them values.
    for (name, mut var) in detector.var_store().variables() {
        if ["crop.scale", "crop.shift", "fusion.out.weight", "fusion.out.bias"].contains(&name.as_str()) {
            tch::no_grad(|| var.copy_(&(Tensor::randn(var.size(), (tch::Kind::Float, Device::Cpu)) * 0.5)));
        }
    }
    let sample = frame(vec![gt(ObjectClass::Car, 12.0, 1.0, 0.3), gt(ObjectClass::Pedestrian, 8.0, -3.0, 0.0)]);
    let dir = tempfile::tempdir().unwrap();
    let module_path = dir.path().join("fusor-detect.pt");
    let (inputs, reference) = detector
        .export_torchscript(FrameInput { points: &sample.points, cameras: &sample.cameras }, &module_path)
        .unwrap();
    assert!(inputs.iter().any(|(n, _)| n == "images"), "the {mode} model takes the image");
    if cfg.has_crop_net() {
        // The camera reaches the output: the same frame without it scores differently.
        let blind = detector.forward(&[FrameInput { points: &sample.points, cameras: &[] }]);
        let change = f64::try_from((&blind.heatmap_logits - &reference.heatmap_logits).abs().max()).unwrap();
        assert!(change > 1e-3, "the {mode} model's camera changed the heatmap by only {change}");
    }

    // Rust: load the file back and run it.
    let module = tch::CModule::load(&module_path).unwrap();
    let ivalues: Vec<tch::IValue> = inputs.iter().map(|(_, t)| tch::IValue::Tensor(t.shallow_clone())).collect();
    let out = tch::no_grad(|| module.forward_is(&ivalues)).unwrap();
    let tch::IValue::Tensor(out) = out else { panic!("expected a tensor, got {out:?}") };
    let heatmap = out.narrow(1, 0, 3);
    let diff = f64::try_from((&heatmap - &reference.heatmap_logits).abs().max()).unwrap();
    assert!(diff < 1e-4, "Rust CModule heatmap differs by {diff}");

    // Python PyTorch from the project venv.
    let python = root().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run `make setup`", python.display());
    let inputs_path = dir.path().join("inputs.safetensors");
    let expected_path = dir.path().join("expected.safetensors");
    Tensor::write_safetensors(
        &inputs.iter().map(|(n, t)| (n.as_str(), t.shallow_clone())).collect::<Vec<_>>(),
        &inputs_path,
    )
    .unwrap();
    Tensor::write_safetensors(
        &[
            ("heatmap_logits", reference.heatmap_logits.shallow_clone()),
            ("regression", reference.regression.shallow_clone()),
        ],
        &expected_path,
    )
    .unwrap();
    let order: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    let run = Command::new(&python)
        .arg("-c")
        .arg(PYTHON)
        .arg(&module_path)
        .arg(&inputs_path)
        .arg(&expected_path)
        .arg(order.join(","))
        .output()
        .unwrap();
    assert!(run.status.success(), "python: {}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    println!("TorchScript in Python vs Rust: {report}");
    assert!(report["heatmap"].as_f64().unwrap() < 1e-4, "{report}");
    assert!(report["regression"].as_f64().unwrap() < 1e-4, "{report}");
    assert_eq!(report["shape"][1].as_u64(), Some(3), "three classes");

    // A traced module is not tied to the example's point count.
    let fewer = frame(vec![gt(ObjectClass::Car, 20.0, -2.0, 1.0)]);
    let (inputs2, reference2) = detector
        .export_torchscript(FrameInput { points: &fewer.points, cameras: &fewer.cameras }, &dir.path().join("b.pt"))
        .unwrap();
    assert_ne!(inputs[0].1.size()[0], inputs2[0].1.size()[0], "another point count");
    let ivalues: Vec<tch::IValue> = inputs2.iter().map(|(_, t)| tch::IValue::Tensor(t.shallow_clone())).collect();
    let out = tch::no_grad(|| module.forward_is(&ivalues)).unwrap();
    let tch::IValue::Tensor(out) = out else { panic!("tensor") };
    let diff = f64::try_from((&out.narrow(1, 0, 3) - &reference2.heatmap_logits).abs().max()).unwrap();
    assert!(diff < 1e-4, "the first module on another cloud differs by {diff}");
}
