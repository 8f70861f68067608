//! The metrics endpoint (`metrics-address`): scraped during four live streams, it parses as
//! Prometheus text and as OpenMetrics (Python's `prometheus_client` parsers, from the test
//! venv `make setup` installs), names each stream in its labels, and its counters only
//! rise; two elements share one address; a busy port is an element error at READY.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use gst::prelude::*;
use serde_json::Value;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET /metrics`: the body, and its Content-Type.
fn scrape(address: &str, accept: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(address).expect("the endpoint listens");
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {address}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let content_type = head.lines().find_map(|l| l.strip_prefix("content-type: ")).unwrap_or_default().to_string();
    (body.to_string(), content_type)
}

/// Every sample of a scrape, as parsed by `prometheus_client` (the Prometheus text parser,
/// or the OpenMetrics one): [name, labels, value].
fn parsed(body: &str, openmetrics: bool) -> Vec<(String, serde_json::Map<String, Value>, f64)> {
    let python = gstposebatch::install_paths::data_dir().join("remote-venv/bin/python");
    assert!(python.is_file(), "{} missing: run `make setup`", python.display());
    let parser = if openmetrics { "prometheus_client.openmetrics.parser" } else { "prometheus_client.parser" };
    let script = format!(
        "import json, sys\nfrom {parser} import text_string_to_metric_families\n\
         print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))"
    );
    let mut child = Command::new(python).args(["-c", &script]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the scrape does not parse: {}\n{body}", String::from_utf8_lossy(&out.stderr));
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    samples
        .into_iter()
        .map(|s| (s[0].as_str().unwrap().to_string(), s[1].as_object().unwrap().clone(), s[2].as_f64().unwrap()))
        .collect()
}

fn frames_out(samples: &[(String, serde_json::Map<String, Value>, f64)], stream: &str) -> f64 {
    samples
        .iter()
        .find(|(name, labels, _)| name == "posebatch_frames_out_total" && labels["stream"] == stream && labels["element"] == "p")
        .map(|s| s.2)
        .unwrap_or_else(|| panic!("a frames-out series for stream {stream}"))
}

fn live_streams(address: &str, streams: usize, name: &str) -> gst::Pipeline {
    let mut launch = format!(
        "posebatch name={name} model={{model}} execution-provider=cpu input-size=160 metrics-address={address} latency-budget=500000000"
    );
    for i in 0..streams {
        launch += &format!(
            " videotestsrc is-live=true pattern=ball ! video/x-raw,format=NV12,width=320,height=240,framerate=10/1 ! {name}.sink_{i} {name}.src_{i} ! fakesink sync=false"
        );
    }
    common::pipeline(&launch)
}

fn wait_for_frames(address: &str, at_least: f64) -> Vec<(String, serde_json::Map<String, Value>, f64)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let samples = parsed(&scrape(address, "text/plain").0, false);
        if (0..4).all(|i| frames_out(&samples, &i.to_string()) >= at_least) || std::time::Instant::now() > deadline {
            return samples;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_scrape_during_four_live_streams_parses_names_each_stream_and_only_rises() {
    let address = format!("127.0.0.1:{}", free_port());
    let pipeline = live_streams(&address, 4, "p");
    pipeline.set_state(gst::State::Playing).unwrap();
    let first = wait_for_frames(&address, 2.0);
    let later = wait_for_frames(&address, first.iter().filter(|s| s.0 == "posebatch_frames_out_total").map(|s| s.2).fold(0.0, f64::max) + 2.0);
    let (openmetrics, content_type) = scrape(&address, "application/openmetrics-text; version=1.0.0");
    pipeline.set_state(gst::State::Null).unwrap();

    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let om = parsed(&openmetrics, true);
    for i in 0..4 {
        let stream = i.to_string();
        assert!(frames_out(&later, &stream) > frames_out(&first, &stream), "stream {i}'s frames-out rises between scrapes");
        assert!(frames_out(&om, &stream) >= frames_out(&later, &stream), "OpenMetrics too");
        for name in ["posebatch_frames_in_total", "posebatch_frames_queued", "posebatch_stream_paused", "posebatch_end_to_end_latency_seconds_count"] {
            assert!(later.iter().any(|(n, l, _)| n == name && l["stream"] == stream.as_str()), "{name} for stream {i}");
        }
    }
    for name in ["posebatch_batches_total", "posebatch_inference_latency_seconds_bucket", "posebatch_peak_rss_bytes"] {
        assert!(later.iter().any(|(n, l, _)| n == name && l["element"] == "p"), "{name}");
    }
    assert!(later.iter().any(|(n, l, v)| n == "posebatch_provider" && l["provider"] == "cpu" && *v == 1.0));
    // Every counter (and histogram count) is at least what it was.
    for (name, labels, value) in first.iter().filter(|(n, ..)| n.ends_with("_total") || n.ends_with("_count") || n.ends_with("_bucket")) {
        let now = later.iter().find(|(n, l, _)| n == name && l == labels).map(|s| s.2).unwrap_or(-1.0);
        assert!(now >= *value, "{name} {labels:?} went from {value} to {now}");
    }
    assert!(std::net::TcpStream::connect(&address).is_err(), "the endpoint closes with the element");
}

#[test]
fn two_elements_share_an_address_and_a_busy_port_is_an_error() {
    let address = format!("127.0.0.1:{}", free_port());
    let one = live_streams(&address, 4, "p");
    let two = live_streams(&address, 1, "q");
    one.set_state(gst::State::Playing).unwrap();
    two.set_state(gst::State::Playing).unwrap();
    let samples = wait_for_frames(&address, 1.0);
    assert!(samples.iter().any(|(n, l, _)| n == "posebatch_frames_out_total" && l["element"] == "q"), "both elements on one endpoint");
    one.set_state(gst::State::Null).unwrap();
    assert!(scrape(&address, "text/plain").0.contains("element=\"q\""), "still served for the element left");
    two.set_state(gst::State::Null).unwrap();

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let pb = common::posebatch();
    pb.set_property("metrics-address", &busy);
    let bus = gst::Bus::new();
    pb.set_bus(Some(&bus));
    assert!(pb.set_state(gst::State::Ready).is_err(), "READY fails");
    let error = std::iter::from_fn(|| bus.pop()).find_map(|m| match m.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    });
    let error = error.expect("an element error");
    assert!(error.contains("metrics-address") && error.contains(&busy), "{error}");
    pb.set_property("metrics-address", "");
    assert!(pb.set_state(gst::State::Ready).is_ok(), "and the element works without it");
    pb.set_state(gst::State::Null).unwrap();
}
