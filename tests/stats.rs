//! Measurement: the stats property, the periodic posebatch-stats message, and the
//! benchmark tool end to end.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;

#[test]
fn stats_are_posted_every_interval_with_sane_values() {
    common::init();
    let pipeline = common::pipeline(
        "videotestsrc is-live=true ! video/x-raw,format=RGB,width=320,height=240,framerate=10/1 \
         ! posebatch name=p model={model} execution-provider=cpu input-size=320 stats-interval=300000000 ! fakesink sync=false",
    );
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut posted = Vec::new();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50))
            && let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure()
            && s.name() == "posebatch-stats"
        {
            posted.push((Instant::now(), s.to_owned()));
        }
    }
    let property = pipeline.by_name("p").unwrap().property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();

    assert!(posted.len() >= 6, "about one message every 300 ms in 3 s: {}", posted.len());
    let out: Vec<u64> = posted.iter().map(|(_, s)| s.get::<u64>("frames-out").unwrap()).collect();
    assert!(out.windows(2).all(|w| w[0] <= w[1]) && out.last() > out.first(), "{out:?}");
    let u = |s: &gst::StructureRef, f: &str| s.get::<u64>(f).unwrap_or_else(|_| panic!("{f} in {s}"));
    let s = &property;
    assert!(0 < u(s, "e2e-latency-p50") && u(s, "e2e-latency-p50") <= u(s, "e2e-latency-p99"));
    assert!(u(s, "e2e-latency-p99") <= u(s, "e2e-latency-max"));
    assert!(u(s, "inference-latency-p50") > 0);
    assert!(u(s, "peak-rss") > 10_000_000);
    assert!(s.get::<f64>("mean-batch-size").unwrap() >= 1.0);
    assert_eq!(s.get::<String>("inference-clock").unwrap(), "wall");
    let fps = s.get::<f64>("fps").unwrap();
    assert!((6.0..=14.0).contains(&fps), "a 10 fps live source: {fps}");
    let s0 = s.get::<gst::Structure>("stream-0").unwrap();
    assert!(u(&s0, "capture-latency-p50") > 0, "live stream has capture latency: {s0}");
    assert!(!s.has_field("gpu-memory-used"), "no GPU here");
}

#[test]
fn benchmark_prints_criteria_and_writes_json_and_a_sweep_plot() {
    common::init();
    let bin = common::plugin_dir().join("examples/benchmark");
    assert!(bin.is_file(), "build the examples first: cargo build --release --examples (make test does)");
    let dir = std::env::temp_dir().join(format!("posebatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, png) = (dir.join("bench.json"), dir.join("sweep.png"));
    let output = Command::new(&bin)
        .args(["--synthetic", "--num-streams", "2", "--width", "320", "--height", "240", "--fps", "10"])
        .args(["--input-size", "320", "--duration", "2", "--baseline", "--sweep", "1,2", "--provider", "cpu"])
        .arg("--json")
        .arg(&json)
        .arg("--plot")
        .arg(&png)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for line in ["e2e latency p99 < 100 ms", "GPU memory < 11 GB", "every stream at its source rate", "bare model"] {
        assert!(stdout.contains(line), "{line} missing in:\n{stdout}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("PASS ") || l.starts_with("FAIL ")));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["measurement"]["num_streams"], 2);
    assert!(report["measurement"]["fps"].as_f64().unwrap() > 0.0);
    assert!(report["ratio_to_baseline"].as_f64().unwrap() > 0.0);
    assert_eq!(report["sweep"].as_array().unwrap().len(), 2);
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    let png_bytes = std::fs::read(&png).unwrap();
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
