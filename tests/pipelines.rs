//! The scripts in pipelines/, run as users run them (bash, gst-launch-1.0, the built plugin
//! from target/release), short, on the real model and videos; their outputs checked. The
//! camera and RTSP ones need hardware or a network: they are checked for syntax and for
//! their refusal without a device or URL.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gst::prelude::*;
use gstposebatch::poseoverlay::PALETTE;
use serde_json::Value;

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pipelines").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("posebatch-pipelines-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a script with bash; the scripts find the release build through CARGO_TARGET_DIR.
fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    common::plugin_dir(); // the build they need is there
    let mut cmd = Command::new("bash");
    cmd.arg(script(name))
        .args(args)
        .env("GST_REGISTRY", std::env::temp_dir().join("posebatch-test-registry.bin"))
        .env("CARGO_TARGET_DIR", common::release_dir().parent().expect("release has a parent"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Decodes a file with `chain` after filesrc; returns the frames as samples.
fn decode(path: &Path, chain: &str) -> Vec<gst::Sample> {
    common::init();
    let pipeline = gst::parse::launch(&format!("filesrc location=\"{}\" ! {chain} ! appsink name=sink sync=false", path.display()))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        frames.push(s);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    frames
}

fn size_of(sample: &gst::Sample) -> (i32, i32) {
    let s = sample.caps().unwrap().structure(0).unwrap();
    (s.get("width").unwrap(), s.get("height").unwrap())
}

#[test]
fn every_script_is_valid_bash_and_starts_with_how_to_run_it() {
    for name in ["synthetic.sh", "fakesrc.sh", "mosaic.sh", "ndjson.sh", "camera.sh", "rtsp.sh"] {
        let status = Command::new("bash").arg("-n").arg(script(name)).status().unwrap();
        assert!(status.success(), "{name}: bash -n");
        let head = std::fs::read_to_string(script(name)).unwrap();
        let comments: Vec<&str> = head.lines().skip(1).take_while(|l| l.starts_with('#')).collect();
        assert!(comments.len() >= 4, "{name}: a comment block first");
        assert!(comments.iter().any(|l| l.contains(&format!("pipelines/{name}"))), "{name}: says how to run it");
    }
}

#[test]
fn synthetic_runs_four_live_streams_to_eos() {
    let out = run("synthetic.sh", &[], &[("NUM_BUFFERS", "15"), ("INPUT_SIZE", "160")]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("Got EOS from element"), "{t}");
}

/// fakesrc streams, live with timestamps, and not live without any: frames come out (the
/// posebatch-stats messages count them) to EOS, with or without timestamps.
#[test]
fn fakesrc_runs_live_with_timestamps_and_without_them() {
    for (live, timestamps, streams) in [("true", "true", "4"), ("false", "false", "1")] {
        let env = [
            ("NUM_BUFFERS", "12"),
            ("STREAMS", streams),
            ("LIVE", live),
            ("TIMESTAMPS", timestamps),
            ("WIDTH", "640"),
            ("HEIGHT", "360"),
            ("GST_LAUNCH_FLAGS", "-m"),
            ("POSEBATCH_PROPS", "input-size=160 stats-interval=50000000"),
        ];
        let out = run("fakesrc.sh", &[], &env);
        let t = text(&out);
        assert!(out.status.success(), "LIVE={live} TIMESTAMPS={timestamps}: {t}");
        assert!(t.contains("Got EOS from element"), "{t}");
        let last = t.lines().rfind(|l| l.contains("posebatch-stats")).expect("a stats message");
        let frames_out: u64 = last.split("frames-out=(guint64)").last().unwrap().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
        assert!(frames_out > 0, "LIVE={live}: frames came out: {last}");
    }
    let refused = run("fakesrc.sh", &[], &[("LIVE", "true"), ("TIMESTAMPS", "false")]);
    assert_eq!(refused.status.code(), Some(2), "live needs timestamps: {}", text(&refused));
}

#[test]
fn ndjson_writes_one_parsable_line_per_frame_with_people() {
    let dir = scratch("ndjson");
    let file = dir.join("cam02.ndjson");
    let out = run("ndjson.sh", &[common::camera(2).to_str().unwrap(), file.to_str().unwrap()], &[("FRAMES", "12")]);
    assert!(out.status.success(), "{}", text(&out));
    let body = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert!((12..40).contains(&lines.len()), "{} lines for FRAMES=12", lines.len());
    let mut people = 0;
    for l in &lines {
        assert_eq!((l["width"].as_i64(), l["height"].as_i64()), (Some(1088), Some(1920)));
        for p in l["poses"].as_array().expect("every frame inferred (block mode)") {
            assert_eq!(p["keypoints"].as_array().unwrap().len(), 17);
            people += 1;
        }
    }
    assert!(people >= 2 * lines.len(), "{people} people in {} frames of camera 2", lines.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mosaic_writes_an_mp4_and_a_png_of_the_four_cameras_with_skeletons() {
    let dir = scratch("mosaic");
    let out = run("mosaic.sh", &[], &[("FRAMES", "8"), ("OUT_DIR", dir.to_str().unwrap())]);
    assert!(out.status.success(), "{}", text(&out));

    let mp4 = dir.join("demo.mp4");
    assert!(std::fs::metadata(&mp4).unwrap().len() > 10_000, "mp4 has content");
    let frames = decode(&mp4, "qtdemux ! h264parse ! avdec_h264");
    assert!(frames.len() >= 8, "{} frames in the mp4", frames.len());
    assert_eq!(size_of(&frames[0]), (1088, 1920), "2 x 2 tiles of 544 x 960");

    let png = dir.join("demo.png");
    let image = decode(&png, "pngdec ! videoconvert ! video/x-raw,format=RGB");
    assert_eq!(image.len(), 1);
    assert_eq!(size_of(&image[0]), (1088, 1920));
    // Each camera's first person is drawn in the first palette colour (a red that this
    // scene does not have): every tile has some.
    let info = gst_video::VideoInfo::from_caps(image[0].caps().unwrap()).unwrap();
    let stride = info.stride()[0] as usize;
    let map = image[0].buffer().unwrap().map_readable().unwrap();
    let near = |p: &[u8], c: [u8; 3]| p.iter().zip(c).all(|(a, b)| (*a as i32 - b as i32).abs() <= 16);
    for tile in 0..4 {
        let (x0, y0) = ((tile % 2) * 544, (tile / 2) * 960);
        let mut drawn = 0;
        for y in y0..y0 + 960 {
            for x in x0..x0 + 544 {
                let at = y * stride + x * 3;
                if near(&map[at..at + 3], PALETTE[0]) {
                    drawn += 1;
                }
            }
        }
        assert!(drawn > 300, "tile {tile}: {drawn} pixels of the first person's colour");
    }
    assert!(!dir.join(".mosaic-0.png").exists(), "snapshots cleaned up");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn camera_and_rtsp_refuse_clearly_without_a_device_or_url() {
    let out = run("camera.sh", &[], &[("DEVICE", "/dev/no-such-camera")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no camera at /dev/no-such-camera"));
    let out = run("rtsp.sh", &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("usage:"));
}
