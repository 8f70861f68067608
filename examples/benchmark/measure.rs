//! One measurement: N sources through one posebatch into fakesinks, read back from the
//! element's own stats.

use std::time::{Duration, Instant};

use gst::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::Args;

#[derive(Clone, Debug, serde::Serialize)]
pub struct StreamResult {
    pub index: u32,
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped: u64,
    pub passed: u64,
    pub fps: f64,
    pub e2e_p50_ms: f64,
    pub e2e_p99_ms: f64,
    pub e2e_max_ms: f64,
    pub capture_p50_ms: Option<f64>,
    pub capture_p99_ms: Option<f64>,
    pub late: u64,
    pub budget_missed: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Measurement {
    pub num_streams: usize,
    pub seconds: f64,
    pub streams: Vec<StreamResult>,
    /// Output frames per second over all streams (inferred and passed).
    pub fps: f64,
    /// Frames with inference per second over all streams.
    pub inferred_fps: f64,
    pub e2e_mean_ms: f64,
    pub e2e_p99_ms: f64,
    pub inference_mean_ms: f64,
    pub inference_p99_ms: f64,
    pub inference_clock: String,
    /// Letterbox per batch: CPU wall time, or GPU upload + letterbox (CUDA events).
    pub preprocess_p99_ms: f64,
    /// The letterbox's share of a batch: its mean over the batch's mean (letterbox + inference).
    pub preprocess_share: f64,
    /// Letterbox wall time per frame (a batch's frames are letterboxed over the cores at once).
    pub preprocess_frame_ms: f64,
    /// Smoothing's cost per person smoothed, µs; None with smoothing off.
    pub smoothing_person_us: Option<f64>,
    pub mean_batch_size: f64,
    pub drop_percent: f64,
    pub provider: String,
    /// Where frames are letterboxed: "gpu" or "cpu".
    pub preprocessing: String,
    pub peak_rss_mb: f64,
    pub gpu_memory_peak_mb: Option<f64>,
    pub gpu_process_memory_peak_mb: Option<f64>,
    /// The latency budget the element worked to (ms); None when off.
    pub latency_budget_ms: Option<f64>,
    /// Capture-to-sink latency p99 (pipeline clock at the sink minus the buffer's running
    /// time; live sources) in each third of the run: flat when latency is bounded.
    pub capture_p99_by_third_ms: Option<[f64; 3]>,
}

/// Capture-to-sink latency of every buffer reaching a sink: (seconds into the run, ns).
type Samples = std::sync::Arc<std::sync::Mutex<Vec<(f64, u64)>>>;

/// Records each buffer's capture-to-sink latency at `sink`'s pad.
fn record_capture_latency(pipeline: &gst::Pipeline, sink: &gst::Element, start: Instant, samples: Samples) {
    let pipeline = pipeline.downgrade();
    sink.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let (Some(gst::PadProbeData::Buffer(buffer)), Some(pipeline)) = (&info.data, pipeline.upgrade()) else {
            return gst::PadProbeReturn::Ok;
        };
        let segment = pad.sticky_event::<gst::event::Segment>(0).and_then(|e| e.segment().clone().downcast::<gst::ClockTime>().ok());
        let running = buffer.pts().and_then(|pts| segment?.to_running_time(pts));
        let now = pipeline.clock().map(|c| c.time()).zip(pipeline.base_time()).and_then(|(t, b)| t.checked_sub(b));
        if let (Some(running), Some(now)) = (running, now) {
            samples.lock().unwrap().push((start.elapsed().as_secs_f64(), now.nseconds().saturating_sub(running.nseconds())));
        }
        gst::PadProbeReturn::Ok
    });
}

/// p99 of the samples in each third of `seconds`.
fn p99_by_third(samples: &[(f64, u64)], seconds: f64) -> Option<[f64; 3]> {
    let third = |k: f64| {
        let mut v: Vec<u64> = samples.iter().filter(|(t, _)| *t >= k * seconds / 3.0 && *t < (k + 1.0) * seconds / 3.0).map(|s| s.1).collect();
        v.sort_unstable();
        v.get(((v.len() as f64 - 1.0) * 0.99).round() as usize).map(|ns| *ns as f64 / 1e6)
    };
    Some([third(0.0)?, third(1.0)?, third(2.0)?])
}

