//! The three embedding examples (examples/embed.rs, embed.py, embed.c), each run on a real
//! camera: each reads PoseMeta, pauses and resumes stream 0, and reports people; on a video
//! with nobody in it each exits 1. The Rust one is the binary `cargo build --release
//! --examples` makes (make test does); the C one is compiled here with cc and pkg-config.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use gst::prelude::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn with_plugin(mut cmd: Command) -> Output {
    cmd.env("GST_PLUGIN_PATH", common::plugin_dir())
        .env("GST_REGISTRY", std::env::temp_dir().join("posebatch-test-registry.bin"))
        .output()
        .unwrap()
}

/// A short H.264 MP4 of a test pattern: no people in it.
fn empty_video() -> &'static Path {
    static VIDEO: OnceLock<PathBuf> = OnceLock::new();
    VIDEO.get_or_init(|| {
        common::init();
        let path = std::env::temp_dir().join(format!("posebatch-nobody-{}.mp4", std::process::id()));
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=20 pattern=smpte ! video/x-raw,width=320,height=240,framerate=30/1 \
             ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location=\"{}\"",
            path.display()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        common::run_to_eos(&pipeline, 60).unwrap();
        path
    })
}

/// "read N frames, M people" -> (N, M).
fn totals(stdout: &str, prefix: &str) -> (usize, usize) {
    let line = stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no '{prefix}' line in:\n{stdout}"));
    let numbers: Vec<usize> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
    (numbers[0], numbers[1])
}

fn check_saw_people(out: &Output, prefix: &str, frames: usize) {
    let t = text(out);
    assert!(out.status.success(), "{t}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (n, people) = totals(&stdout, prefix);
    assert_eq!(n, frames, "{t}");
    assert!(people >= frames, "{people} people in {n} frames:\n{t}");
    let pause_line = stdout.lines().find(|l| l.contains("pause-stream(0)")).unwrap_or_else(|| panic!("no pause line:\n{t}"));
    assert!(!pause_line.contains("false") && !pause_line.contains("False") && !pause_line.contains("-> 0"), "{pause_line}");
    // Each reader reads the track IDs too: the first person has one.
    let person = stdout.lines().find(|l| l.contains("person 0 (track ")).unwrap_or_else(|| panic!("no person line:\n{t}"));
    let id: u64 = person.split("(track ").nth(1).and_then(|r| r.split(')').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(id > 0, "{person}");
}

fn rust_example() -> Command {
    let bin = common::release_dir().join("examples/embed");
    assert!(bin.is_file(), "build the examples first: cargo build --release --examples (make test does)");
    Command::new(bin)
}

fn python_example() -> Command {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(repo().join("examples/embed.py"));
    cmd
}

fn c_example() -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        let bin = std::env::temp_dir().join(format!("posebatch-embed-c-{}", std::process::id()));
        let flags = Command::new("pkg-config").args(["--cflags", "--libs", "gstreamer-1.0", "gstreamer-app-1.0"]).output().unwrap();
        assert!(flags.status.success(), "pkg-config: {}", text(&flags));
        let flags = String::from_utf8(flags.stdout).unwrap();
        let out = Command::new("cc")
            .args(["-O2", "-Wall", "-Werror", "-o"])
            .arg(&bin)
            .arg(repo().join("examples/embed.c"))
            .args(flags.split_whitespace())
            .output()
            .unwrap();
        assert!(out.status.success(), "cc: {}", text(&out));
        bin
    });
    Command::new(bin)
}

#[test]
fn rust_example_reads_people_and_pauses_and_resumes() {
    let mut cmd = rust_example();
    cmd.args([common::camera(3).to_str().unwrap(), "16"]);
    let out = with_plugin(cmd);
    check_saw_people(&out, "read ", 16);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("posebatch-stream-paused, stream-index=(uint)0, reason=(string)user"), "{stdout}");
    assert!(stdout.contains("posebatch-stream-resumed, stream-index=(uint)0"), "{stdout}");
}

#[test]
fn python_example_reads_people_and_pauses_and_resumes() {
    let mut cmd = python_example();
    cmd.args([common::camera(4).to_str().unwrap(), "16"]);
    check_saw_people(&with_plugin(cmd), "python read ", 16);
}

#[test]
fn c_example_reads_people_and_pauses_and_resumes() {
    let mut cmd = c_example();
    cmd.args([common::camera(2).to_str().unwrap(), "16"]);
    check_saw_people(&with_plugin(cmd), "C read ", 16);
}

#[test]
fn every_example_exits_1_on_a_video_with_nobody() {
    for (name, mut cmd) in [("rust", rust_example()), ("python", python_example()), ("c", c_example())] {
        cmd.args([empty_video().to_str().unwrap(), "12"]);
        let out = with_plugin(cmd);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
    }
}
