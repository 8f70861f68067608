//! Element behaviour: pad pairs, pass-through, event order, EOS, flush, caps changes and
//! every pixel format, on real frames with the real model.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstposebatch::geometry::iou;
use gst_check::Harness;
use gstposebatch::meta::PoseMeta;

fn first_frame(format: &str) -> gst::Sample {
    common::decode_frames(&common::camera(1), format, &[0]).remove(0)
}

fn harness(pb: &gst::Element, index: u32) -> Harness {
    Harness::with_element(pb, Some(&format!("sink_{index}")), Some(&format!("src_{index}")))
}

fn block_mode(pb: &gst::Element) {
    pb.set_property_from_str("overflow", "block");
}

/// Records what leaves a pad, in order: "buffer" or the event's type name.
fn record(pad: &gst::Pad) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    pad.add_probe(gst::PadProbeType::DATA_DOWNSTREAM, move |_, info| {
        let item = match &info.data {
            Some(gst::PadProbeData::Buffer(_)) => "buffer".to_string(),
            Some(gst::PadProbeData::Event(e)) => e.type_().name().to_string(),
            _ => "other".to_string(),
        };
        s.lock().unwrap().push(item);
        gst::PadProbeReturn::Ok
    });
    seen
}

/// Two harnessed streams of one posebatch in block mode with a 20 s batch timeout, and a
/// real frame to push.
fn two_streams_with_a_long_timeout() -> (gst::Element, Harness, Harness, gst::Sample) {
    common::init();
    let pb = common::posebatch();
    block_mode(&pb);
    pb.set_property("batch-timeout", 20_000_000_000u64);
    let mut h0 = harness(&pb, 0);
    let mut h1 = harness(&pb, 1);
    let sample = first_frame("RGB");
    for h in [&mut h0, &mut h1] {
        h.set_src_caps(sample.caps().unwrap().to_owned());
        h.play();
    }
    (pb, h0, h1, sample)
}

#[test]
fn sink_pad_requests_create_and_release_matching_source_pads() {
    common::init();
    let pb = common::posebatch();
    let s0 = pb.request_pad_simple("sink_%u").unwrap();
    let s1 = pb.request_pad_simple("sink_%u").unwrap();
    assert_eq!((s0.name().as_str(), s1.name().as_str()), ("sink_0", "sink_1"));
    assert!(pb.static_pad("src_0").is_some() && pb.static_pad("src_1").is_some());
    pb.release_request_pad(&s1);
    assert!(pb.static_pad("src_1").is_none() && pb.static_pad("sink_1").is_none());
    let s5 = pb.request_pad_simple("sink_5").unwrap();
    assert_eq!(s5.name(), "sink_5");
    assert!(pb.static_pad("src_5").is_some());
    assert_eq!(s5.property::<i32>("priority"), 0);
    assert!(!s5.property::<bool>("paused"));
}

#[test]
fn frames_pass_through_untouched_with_posemeta() {
    common::init();
    let pb = common::posebatch();
    block_mode(&pb);
    let mut h = harness(&pb, 0);
    let sample = first_frame("RGB");
    h.set_src_caps(sample.caps().unwrap().to_owned());
    h.play();
    let buffer = sample.buffer_owned().unwrap();
    let in_data = buffer.map_readable().unwrap().as_ptr();
    let in_bytes = buffer.map_readable().unwrap().to_vec();
    h.push(buffer.clone()).unwrap();
    let out = h.pull().unwrap();
    let out_map = out.map_readable().unwrap();
    assert_eq!(out_map.as_ptr(), in_data, "same memory: no pixel copy");
    assert_eq!(out_map.as_slice(), &in_bytes[..], "pixels unchanged");
    assert_eq!(out.pts(), buffer.pts());
    let meta = PoseMeta::from_buffer(&out).expect("PoseMeta attached");
    assert_eq!((meta.width, meta.height, meta.stream_index, meta.batch_size), (1088, 1920, 0, 1));
    assert!(!meta.people.is_empty(), "people found in a real camera frame");
    assert!(meta.inference_ns > 0);
}