fn ms(s: &gst::StructureRef, field: &str) -> f64 {
    s.get::<u64>(field).unwrap_or(0) as f64 / 1e6
}

fn source(args: &Args, i: usize) -> String {
    let limit = args.frames.map_or(String::new(), |n| format!("num-buffers={n}"));
    if args.videos.is_empty() && args.fakesrc {
        // A fresh NV12 buffer of zeros every frame, timestamped at the rate (fakesrc stamps
        // by bytes per second), live and paced by the clock when asked.
        let (w, h) = (args.width as u64, args.height as u64);
        let bytes = w * h + 2 * w.div_ceil(2) * h.div_ceil(2);
        return format!(
            "fakesrc {limit} sizetype=fixed sizemax={bytes} filltype=zero format=time datarate={} is-live={live} sync={live} \
             ! video/x-raw,format=NV12,width={w},height={h},framerate={}/1",
            bytes * args.fps as u64,
            args.fps,
            live = args.live,
        );
    }
    if args.videos.is_empty() && args.drawn {
        // Every frame drawn: the sources compete with inference for the CPU.
        format!(
            "videotestsrc is-live={} pattern=ball {limit} ! video/x-raw,format=NV12,width={w},height={h},framerate={}/1",
            args.live,
            args.fps,
            w = args.width,
            h = args.height,
        )
    } else if args.videos.is_empty() {
        // One rendered frame repeated by imagefreeze: a camera-like source that costs
        // nothing, so the CPU measures posebatch rather than videotestsrc's drawing.
        format!(
            "videotestsrc pattern=ball num-buffers=1 ! video/x-raw,format=NV12,width={w},height={h} \
             ! imagefreeze is-live={} {limit} ! video/x-raw,framerate={}/1",
            args.live,
            args.fps,
            w = args.width,
            h = args.height,
        )
    } else {
        let video = &args.videos[i % args.videos.len()];
        format!(
            // The decoder gives I420, which posebatch reads as it is: no conversion pass.
            "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format={{I420,NV12}}",
            video.display()
        )
    }
}

