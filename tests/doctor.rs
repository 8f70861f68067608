//! `make doctor` (scripts/doctor.sh) tells the truth: after set-up it finds everything the
//! CPU path needs; each GPU line matches what this machine really has; and where nothing
//! is installed it says what is missing and where it looked.

mod common;

use std::process::{Command, Output};

fn doctor(env: &[(&str, &std::path::Path)]) -> (Output, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/doctor.sh"))
        .env("GST_PLUGIN_PATH", common::plugin_dir())
        .env("GST_REGISTRY", std::env::temp_dir().join("posebatch-test-registry.bin"))
        .env("CARGO_TARGET_DIR", common::release_dir().parent().unwrap())
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("POSEBATCH_MODEL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

/// The line about `what`, and whether it says ok.
fn line<'a>(text: &'a str, what: &str) -> (&'a str, bool) {
    let line = text.lines().find(|l| l.contains(what)).unwrap_or_else(|| panic!("no line about {what}:\n{text}"));
    (line, line.trim_start().starts_with("ok"))
}

#[test]
fn after_setup_the_cpu_path_has_everything_and_gpu_lines_match_the_machine() {
    common::init();
    let (out, text) = doctor(&[]);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for package in ["gstreamer1.0-plugins-bad", "gstreamer1.0-libav", "gstreamer1.0-tools"] {
        assert!(line(&text, &format!(" {package}")).1, "{package}:\n{text}");
    }
    assert!(line(&text, "gst-launch-1.0 finds posebatch").1, "{text}");
    let ort = gstposebatch::install_paths::onnxruntime_library();
    let (ort_line, ort_ok) = line(&text, &ort.display().to_string());
    assert!(ort_ok, "{ort_line}");
    let gpu_build = ort.parent().unwrap().join("libonnxruntime_providers_cuda.so").exists();
    assert_eq!(ort_line.contains("GPU build"), gpu_build, "{ort_line}");
    assert!(line(&text, "yolo11n-pose.onnx").1, "{text}");
    assert!(line(&text, "NVRTC reports CUDA 13.").1, "make setup installs NVRTC:\n{text}");
    let (driver, driver_ok) = line(&text, "NVIDIA driver");
    assert_eq!(driver_ok, gstposebatch::bench::driver_present(), "{driver}");
}

#[test]
fn with_nothing_installed_it_says_what_is_missing_and_where_it_looked() {
    let empty = std::env::temp_dir().join(format!("posebatch-doctor-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let (out, text) = doctor(&[("XDG_DATA_HOME", &empty)]);
    assert_eq!(out.status.code(), Some(1), "the CPU path lacks ONNX Runtime and the model:\n{text}");
    let where_ort = empty.join("posebatch/onnxruntime/libonnxruntime.so").display().to_string();
    let (ort, ort_ok) = line(&text, &where_ort);
    assert!(!ort_ok && ort.contains("make setup"), "{ort}");
    let (model, model_ok) = line(&text, &empty.join("posebatch/models/yolo11n-pose.onnx").display().to_string());
    assert!(!model_ok, "{model}");
    std::fs::remove_dir_all(&empty).unwrap();
}
