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