#[test]
fn events_reach_the_source_pad_in_order_with_buffers() {
    common::init();
    let pb = common::posebatch();
    block_mode(&pb);
    let mut h = harness(&pb, 0);
    let seen = record(&pb.static_pad("src_0").unwrap());
    let sample = first_frame("RGB");
    h.set_src_caps(sample.caps().unwrap().to_owned());
    h.play();
    let buffer = sample.buffer_owned().unwrap();
    h.push(buffer.clone()).unwrap();
    h.push_event(gst::event::CustomDownstream::new(gst::Structure::new_empty("marker")));
    h.push(buffer).unwrap();
    h.push_event(gst::event::Eos::new());
    let _ = h.pull().unwrap();
    let _ = h.pull().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.lock().unwrap().iter().any(|e| e == "eos") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["stream-start", "caps", "segment", "buffer", "custom-downstream", "buffer", "eos"],
    );
}

#[test]
fn a_stream_at_eos_does_not_stall_the_others_and_all_streams_end() {
    // With a long timeout, a batch that waited for the finished stream would be obvious.
    let (_pb, mut h0, mut h1, sample) = two_streams_with_a_long_timeout();
    h0.push_event(gst::event::Eos::new());
    let start = Instant::now();
    h1.push(sample.buffer_owned().unwrap()).unwrap();
    let out = h1.pull().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10), "stream 1 waited {:?}", start.elapsed());
    assert_eq!(PoseMeta::from_buffer(&out).unwrap().batch_size, 1);
    h1.push_event(gst::event::Eos::new());
    for h in [&mut h0, &mut h1] {
        let mut got_eos = false;
        while let Some(event) = h.try_pull_event() {
            got_eos |= event.type_() == gst::EventType::Eos;
        }
        if !got_eos {
            got_eos = h.pull_event().is_ok_and(|e| e.type_() == gst::EventType::Eos);
        }
        assert!(got_eos, "every source pad sends EOS");
    }
}

#[test]
fn flush_drops_queued_frames_and_the_stream_goes_on() {
    let (pb, mut h0, mut h1, sample) = two_streams_with_a_long_timeout();
    let mut stale = sample.buffer_owned().unwrap();
    stale.make_mut().set_pts(gst::ClockTime::from_seconds(100));
    // Stream 0's frame waits for stream 1, which has none yet: then it is flushed away.
    h0.push(stale).unwrap();
    assert!(h0.push_event(gst::event::FlushStart::new()));
    assert!(h0.push_event(gst::event::FlushStop::new(true)));
    h0.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
    let fresh = sample.buffer_owned().unwrap();
    h0.push(fresh.clone()).unwrap();
    h1.push(sample.buffer_owned().unwrap()).unwrap();
    let out = h0.pull().unwrap();
    assert_eq!(out.pts(), fresh.pts(), "only the frame after the flush comes out");
    let _ = h1.pull().unwrap();
    let stats = pb.property::<gst::Structure>("stats");
    let s0 = stats.get::<gst::Structure>("stream-0").unwrap();
    assert_eq!(s0.get::<u64>("frames-in").unwrap(), 2);
    assert_eq!(s0.get::<u64>("frames-out").unwrap(), 1);
    assert_eq!(s0.get::<u64>("dropped").unwrap(), 1);
    let mut types = Vec::new();
    while let Some(e) = h0.try_pull_event() {
        types.push(e.type_());
    }
    assert!(types.contains(&gst::EventType::FlushStart) && types.contains(&gst::EventType::FlushStop));
}

