//! Embedding posebatch in a Rust application: a video through posebatch into an appsink,
//! each frame's poses read with the typed API (`PoseMeta::from_buffer`), stream 0 paused and
//! resumed with the `pause-stream` / `resume-stream` action signals on the way.
//!
//!     cargo run --release --example embed -- [VIDEO] [FRAMES]
//!
//! VIDEO defaults to the installed cam01.mp4, FRAMES (how many frames to read) to 30.
//! Exits 1 when it saw no people, 2 on an error.

use std::path::PathBuf;
use std::process::ExitCode;

use gst::prelude::*;
use gstposebatch::meta::{KEYPOINT_NAMES, PoseMeta};

fn main() -> ExitCode {
    match run() {
        Ok(0) => {
            eprintln!("embed: saw no people");
            ExitCode::from(1)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embed: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the pipeline; returns how many people it saw over all frames.
fn run() -> Result<usize, Box<dyn std::error::Error>> {
    gst::init()?;
    // The crate is linked in: register its elements without looking for the installed plugin.
    gstposebatch::plugin_register_static()?;

    let mut args = std::env::args().skip(1);
    let video = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| gstposebatch::install_paths::data_dir().join("media/pose2sim-multiperson/cam01.mp4"));
    let max_frames: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30);
    if !video.is_file() {
        return Err(format!("{} missing (make setup installs the demo videos)", video.display()).into());
    }

    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! posebatch name=p ! appsink name=sink sync=false",
        video.display()
    ))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let posebatch = pipeline.by_name("p").ok_or("no posebatch")?;
    let sink = pipeline.by_name("sink").ok_or("no appsink")?.downcast::<gst_app::AppSink>().map_err(|_| "not an appsink")?;
    pipeline.set_state(gst::State::Playing)?;

    let (mut frames, mut people) = (0usize, 0usize);
    let mut failure = None;
    while frames < max_frames {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(30)) else {
            if !sink.is_eos() {
                failure = Some("no frame within 30 s".to_string());
            }
            break;
        };
        let buffer = sample.buffer().ok_or("sample without buffer")?;
        let Some(meta) = PoseMeta::from_buffer(buffer) else {
            println!("frame {frames}: no PoseMeta");
            frames += 1;
            continue;
        };
        people += meta.people.len();
        println!(
            "frame {frames} (pts {}): {} people, batch #{} ({} frames), inference {:.1} ms",
            buffer.pts().display(),
            meta.people.len(),
            meta.batch_id,
            meta.batch_size,
            meta.inference_ns as f64 / 1e6
        );
        if frames < 3 {
            for (i, p) in meta.people.iter().enumerate() {
                let [x, y, c] = p.keypoints[0];
                let sure = p.keypoints.iter().filter(|k| k[2] >= 0.5).count();
                println!(
                    "  person {i} (track {}): score {:.2}, box [{:.0}, {:.0}, {:.0}, {:.0}], {} at ({x:.0}, {y:.0}) conf {c:.2}, {sure}/17 keypoints sure",
                    p.track_id, p.score, p.bbox[0], p.bbox[1], p.bbox[2], p.bbox[3], KEYPOINT_NAMES[0]
                );
            }
        }
        frames += 1;

        if frames == 10 {
            // Pause stream 0: its upstream waits at the sink pad and its queued frames are
            // dropped; resume it after a moment.
            let paused = posebatch.emit_by_name::<bool>("pause-stream", &[&0u32]);
            println!("pause-stream(0) -> {paused}");
            let mut during = 0;
            while sink.try_pull_sample(gst::ClockTime::from_mseconds(300)).is_some() {
                during += 1; // frames that had already left posebatch
            }
            let resumed = posebatch.emit_by_name::<bool>("resume-stream", &[&0u32]);
            println!("resume-stream(0) -> {resumed} ({during} frames were already on their way)");
            if !paused || !resumed {
                failure = Some("pause-stream / resume-stream returned false".to_string());
                break;
            }
            frames += during;
        }
    }

    // Errors, and the pause/resume messages posebatch posted.
    let bus = pipeline.bus().ok_or("no bus")?;
    while let Some(msg) = bus.pop() {
        match msg.view() {
            gst::MessageView::Error(e) => failure = Some(format!("{} ({:?})", e.error(), e.debug())),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name().starts_with("posebatch-stream-")) {
                    println!("bus: {s}");
                }
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null)?;
    if let Some(f) = failure {
        return Err(f.into());
    }
    println!("read {frames} frames, {people} people in all ({:.2} per frame)", people as f64 / frames.max(1) as f64);
    Ok(people)
}
