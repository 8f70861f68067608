//! The soak run (`make soak`, `scripts/soak.sh`): four live streams of the project's cameras
//! through one posebatch with a latency budget and tracking, for SOAK_MINUTES (60), while
//! streams are paused and resumed, a fifth stream is requested and released every few
//! minutes, and (when set up) the inference server is killed and started again once.
//! Each minute it writes RSS, each stream's frame rate, capture-to-sink p99, drops and IDs
//! given out, and GPU memory where there is one, to `soak.csv`; at the end it draws
//! `soak.png` and fails (exit 1) if:
//! - RSS grew by more than 20 MB after the first minutes (5 of 60, a fifth of shorter runs:
//!   3 of 15, at least one),
//! - the p99 capture-to-sink latency of the last sixth of the run (minutes 50-60; at least
//!   the last minute) is more than 25 % above that of the minutes from there to a quarter of
//!   the run (minutes 5-15; at least one minute),
//! - or any error reached the bus.
//!
//! Each minute it also scrapes the element's metrics endpoint; a scrape that fails counts
//! as an error.
//!
//! Environment: SOAK_MINUTES (60), SOAK_OUT (out/soak), SOAK_INFERENCE_SERVER (HOST:PORT:
//! run the model there), SOAK_SERVER_KILL and SOAK_SERVER_START (shell commands run at half
//! time to kill and restart that server), SOAK_METRICS (HOST:PORT for metrics-address; a
//! free port on 127.0.0.1 if unset).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstposebatch::meta::PoseMeta;

#[path = "benchmark/font.rs"]
mod font;

/// Frames of the four cameras (every other one, half size: 50 a camera), in memory.
const CAMERA_FPS: u64 = 15;
const LATENCY_BUDGET_MS: u64 = 500;

/// What the sinks saw during the current minute, per stream.
#[derive(Default, Clone)]
struct Seen {
    frames: u64,
    /// Capture-to-sink latency of each frame, ns.
    latencies: Vec<u64>,
    most_id: u64,
}

type Observed = Arc<Mutex<BTreeMap<u32, Seen>>>;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn camera_frames(cam: usize) -> Vec<gst::Sample> {
    let media = gstposebatch::install_paths::data_dir().join("media/pose2sim-multiperson");
    let launch = format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! videoscale \
         ! video/x-raw,format=NV12,width=544,height=960 ! appsink name=s sync=false",
        media.join(format!("cam0{cam}.mp4")).display()
    );
    let pipeline = gst::parse::launch(&launch).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("s").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let frames: Vec<gst::Sample> = std::iter::from_fn(|| sink.pull_sample().ok()).step_by(2).collect();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(!frames.is_empty(), "no frames from camera {cam}: run `make setup`");
    frames
}

/// A live appsrc playing `frames` back and forth at CAMERA_FPS until `stop`.
fn live_source(frames: Vec<gst::Sample>, stop: Arc<AtomicBool>) -> (gst_app::AppSrc, std::thread::JoinHandle<()>) {
    let src = gst_app::AppSrc::builder()
        .caps(&frames[0].caps().unwrap().to_owned())
        .format(gst::Format::Time)
        .is_live(true)
        .do_timestamp(true)
        .build();
    let pusher = src.clone();
    let thread = std::thread::spawn(move || {
        let order: Vec<usize> = (0..frames.len()).chain((1..frames.len() - 1).rev()).collect();
        let started = Instant::now();
        for (n, &i) in order.iter().cycle().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let due = Duration::from_nanos(n as u64 * 1_000_000_000 / CAMERA_FPS);
            std::thread::sleep(due.saturating_sub(started.elapsed()));
            let mut buffer = frames[i].buffer_owned().unwrap();
            buffer.make_mut().set_pts(gst::ClockTime::NONE);
            if pusher.push_buffer(buffer).is_err() {
                break;
            }
        }
    });
    (src, thread)
}