#[test]
fn caps_change_mid_stream_and_every_format_find_the_same_people() {
    common::init();
    let pb = common::posebatch();
    block_mode(&pb);
    let mut h = harness(&pb, 0);
    let reference = first_frame("RGB");
    h.set_src_caps(reference.caps().unwrap().to_owned());
    h.play();
    h.push(reference.buffer_owned().unwrap()).unwrap();
    let rgb = PoseMeta::from_buffer(&h.pull().unwrap()).unwrap();
    assert!(rgb.people.len() >= 2);

    // Half size: the same people, coordinates in the new frame's pixels.
    let half = common::decode_frames_with(
        &common::camera(1),
        "videoscale ! video/x-raw,format=RGB,width=544,height=960",
        &[0],
    )
    .remove(0);
    let mut formats: Vec<(String, gst::Sample)> = vec![("RGB 544x960".into(), half)];
    for format in ["RGBA", "BGRx", "BGRA", "RGBx", "BGR", "NV12", "I420"] {
        formats.push((format.into(), first_frame(format)));
    }
    for (name, sample) in formats {
        h.push_event(gst::event::Caps::new(&sample.caps().unwrap().to_owned()));
        h.push(sample.buffer_owned().unwrap()).unwrap();
        let meta = PoseMeta::from_buffer(&h.pull().unwrap()).unwrap();
        let scale = 1088.0 / meta.width as f32;
        assert_eq!(meta.people.len(), rgb.people.len(), "{name}: people count");
        for person in &rgb.people {
            let best = meta
                .people
                .iter()
                .map(|p| iou(&p.bbox.map(|v| v * scale), &person.bbox))
                .fold(0.0f32, f32::max);
            assert!(best > 0.9, "{name}: person {:?} found again (IoU {best:.3})", person.bbox);
        }
    }
}

/// Runs a live 30 fps source (faster than CPU inference) for a while with `overflow`,
/// returns the stats of stream 0 and the counts of output buffers with and without meta.
fn run_overflow(overflow: &str, live: bool) -> (gst::Structure, usize, usize) {
    common::init();
    let pipeline = common::pipeline(&format!(
        "videotestsrc is-live={live} num-buffers=60 pattern=ball ! video/x-raw,format=RGB,width=320,height=240,framerate=30/1 \
         ! posebatch name=p model={{model}} execution-provider=cpu overflow={overflow} ! fakesink name=sink sync=false"
    ));
    let counts = Arc::new(Mutex::new((0usize, 0usize)));
    let c = counts.clone();
    let sinkpad = pipeline.by_name("sink").unwrap().static_pad("sink").unwrap();
    sinkpad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
            let mut c = c.lock().unwrap();
            if PoseMeta::from_buffer(b).is_some() { c.0 += 1 } else { c.1 += 1 }
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    common::run_to_eos(&pipeline, 120).unwrap();
    let stats = pipeline.by_name("p").unwrap().property::<gst::Structure>("stats");
    let (with, without) = *counts.lock().unwrap();
    (stats.get::<gst::Structure>("stream-0").unwrap(), with, without)
}

fn counter(s: &gst::Structure, name: &str) -> u64 {
    s.get::<u64>(name).unwrap()
}

#[test]
fn overflow_block_loses_nothing() {
    let (s, with, without) = run_overflow("block", false);
    assert_eq!(counter(&s, "frames-in"), 60);
    assert_eq!(counter(&s, "frames-out"), 60);
    assert_eq!(counter(&s, "dropped"), 0);
    assert_eq!((with, without), (60, 0));
}

#[test]
fn overflow_drop_oldest_drops_and_accounts_exactly() {
    let (s, with, without) = run_overflow("drop-oldest", true);
    assert_eq!(counter(&s, "frames-in"), 60);
    let lost = counter(&s, "dropped") + counter(&s, "late");
    assert!(lost > 0, "a source faster than inference loses frames (to overflow or the latency budget): {s}");
    assert_eq!(counter(&s, "frames-in"), counter(&s, "frames-out") + lost);
    assert_eq!((with as u64, without), (counter(&s, "frames-out"), 0));
}

#[test]
fn overflow_pass_oldest_pushes_frames_on_without_inference() {
    let (s, with, without) = run_overflow("pass-oldest", true);
    assert_eq!(counter(&s, "frames-in"), 60);
    assert_eq!(counter(&s, "dropped"), 0);
    assert_eq!(counter(&s, "frames-out"), 60);
    assert!(counter(&s, "passed") > 0, "{s}");
    assert_eq!(without as u64, counter(&s, "passed"), "passed frames have no PoseMeta");
    assert_eq!(with + without, 60);
}

#[test]
fn overflow_auto_drops_for_live_sources_and_blocks_for_files() {
    let (live, ..) = run_overflow("auto", true);
    assert!(counter(&live, "dropped") + counter(&live, "late") > 0, "{live}");
    let (file, ..) = run_overflow("auto", false);
    assert_eq!(counter(&file, "dropped"), 0, "{file}");
    assert_eq!(counter(&file, "frames-out"), 60);
}

