//! Shared helpers for the integration tests: GStreamer set-up with the plugin registered
//! statically, where the installed model and videos are, and decoding real frames.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Once;

use gst::prelude::*;
use gstposebatch::geometry::iou;
use gstposebatch::meta::{Person, PoseMeta};

/// GStreamer with the plugin registered; GStreamer's own warnings and criticals are fatal,
/// as gst-check makes them: data flow before stream-start, caps or segment on a pad, a pad
/// pushed while inactive, a refcount gone wrong. Such a message aborts the test binary after
/// printing it, so no test passes with a pad-protocol fault.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        let protocol = gst::glib::LogLevels::LEVEL_WARNING | gst::glib::LogLevels::LEVEL_CRITICAL;
        gst::glib::log_set_fatal_mask(Some("GStreamer"), protocol);
        gstposebatch::plugin_register_static().expect("plugin registers");
    });
}

/// The folder with cam01.mp4 .. cam04.mp4 (installed by `make setup`).
pub fn media_dir() -> PathBuf {
    gstposebatch::install_paths::data_dir().join("media/pose2sim-multiperson")
}

pub fn camera(n: usize) -> PathBuf {
    media_dir().join(format!("cam0{n}.mp4"))
}

pub fn model() -> PathBuf {
    let path = gstposebatch::install_paths::default_model(gstposebatch::install_paths::Weights::Fp32);
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

/// Frames saved raw instead of decoded, for a host without H.264 decoding (the GPU check:
/// `scripts/gpu-check.sh pack` writes them): `POSEBATCH_TEST_FRAMES` names a folder with
/// `<video stem>.caps` and `<video stem>-<index>.raw`. None when they are not there or are
/// not the format asked for.
fn saved_frames(path: &std::path::Path, tail: &str, indices: &[usize]) -> Option<Vec<gst::Sample>> {
    let dir = PathBuf::from(std::env::var_os("POSEBATCH_TEST_FRAMES")?);
    let stem = path.file_stem()?.to_str()?;
    let caps: gst::Caps = std::fs::read_to_string(dir.join(format!("{stem}.caps"))).ok()?.trim().parse().ok()?;
    let info = gst_video::VideoInfo::from_caps(&caps).ok()?;
    if tail != format!("video/x-raw,format={}", info.format().to_str()) {
        return None;
    }
    let frame_time = info.fps().denom() as u64 * 1_000_000_000 / info.fps().numer().max(1) as u64;
    indices
        .iter()
        .map(|&i| {
            let mut buffer = gst::Buffer::from_mut_slice(std::fs::read(dir.join(format!("{stem}-{i}.raw"))).ok()?);
            buffer.get_mut()?.set_pts(gst::ClockTime::from_nseconds(i as u64 * frame_time));
            Some(gst::Sample::builder().buffer(&buffer).caps(&caps).build())
        })
        .collect()
}

/// `decode_frames` with any `tail` after videoconvert.
pub fn decode_frames_with(path: &std::path::Path, tail: &str, indices: &[usize]) -> Vec<gst::Sample> {
    if let Some(saved) = saved_frames(path, tail, indices) {
        return saved;
    }
    assert!(path.is_file(), "{} missing: run `make setup`", path.display());
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

/// An appsrc (`caps`, TIME) linked to the given posebatch, linked to an appsink (no sync),
/// not yet started: one stream pushed and pulled by hand.
pub fn one_stream_through(pb: &gst::Element, caps: &gst::Caps) -> (gst::Pipeline, gst_app::AppSrc, gst_app::AppSink) {
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder().caps(caps).format(gst::Format::Time).build();
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many([src.upcast_ref::<gst::Element>(), pb, sink.upcast_ref()]).unwrap();
    src.link(pb).unwrap();
    pb.link(&sink).unwrap();
    (pipeline, src, sink)
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

/// A GPU test that cannot run here says so and returns, unless POSEBATCH_REQUIRE_GPU is set
/// (the GPU check sets it on the GPU host), where not running is a failure.
pub fn skip_without_gpu(why: &str) {
    if std::env::var_os("POSEBATCH_REQUIRE_GPU").is_some() {
        panic!("POSEBATCH_REQUIRE_GPU is set but the GPU path cannot run: {why}");
    }
    eprintln!("SKIPPED ({why})");
}

/// Runs the frames of each camera through one posebatch (stream i = camera i) on
/// `provider`; returns each output frame's PoseMeta, per stream, in order, and the
/// element's final stats.
pub fn run_posebatch_on(frames: &[Vec<gst::Sample>], max_batch_size: u32, provider: &str) -> (Vec<Vec<PoseMeta>>, gst::Structure) {
    run_posebatch_with(frames, max_batch_size, &[("execution-provider", provider)])
}

/// `run_posebatch_on` with any posebatch properties (name, value as gst-launch writes it).
pub fn run_posebatch_with(frames: &[Vec<gst::Sample>], max_batch_size: u32, properties: &[(&str, &str)]) -> (Vec<Vec<PoseMeta>>, gst::Structure) {
    init();
    let pipeline = gst::Pipeline::new();
    let pb = posebatch();
    pb.set_property("max-batch-size", max_batch_size);
    for (name, value) in properties {
        pb.set_property_from_str(name, value);
    }
    pb.set_property_from_str("overflow", "block");
    pipeline.add(&pb).unwrap();
    let mut srcs = Vec::new();
    let mut sinks = Vec::new();
    for (i, samples) in frames.iter().enumerate() {
        let src = gst_app::AppSrc::builder()
            .caps(&samples[0].caps().unwrap().to_owned())
            .format(gst::Format::Time)
            .build();
        let sink = gst_app::AppSink::builder().sync(false).build();
        pipeline.add_many([src.upcast_ref::<gst::Element>(), sink.upcast_ref()]).unwrap();
        src.link_pads(None, &pb, Some(&format!("sink_{i}"))).unwrap();
        pb.link_pads(Some(&format!("src_{i}")), &sink, None).unwrap();
        srcs.push(src);
        sinks.push(sink);
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let pushers: Vec<_> = srcs
        .into_iter()
        .zip(frames.iter().cloned())
        .map(|(src, samples)| {
            std::thread::spawn(move || {
                for s in samples {
                    src.push_buffer(s.buffer_owned().unwrap()).unwrap();
                }
                src.end_of_stream().unwrap();
            })
        })
        .collect();
    let metas = sinks
        .iter()
        .zip(frames)
        .map(|(sink, samples)| {
            (0..samples.len())
                .map(|_| {
                    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(60)).expect("an output frame");
                    PoseMeta::from_buffer(sample.buffer().unwrap()).expect("every frame has PoseMeta")
                })
                .collect()
        })
        .collect();
    for p in pushers {
        p.join().unwrap();
    }
    let stats = pb.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    (metas, stats)
}

/// Each expected person's best box match (IoU >= 0.5) among `got`: (people matched, mean and
/// largest keypoint distance over them, pixels).
pub fn compare_people(expected: &[Person], got: &[Person]) -> (usize, f32, f32) {
    let mut matched = 0;
    let (mut sum, mut count, mut max) = (0.0f32, 0usize, 0.0f32);
    for e in expected {
        let Some(g) = got.iter().max_by(|a, b| iou(&a.bbox, &e.bbox).total_cmp(&iou(&b.bbox, &e.bbox))) else {
            continue;
        };
        if iou(&g.bbox, &e.bbox) < 0.5 {
            continue;
        }
        matched += 1;
        for (ke, kg) in e.keypoints.iter().zip(&g.keypoints) {
            let d = ((ke[0] - kg[0]).powi(2) + (ke[1] - kg[1]).powi(2)).sqrt();
            sum += d;
            max = max.max(d);
            count += 1;
        }
    }
    (matched, if count == 0 { 0.0 } else { sum / count as f32 }, max)
}