/// An appsink that records what reaches it for stream `index`.
fn observing_sink(pipeline: &gst::Pipeline, index: u32, observed: Observed) -> gst_app::AppSink {
    let sink = gst_app::AppSink::builder().sync(false).async_(false).build();
    let pipeline = pipeline.downgrade(); // the pipeline owns the sink: no cycle
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let (Some(buffer), Some(segment)) = (sample.buffer(), sample.segment()) else { return Ok(gst::FlowSuccess::Ok) };
                let latency = (|| {
                    let segment = segment.downcast_ref::<gst::ClockTime>()?;
                    let running = segment.to_running_time(buffer.pts()?)?;
                    let pipeline = pipeline.upgrade()?;
                    let now = pipeline.clock()?.time().checked_sub(pipeline.base_time()?)?;
                    Some(now.nseconds().saturating_sub(running.nseconds()))
                })();
                let mut observed = observed.lock().unwrap();
                let seen = observed.entry(index).or_default();
                seen.frames += 1;
                seen.latencies.extend(latency);
                if let Some(meta) = PoseMeta::from_buffer(buffer) {
                    seen.most_id = seen.most_id.max(meta.people.iter().map(|p| p.track_id).max().unwrap_or(0));
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    sink
}

fn p99(values: &mut [u64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    values[((values.len() - 1) as f64 * 0.99).round() as usize] as f64 / 1e6
}

fn current_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One minute's row of the CSV.
struct Row {
    minute: u32,
    rss_mb: f64,
    fps: [f64; 4],
    p99_ms: f64,
    latencies: Vec<u64>,
    drops: [u64; 4],
    ids: [u64; 4],
    frames_out: u64,
    gpu_memory_mb: Option<f64>,
}

fn main() {
    let code = match run() {
        Ok(passed) => i32::from(!passed),
        Err(e) => {
            eprintln!("soak: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn run() -> Result<bool, String> {
    gst::init().map_err(|e| e.to_string())?;
    gstposebatch::plugin_register_static().map_err(|e| e.to_string())?;
    let minutes: u32 = env_or("SOAK_MINUTES", 60);
    let out = std::path::PathBuf::from(std::env::var("SOAK_OUT").unwrap_or_else(|_| "out/soak".into()));
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let cameras: Vec<Vec<gst::Sample>> = (1..=4).map(camera_frames).collect();

    let pipeline = gst::Pipeline::new();
    let pb = gst::ElementFactory::make("posebatch")
        .name("soak")
        .property("latency-budget", LATENCY_BUDGET_MS * 1_000_000)
        .property("tracking", true)
        .property("max-batch-size", 4u32)
        .build()
        .map_err(|e| e.to_string())?;
    if let Ok(server) = std::env::var("SOAK_INFERENCE_SERVER") {
        pb.set_property("inference-server", server);
    }
    let metrics = std::env::var("SOAK_METRICS").unwrap_or_else(|_| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(9464, |a| a.port());
        format!("127.0.0.1:{port}")
    });
    pb.set_property("metrics-address", &metrics);
    pipeline.add(&pb).unwrap();
    let observed: Observed = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut pushers = Vec::new();
    for (i, frames) in cameras.iter().enumerate() {
        let (src, thread) = live_source(frames.clone(), stop.clone());
        let sink = observing_sink(&pipeline, i as u32, observed.clone());
        pipeline.add_many([src.upcast_ref::<gst::Element>(), sink.upcast_ref()]).unwrap();
        src.link_pads(None, &pb, Some(&format!("sink_{i}"))).unwrap();
        pb.link_pads(Some(&format!("src_{i}")), &sink, None).unwrap();
        pushers.push(thread);
    }
    pipeline.set_state(gst::State::Playing).map_err(|e| format!("could not start: {e}"))?;
    let bus = pipeline.bus().unwrap();
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut errors = Vec::new();
    let mut fifth: Option<(gst::Pad, gst_app::AppSrc, gst_app::AppSink, Arc<AtomicBool>, std::thread::JoinHandle<()>)> = None;
    let mut server_restarted = false;
    let mut paused: Option<(u32, Instant)> = None;
    let mut last_drops = [0u64; 4];
    let mut tick = 0u64;
    println!("soak: {minutes} min, 4 live streams at {CAMERA_FPS} fps, latency-budget {LATENCY_BUDGET_MS} ms; writing {}", out.display());
    while tick < 60 * minutes as u64 {
        // One tick a second of wall time, reading the bus meanwhile.
        let next = started + Duration::from_secs(tick + 1);
        while let Some(left) = next.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            if let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64))
                && let gst::MessageView::Error(e) = msg.view()
            {
                errors.push(format!("{} ({:?})", e.error(), e.debug()));
            }
        }
        tick += 1;
        let elapsed = started.elapsed().as_secs();
        // Every 20 s pause one stream (in turn) for 5 s.
        match paused {
            Some((index, since)) if since.elapsed() >= Duration::from_secs(5) => {
                pb.emit_by_name::<bool>("resume-stream", &[&index]);
                paused = None;
            }
            None if tick % 20 == 0 => {
                let index = ((tick / 20) % 4) as u32;
                pb.emit_by_name::<bool>("pause-stream", &[&index]);
                paused = Some((index, Instant::now()));
            }
            _ => {}
        }
        // Every 2 minutes a fifth stream for 30 s.
        if fifth.is_none() && elapsed % 120 >= 60 && elapsed % 120 < 90 {
            let fifth_stop = Arc::new(AtomicBool::new(false));
            let (src, thread) = live_source(cameras[0].clone(), fifth_stop.clone());
            let sink = gst_app::AppSink::builder().sync(false).async_(false).build();
            pipeline.add_many([src.upcast_ref::<gst::Element>(), sink.upcast_ref()]).unwrap();
            let sinkpad = pb.request_pad_simple("sink_4").ok_or("sink_4 could not be requested")?;
            src.static_pad("src").unwrap().link(&sinkpad).map_err(|e| e.to_string())?;
            pb.static_pad("src_4").unwrap().link(&sink.static_pad("sink").unwrap()).map_err(|e| e.to_string())?;
            sink.sync_state_with_parent().unwrap();
            src.sync_state_with_parent().unwrap();
            fifth = Some((sinkpad, src, sink, fifth_stop, thread));
        } else if elapsed % 120 >= 90 && let Some((sinkpad, src, sink, fifth_stop, thread)) = fifth.take() {
            fifth_stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
            src.set_state(gst::State::Null).unwrap();
            pb.release_request_pad(&sinkpad);
            sink.set_state(gst::State::Null).unwrap();
            pipeline.remove_many([src.upcast_ref::<gst::Element>(), sink.upcast_ref()]).unwrap();
        }
        // Half time: the inference server killed, and started again 10 s later.
        if !server_restarted && elapsed >= 30 * minutes as u64 {
            if let (Ok(kill), Ok(start)) = (std::env::var("SOAK_SERVER_KILL"), std::env::var("SOAK_SERVER_START")) {
                println!("soak: killing the inference server");
                let _ = std::process::Command::new("sh").arg("-c").arg(&kill).status();
                std::thread::sleep(Duration::from_secs(10));
                let _ = std::process::Command::new("sh").arg("-c").arg(&start).status();
            }
            server_restarted = true;
        }
        if tick % 60 == 0 {
            let minute = (tick / 60) as u32;
            let stats = pb.property::<gst::Structure>("stats");
            let seen = std::mem::take(&mut *observed.lock().unwrap());
            let mut latencies: Vec<u64> = (0..4).flat_map(|i| seen.get(&i).map(|s| s.latencies.clone()).unwrap_or_default()).collect();
            let stream = |i: u32| stats.get::<gst::Structure>(format!("stream-{i}")).ok();
            let drops: [u64; 4] = std::array::from_fn(|i| {
                stream(i as u32).map_or(0, |s| s.get::<u64>("dropped").unwrap_or(0) + s.get::<u64>("late").unwrap_or(0))
            });
            let ids: [u64; 4] = std::array::from_fn(|i| {
                let before = rows.last().map_or(0, |r: &Row| r.ids[i]);
                seen.get(&(i as u32)).map_or(before, |s| s.most_id.max(before))
            });
            let row = Row {
                minute,
                rss_mb: current_rss_mb(),
                fps: std::array::from_fn(|i| seen.get(&(i as u32)).map_or(0.0, |s| s.frames as f64 / 60.0)),
                p99_ms: p99(&mut latencies),
                latencies,
                drops: std::array::from_fn(|i| drops[i] - last_drops[i].min(drops[i])),
                ids,
                frames_out: stats.get::<u64>("frames-out").unwrap_or(0),
                gpu_memory_mb: stats.get::<u64>("gpu-memory-used").ok().map(|b| b as f64 / 1e6),
            };
            last_drops = drops;
            if let Err(why) = scrape(&metrics) {
                errors.push(format!("minute {minute}: the metrics endpoint: {why}"));
            }
            println!(
                "minute {:>3}: RSS {:.1} MB, fps {:.1}/{:.1}/{:.1}/{:.1}, p99 {:.0} ms, IDs {:?}, frames out {}",
                row.minute, row.rss_mb, row.fps[0], row.fps[1], row.fps[2], row.fps[3], row.p99_ms, row.ids, row.frames_out
            );
            rows.push(row);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for p in pushers {
        let _ = p.join();
    }
    if let Some((_, _, _, fifth_stop, thread)) = fifth.take() {
        fifth_stop.store(true, Ordering::Relaxed);
        let _ = thread.join();
    }
    pipeline.set_state(gst::State::Null).map_err(|e| e.to_string())?;
    write_csv(&out.join("soak.csv"), &rows)?;
    plot(&out.join("soak.png"), &rows)?;
    Ok(judge(&rows, &errors, minutes))
}

/// `GET /metrics`: Ok if it answers 200 with a frames-out series.
fn scrape(address: &str) -> Result<(), String> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    if answer.starts_with("HTTP/1.1 200") && answer.contains("posebatch_frames_out_total") {
        Ok(())
    } else {
        Err(format!("unexpected answer: {}", answer.lines().next().unwrap_or_default()))
    }
}

fn write_csv(path: &std::path::Path, rows: &[Row]) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let header = "minute,rss_mb,fps_0,fps_1,fps_2,fps_3,p99_ms,drops_0,drops_1,drops_2,drops_3,ids_0,ids_1,ids_2,ids_3,frames_out,gpu_memory_mb";
    writeln!(f, "{header}").map_err(|e| e.to_string())?;
    for r in rows {
        let gpu = r.gpu_memory_mb.map_or(String::new(), |m| format!("{m:.1}"));
        writeln!(
            f,
            "{},{:.1},{:.2},{:.2},{:.2},{:.2},{:.1},{},{},{},{},{},{},{},{},{},{gpu}",
            r.minute, r.rss_mb, r.fps[0], r.fps[1], r.fps[2], r.fps[3], r.p99_ms, r.drops[0], r.drops[1], r.drops[2], r.drops[3],
            r.ids[0], r.ids[1], r.ids[2], r.ids[3], r.frames_out
        )
        .map_err(|e| e.to_string())?;
    }
    println!("csv: {}", path.display());
    Ok(())
}

fn plot(path: &std::path::Path, rows: &[Row]) -> Result<(), String> {
    use plotters::prelude::*;
    font::register_font()?;
    let root = BitMapBackend::new(path, (1000, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((4, 1));
    let end = rows.last().map_or(1, |r| r.minute).max(1);
    let series: [(&str, Vec<(u32, f64)>, &RGBColor); 4] = [
        ("RSS, MB", rows.iter().map(|r| (r.minute, r.rss_mb)).collect(), &BLUE),
        ("capture-to-sink p99, ms", rows.iter().map(|r| (r.minute, r.p99_ms)).collect(), &RED),
        ("frames/s, four streams", rows.iter().map(|r| (r.minute, r.fps.iter().sum())).collect(), &GREEN),
        ("track IDs given out, four streams", rows.iter().map(|r| (r.minute, r.ids.iter().sum::<u64>() as f64)).collect(), &BLACK),
    ];
    for (panel, (title, points, colour)) in panels.iter().zip(series) {
        let top = points.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(55)
            .build_cartesian_2d(0u32..end, 0.0..top)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("minute").draw().map_err(|e| e.to_string())?;
        chart.draw_series(LineSeries::new(points, colour)).map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    println!("plot: {}", path.display());
    Ok(())
}

/// The pass/fail rules of the module doc; prints each.
fn judge(rows: &[Row], errors: &[String], minutes: u32) -> bool {
    let settle = (minutes / 5).clamp(1, 5);
    let rss_at = |m: u32| rows.iter().find(|r| r.minute == m).map(|r| r.rss_mb);
    let growth = match (rss_at(settle), rows.last()) {
        (Some(start), Some(last)) => last.rss_mb - start,
        _ => f64::NAN,
    };
    let window = |from: f64, to: f64| {
        let mut all: Vec<u64> = rows
            .iter()
            .filter(|r| (r.minute as f64) > from && (r.minute as f64) <= to)
            .flat_map(|r| r.latencies.iter().copied())
            .collect();
        p99(&mut all)
    };
    let m = minutes as f64;
    let (early_end, late_start) = ((m / 4.0).max(settle as f64 + 1.0), m - (m / 6.0).max(1.0));
    let (early, late) = (window(settle as f64, early_end), window(late_start, m));
    let rss_ok = growth <= 20.0;
    let p99_ok = late <= early * 1.25;
    println!("\nsoak over {} minutes:", rows.len());
    println!("  RSS growth after minute {settle}: {growth:+.1} MB (at most 20): {}", if rss_ok { "PASS" } else { "FAIL" });
    println!(
        "  p99 capture-to-sink: {late:.0} ms in minutes {late_start:.1}-{m:.0}, {early:.0} ms in minutes {settle}-{early_end:.1} (at most +25 %): {}",
        if p99_ok { "PASS" } else { "FAIL" }
    );
    println!("  errors on the bus: {} {}", errors.len(), if errors.is_empty() { "PASS" } else { "FAIL" });
    for e in errors {
        println!("    {e}");
    }
    rss_ok && p99_ok && errors.is_empty()
}