#[test]
fn latency_query_reports_the_added_latency() {
    common::init();
    let pipeline = common::pipeline(
        "videotestsrc is-live=true ! video/x-raw,format=RGB,width=320,height=240,framerate=10/1 \
         ! posebatch name=p model={model} execution-provider=cpu batch-timeout=50000000 ! fakesink sync=true",
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(30));
    let mut q = gst::query::Latency::new();
    assert!(pipeline.query(&mut q));
    let (live, min, _max) = q.result();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(live);
    // At least the batch timeout plus some inference time on top of the source's latency.
    assert!(min > gst::ClockTime::from_mseconds(50), "min latency {min}");
}

#[test]
fn streams_can_be_added_and_removed_while_playing() {
    common::init();
    let caps = "video/x-raw,format=RGB,width=320,height=240,framerate=15/1";
    let pipeline = common::pipeline(&format!(
        "videotestsrc is-live=true ! {caps} ! posebatch name=p model={{model}} execution-provider=cpu input-size=320 \
         p.src_0 ! fakesink name=out0 sync=false"
    ));
    let pb = pipeline.by_name("p").unwrap();
    let count = |pad: &gst::Pad| {
        let n = Arc::new(Mutex::new(0usize));
        let c = n.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            *c.lock().unwrap() += 1;
            gst::PadProbeReturn::Ok
        });
        n
    };
    let out0 = count(&pb.static_pad("src_0").unwrap());
    pipeline.set_state(gst::State::Playing).unwrap();
    let wait_for = |n: &Arc<Mutex<usize>>, at_least: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while *n.lock().unwrap() < at_least && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        *n.lock().unwrap()
    };
    assert!(wait_for(&out0, 3) >= 3);

    // Add a second stream.
    let branch =
        gst::parse::bin_from_description(&format!("videotestsrc is-live=true pattern=ball ! capsfilter caps={caps}"), true)
            .unwrap();
    // async=false: a sink added while PLAYING must not take the pipeline back to PAUSED.
    let sink1 = gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build().unwrap();
    pipeline.add_many([branch.upcast_ref::<gst::Element>(), &sink1]).unwrap();
    let sinkpad = pb.request_pad_simple("sink_%u").unwrap();
    branch.static_pad("src").unwrap().link(&sinkpad).unwrap();
    let src1 = pb.static_pad(&sinkpad.name().replace("sink", "src")).unwrap();
    src1.link(&sink1.static_pad("sink").unwrap()).unwrap();
    let out1 = count(&src1);
    sink1.sync_state_with_parent().unwrap();
    branch.sync_state_with_parent().unwrap();
    assert!(wait_for(&out1, 3) >= 3, "the new stream produces output");

    // Remove it again; stream 0 keeps going.
    branch.set_state(gst::State::Null).unwrap();
    pb.release_request_pad(&sinkpad);
    sink1.set_state(gst::State::Null).unwrap();
    pipeline.remove_many([branch.upcast_ref::<gst::Element>(), &sink1]).unwrap();
    let before = *out0.lock().unwrap();
    assert!(wait_for(&out0, before + 3) >= before + 3, "stream 0 continues after the removal");
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Watches a source pad: panics if a buffer goes out before stream-start, caps and segment
/// have; counts the buffers.
fn protocol_watch(pad: &gst::Pad) -> Arc<Mutex<usize>> {
    let buffers = Arc::new(Mutex::new(0usize));
    let (count, name) = (buffers.clone(), pad.name());
    let seen = Arc::new(Mutex::new(Vec::<gst::EventType>::new()));
    pad.add_probe(gst::PadProbeType::DATA_DOWNSTREAM, move |_, info| {
        match &info.data {
            Some(gst::PadProbeData::Event(e)) => seen.lock().unwrap().push(e.type_()),
            Some(gst::PadProbeData::Buffer(_)) => {
                let seen = seen.lock().unwrap();
                for needed in [gst::EventType::StreamStart, gst::EventType::Caps, gst::EventType::Segment] {
                    assert!(seen.contains(&needed), "{name}: a buffer before {needed:?} (events so far {seen:?})");
                }
                *count.lock().unwrap() += 1;
            }
            _ => {}
        }
        gst::PadProbeReturn::Ok
    });
    buffers
}