pub fn run(args: &Args, num_streams: usize, quiet: bool) -> Result<Measurement, String> {
    let mut launch = format!(
        "posebatch name=p max-batch-size={} batch-timeout={} input-size={} input-shape={} execution-provider={} precision={} overflow={} threads={} tracking={} smoothing={} stats-interval=0",
        args.batch_size,
        args.batch_timeout_ms * 1_000_000,
        args.input_size,
        args.input_shape,
        args.provider,
        args.precision,
        args.overflow,
        args.threads,
        args.tracking,
        args.smoothing
    );
    if let Some(server) = &args.inference_server {
        launch += &format!(" inference-server={server} remote-model={}", args.remote_model);
    }
    if let Some(ms) = args.latency_budget_ms {
        launch += &format!(" latency-budget={}", ms * 1_000_000);
    }
    for i in 0..num_streams {
        launch += &format!(" {} ! p.sink_{i} p.src_{i} ! fakesink name=out{i} sync=false", source(args, i));
    }
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let pb = pipeline.by_name("p").ok_or("no posebatch")?;
    let bus = pipeline.bus().unwrap();
    let samples = Samples::default();
    let run_start = Instant::now();
    if args.source_rate().is_some() {
        for i in 0..num_streams {
            let sink = pipeline.by_name(&format!("out{i}")).ok_or("no sink")?;
            record_capture_latency(&pipeline, &sink, run_start, samples.clone());
        }
    }
    pipeline.set_state(gst::State::Playing).map_err(|e| format!("could not start: {e}"))?;

    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new((args.duration_s * 10.0) as u64) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {msg}").unwrap_or(ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(args.duration_s);
    let mut error = None;
    while args.frames.is_some() || Instant::now() < until {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => {
                    error = Some(format!("{} ({:?})", e.error(), e.debug()));
                    break;
                }
                gst::MessageView::Warning(w) if !quiet => bar.println(format!("warning: {}", w.error())),
                _ => {}
            }
        }
        let stats = pb.property::<gst::Structure>("stats");
        bar.set_position((start.elapsed().as_secs_f64() * 10.0) as u64);
        bar.set_message(format!(
            "{} streams, {} frames out, {:.1} fps",
            num_streams,
            stats.get::<u64>("frames-out").unwrap_or(0),
            stats.get::<f64>("fps").unwrap_or(0.0)
        ));
    }
    let seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let stats = pb.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).map_err(|e| e.to_string())?;
    if let Some(e) = error {
        return Err(e);
    }

    let streams: Vec<StreamResult> = (0..num_streams)
        .filter_map(|i| stats.get::<gst::Structure>(format!("stream-{i}").as_str()).ok())
        .map(|s| StreamResult {
            index: s.get("index").unwrap_or(0),
            frames_in: s.get("frames-in").unwrap_or(0),
            frames_out: s.get("frames-out").unwrap_or(0),
            dropped: s.get("dropped").unwrap_or(0),
            passed: s.get("passed").unwrap_or(0),
            fps: s.get("fps").unwrap_or(0.0),
            e2e_p50_ms: ms(&s, "e2e-latency-p50"),
            e2e_p99_ms: ms(&s, "e2e-latency-p99"),
            e2e_max_ms: ms(&s, "e2e-latency-max"),
            capture_p50_ms: s.has_field("capture-latency-p50").then(|| ms(&s, "capture-latency-p50")),
            capture_p99_ms: s.has_field("capture-latency-p99").then(|| ms(&s, "capture-latency-p99")),
            late: s.get("late").unwrap_or(0),
            budget_missed: s.get("budget-missed").unwrap_or(0),
        })
        .collect();
    let total_in: u64 = streams.iter().map(|s| s.frames_in).sum();
    let total_dropped: u64 = streams.iter().map(|s| s.dropped).sum();
    let inferred: u64 = streams.iter().map(|s| s.frames_out - s.passed).sum();
    let fps: f64 = streams.iter().map(|s| s.fps).sum();
    let out: u64 = streams.iter().map(|s| s.frames_out).sum();
    let mb = |field: &str| stats.get::<u64>(field).ok().map(|b| b as f64 / 1e6);
    Ok(Measurement {
        num_streams,
        seconds,
        fps,
        inferred_fps: if out == 0 { 0.0 } else { fps * inferred as f64 / out as f64 },
        e2e_mean_ms: stats.get::<f64>("e2e-latency-mean").unwrap_or(0.0) / 1e6,
        e2e_p99_ms: ms(&stats, "e2e-latency-p99"),
        inference_mean_ms: stats.get::<f64>("inference-latency-mean").unwrap_or(0.0) / 1e6,
        inference_p99_ms: ms(&stats, "inference-latency-p99"),
        inference_clock: stats.get::<String>("inference-clock").unwrap_or_default(),
        preprocess_p99_ms: ms(&stats, "preprocess-latency-p99"),
        preprocess_share: {
            let pre = stats.get::<f64>("preprocess-latency-mean").unwrap_or(0.0);
            let inference = stats.get::<f64>("inference-latency-mean").unwrap_or(0.0);
            if pre + inference > 0.0 { pre / (pre + inference) } else { 0.0 }
        },
        preprocess_frame_ms: stats.get::<f64>("preprocess-frame-mean").unwrap_or(0.0) / 1e6,
        smoothing_person_us: stats.get::<f64>("smoothing-person-mean").ok().map(|ns| ns / 1e3),
        mean_batch_size: stats.get("mean-batch-size").unwrap_or(0.0),
        drop_percent: if total_in == 0 { 0.0 } else { 100.0 * total_dropped as f64 / total_in as f64 },
        provider: stats.get::<String>("provider").unwrap_or_default(),
        preprocessing: stats.get::<String>("preprocessing").unwrap_or_default(),
        peak_rss_mb: stats.get::<u64>("peak-rss").unwrap_or(0) as f64 / 1e6,
        gpu_memory_peak_mb: mb("gpu-memory-peak"),
        gpu_process_memory_peak_mb: mb("gpu-process-memory-peak"),
        latency_budget_ms: stats.get::<u64>("latency-budget").ok().filter(|ns| *ns > 0).map(|ns| ns as f64 / 1e6),
        capture_p99_by_third_ms: p99_by_third(&samples.lock().unwrap(), run_start.elapsed().as_secs_f64()),
        streams,
    })
}
