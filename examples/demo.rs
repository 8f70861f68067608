//! The four-camera demo: the four real videos through one posebatch, each stream into its
//! own newline-delimited JSON file, then a per-stream summary.
//!
//!     cargo run --release --example demo -- [--media DIR] [--out DIR] [posebatch properties...]
//!
//! Extra arguments of the form name=value are set on the posebatch element.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstposebatch::meta::PoseMeta;

#[derive(Default)]
struct StreamSummary {
    frames: u64,
    people: u64,
    /// Arrival time at the sink pad by PTS, until the frame leaves the source pad.
    arrivals: HashMap<Option<gst::ClockTime>, Instant>,
    latencies: Vec<Duration>,
    batch_sizes: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstposebatch::plugin_register_static()?;
    let mut media = gstposebatch::install_paths::data_dir().join("media/pose2sim-multiperson");
    let mut out = PathBuf::from("out");
    let mut properties = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--media" => media = args.next().ok_or("--media needs a folder")?.into(),
            "--out" => out = args.next().ok_or("--out needs a folder")?.into(),
            kv if kv.contains('=') => properties.push(kv.to_string()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    std::fs::create_dir_all(&out)?;
    let cameras: Vec<PathBuf> = (1..=4).map(|i| media.join(format!("cam0{i}.mp4"))).collect();
    for c in &cameras {
        if !c.is_file() {
            return Err(format!("{} missing: run `make setup`", c.display()).into());
        }
    }

    let mut launch = format!("posebatch name=p {}", properties.join(" "));
    for (i, cam) in cameras.iter().enumerate() {
        launch += &format!(
            " filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=NV12 ! p.sink_{i}",
            cam.display()
        );
    }
    for i in 0..cameras.len() {
        launch += &format!(" p.src_{i} ! posejson ! filesink location=\"{}\"", out.join(format!("cam0{}.ndjson", i + 1)).display());
    }
    let pipeline = gst::parse::launch(&launch)?.downcast::<gst::Pipeline>().map_err(|_| "not a pipeline")?;
    let posebatch = pipeline.by_name("p").ok_or("no posebatch")?;

    let summaries: Vec<Arc<Mutex<StreamSummary>>> = (0..cameras.len()).map(|_| Default::default()).collect();
    for (i, summary) in summaries.iter().enumerate() {
        let s = summary.clone();
        posebatch.static_pad(&format!("sink_{i}")).unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                s.lock().unwrap().arrivals.insert(b.pts(), Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
        let s = summary.clone();
        posebatch.static_pad(&format!("src_{i}")).unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                let mut s = s.lock().unwrap();
                s.frames += 1;
                if let Some(arrived) = s.arrivals.remove(&b.pts()) {
                    s.latencies.push(arrived.elapsed());
                }
                if let Some(meta) = PoseMeta::from_buffer(b) {
                    s.people += meta.people.len() as u64;
                    s.batch_sizes += meta.batch_size as u64;
                }
            }
            gst::PadProbeReturn::Ok
        });
    }

    println!("posebatch demo: {} cameras from {}", cameras.len(), media.display());
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().unwrap();
    let mut failure = None;
    for msg in bus.iter_timed(gst::ClockTime::NONE) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                failure = Some(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Warning(w) => eprintln!("warning: {}", w.error()),
            _ => {}
        }
    }
    let wall = start.elapsed();
    // Before NULL: going to NULL unloads the model, and the stats with it ("provider none").
    let stats = posebatch.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null)?;
    if let Some(f) = failure {
        return Err(f.into());
    }

    println!("\n{:<8} {:>7} {:>14} {:>7} {:>11} {:>11} {:>11}", "stream", "frames", "people/frame", "fps", "lat p50 ms", "lat p99 ms", "mean batch");
    let mut total_frames = 0;
    let mut all_latencies = Vec::new();
    for (i, summary) in summaries.iter().enumerate() {
        let mut s = summary.lock().unwrap();
        s.latencies.sort();
        let frames = s.frames.max(1) as f64;
        println!(
            "{:<8} {:>7} {:>14.2} {:>7.2} {:>11.1} {:>11.1} {:>11.2}",
            format!("cam0{}", i + 1),
            s.frames,
            s.people as f64 / frames,
            s.frames as f64 / wall.as_secs_f64(),
            percentile(&s.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&s.latencies, 0.99).as_secs_f64() * 1e3,
            s.batch_sizes as f64 / frames,
        );
        total_frames += s.frames;
        all_latencies.extend(s.latencies.iter().copied());
    }
    all_latencies.sort();
    println!(
        "{:<8} {:>7} {:>14} {:>7.2} {:>11.1} {:>11.1}",
        "all",
        total_frames,
        "",
        total_frames as f64 / wall.as_secs_f64(),
        percentile(&all_latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&all_latencies, 0.99).as_secs_f64() * 1e3,
    );
    let provider = stats.get::<String>("provider").unwrap_or_default();
    println!(
        "\n{} frames in {:.1} s, provider {} ({} cores); {} batches; poses in {}/cam0N.ndjson",
        total_frames,
        wall.as_secs_f64(),
        provider,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        stats.get::<u64>("batches").unwrap_or(0),
        out.display()
    );
    Ok(())
}