/// A live stream 0 keeps flowing while `sink_1`/`src_1` are requested, linked to a live
/// source and a sink, and released, 20 times: every new `src_1` starts with stream-start,
/// caps and segment (a frame of the released stream still in inference must not come out
/// of the new one), and GStreamer's own pad checks stay quiet (`common::init` makes them
/// fatal).
#[test]
fn pads_requested_and_released_while_playing_keep_the_pad_protocol() {
    common::init();
    let caps = "video/x-raw,format=RGB,width=320,height=240,framerate=30/1";
    let pipeline = common::pipeline(&format!(
        "videotestsrc is-live=true ! {caps} ! posebatch name=p model={{model}} execution-provider=cpu input-size=320 \
         p.src_0 ! fakesink sync=false"
    ));
    let pb = pipeline.by_name("p").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for cycle in 0..20 {
        let branch = gst::parse::bin_from_description(&format!("videotestsrc is-live=true pattern=ball ! capsfilter caps={caps}"), true).unwrap();
        let sink = gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build().unwrap();
        pipeline.add_many([branch.upcast_ref::<gst::Element>(), &sink]).unwrap();
        let sinkpad = pb.request_pad_simple("sink_1").expect("sink_1 is free again");
        let srcpad = pb.static_pad("src_1").unwrap();
        let buffers = protocol_watch(&srcpad);
        branch.static_pad("src").unwrap().link(&sinkpad).unwrap();
        srcpad.link(&sink.static_pad("sink").unwrap()).unwrap();
        sink.sync_state_with_parent().unwrap();
        branch.sync_state_with_parent().unwrap();
        // Released at a different moment each cycle: 1 to 4 frames out, so a frame of the
        // stream is often still in inference when its pads go.
        let wanted = 1 + cycle % 4;
        let deadline = Instant::now() + Duration::from_secs(60);
        while *buffers.lock().unwrap() < wanted && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(*buffers.lock().unwrap() >= wanted, "cycle {cycle}: the new stream produces output");
        branch.set_state(gst::State::Null).unwrap();
        pb.release_request_pad(&sinkpad);
        sink.set_state(gst::State::Null).unwrap();
        pipeline.remove_many([branch.upcast_ref::<gst::Element>(), &sink]).unwrap();
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn posejson_labels_frames_passed_without_inference_with_their_stream() {
    // A source faster than inference into pass-oldest on stream 3: many frames leave without
    // PoseMeta, and posejson must still write them as stream 3 (it asks posebatch upstream).
    let pipeline = common::pipeline(
        "videotestsrc num-buffers=40 ! video/x-raw,format=RGB,width=320,height=240,framerate=30/1 ! p.sink_3 \
         posebatch name=p model={model} execution-provider=cpu input-size=320 overflow=pass-oldest queue-size=1 \
         p.src_3 ! queue ! posejson ! appsink name=json sync=false",
    );
    let sink = pipeline.by_name("json").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut lines = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let map = sample.buffer().unwrap().map_readable().unwrap();
        lines.push(serde_json::from_slice::<serde_json::Value>(map.as_slice()).unwrap());
    }
    let stats = pipeline.by_name("p").unwrap().property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    let passed = stats.get::<gst::Structure>("stream-3").unwrap().get::<u64>("passed").unwrap();
    assert!(passed > 0, "some frames were passed without inference: {stats}");
    assert_eq!(lines.len(), 40, "one line per frame");
    assert!(lines.iter().all(|l| l["stream"] == 3), "every line says stream 3: {:?}", lines.iter().map(|l| &l["stream"]).collect::<Vec<_>>());
    // A frame passed without inference says so: "poses":null, not [] (inferred, nobody).
    let not_inferred = lines.iter().filter(|l| l["poses"].is_null()).count();
    assert_eq!(not_inferred as u64, passed, "one null per passed frame");
    assert!(lines.iter().all(|l| l["poses"].is_null() || l["poses"].is_array()));
}
