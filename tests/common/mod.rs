//! Shared helpers for the integration tests: GStreamer set-up with the plugin registered
//! statically, where the installed model and videos are, and decoding real frames.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Once;

use gst::prelude::*;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstposebatch::plugin_register_static().expect("plugin registers");
    });
}

/// The folder with cam01.mp4 .. cam04.mp4 (installed by `make setup`).
pub fn media_dir() -> PathBuf {
    let dir = gstposebatch::install_paths::data_dir().join("media/pose2sim-multiperson");
    assert!(dir.join("cam01.mp4").is_file(), "videos missing in {}: run `make setup`", dir.display());
    dir
}

pub fn camera(n: usize) -> PathBuf {
    media_dir().join(format!("cam0{n}.mp4"))
}

pub fn model() -> PathBuf {
    let path = gstposebatch::install_paths::default_model(false);
    assert!(path.is_file(), "model missing at {}: run `make setup`", path.display());
    path
}

/// The decode chain shared with scripts/reference_poses.py, so both see the same pixels;
/// `tail` follows videoconvert (caps, or a scaler and caps).
pub fn decode_launch(path: &std::path::Path, tail: &str) -> String {
    format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! {tail}",
        path.display()
    )
}

/// Decodes a video and keeps the frames at `indices` (as samples, caps included).
pub fn decode_frames(path: &std::path::Path, format: &str, indices: &[usize]) -> Vec<gst::Sample> {
    decode_frames_with(path, &format!("video/x-raw,format={format}"), indices)
}

/// `decode_frames` with any `tail` after videoconvert.
pub fn decode_frames_with(path: &std::path::Path, tail: &str, indices: &[usize]) -> Vec<gst::Sample> {
    let pipeline = gst::parse::launch(&format!("{} ! appsink name=sink sync=false", decode_launch(path, tail)))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    let mut index = 0;
    while out.len() < indices.len() {
        let Ok(sample) = sink.pull_sample() else { break };
        if indices.contains(&index) {
            out.push(sample);
        }
        index += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(out.len(), indices.len(), "{} has fewer frames than asked", path.display());
    out
}

/// A posebatch element with the installed model, on CPU.
pub fn posebatch() -> gst::Element {
    gst::ElementFactory::make("posebatch")
        .property("model", model().to_str().unwrap())
        .property_from_str("execution-provider", "cpu")
        .build()
        .unwrap()
}

/// A pipeline from a gst-launch description; `{model}` is replaced by the model's path.
pub fn pipeline(description: &str) -> gst::Pipeline {
    init();
    let description = description.replace("{model}", &format!("\"{}\"", model().display()));
    gst::parse::launch(&description)
        .unwrap_or_else(|e| panic!("{description}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Waits for EOS or an error on the bus; returns the error text, if any.
pub fn run_to_eos(pipeline: &gst::Pipeline, timeout_s: u64) -> Result<(), String> {
    let bus = pipeline.bus().unwrap();
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(timeout_s)) else {
            break Err(format!("no EOS within {timeout_s} s"));
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => break Err(format!("{} ({:?})", e.error(), e.debug())),
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null).unwrap();
    result
}

/// Plays `pipeline` to EOS and returns the warnings posted on the way; panics on an error.
pub fn play_collecting_warnings(pipeline: &gst::Pipeline) -> Vec<String> {
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut warnings = Vec::new();
    loop {
        let msg = bus.timed_pop(gst::ClockTime::from_seconds(60)).expect("EOS within 60 s");
        match msg.view() {
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    warnings
}

/// The release build's folder: beside cargo's test scratch folder, so it follows
/// CARGO_TARGET_DIR and a cargo config's build.target-dir.
pub fn release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/tmp has a parent").join("release")
}

/// Path of the plugin library `cargo build --release` makes (for gst-launch and Python).
pub fn plugin_dir() -> PathBuf {
    let dir = release_dir();
    assert!(
        dir.join("libgstposebatch.so").is_file(),
        "build the plugin first: cargo build --release (make test does)"
    );
    dir
}
