//! The latency budget on real pipelines: frames that cannot make it are dropped before
//! inference and reported upstream (QoS event) and on the bus (QoS message), the newest
//! frame still goes through, the LATENCY query answers the budget, and a QoS report from
//! downstream makes the element drop frames it would deliver late.

mod common;

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_check::Harness;
use gstposebatch::meta::PoseMeta;

fn counter(s: &gst::StructureRef, name: &str) -> u64 {
    s.get::<u64>(name).unwrap_or_else(|_| panic!("no {name} in {s}"))
}

#[test]
fn frames_that_cannot_make_the_budget_are_dropped_reported_upstream_and_the_newest_still_flows() {
    // A 1 ms budget (which becomes the source's own latency, one frame at 60 fps) against
    // inference slower than the frame rate: no frame can make it, so all but the newest
    // queued one are dropped late.
    let pipeline = common::pipeline(
        "videotestsrc name=src is-live=true num-buffers=90 pattern=ball ! video/x-raw,format=RGB,width=320,height=240,framerate=60/1 \
         ! posebatch name=p model={model} execution-provider=cpu queue-size=4 latency-budget=1000000 \
         ! fakesink sync=false",
    );
    let upstream_qos = Arc::new(Mutex::new(Vec::new()));
    let seen = upstream_qos.clone();
    let src_pad = pipeline.by_name("src").unwrap().static_pad("src").unwrap();
    src_pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(e)) = &info.data
            && let gst::EventView::Qos(q) = e.view()
        {
            seen.lock().unwrap().push(q.get());
        }
        gst::PadProbeReturn::Ok
    });
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut qos_messages = 0;
    loop {
        let msg = bus.timed_pop(gst::ClockTime::from_seconds(60)).expect("EOS within 60 s");
        match msg.view() {
            gst::MessageView::Qos(q) => {
                assert_eq!(q.src().map(|s| s.name().to_string()).as_deref(), Some("p"));
                let (jitter, _, _) = q.values();
                assert!(jitter > 0, "the message says how late");
                qos_messages += 1;
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    let stats = pipeline.by_name("p").unwrap().property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    let s0 = stats.get::<gst::Structure>("stream-0").unwrap();
    let (frames_in, out, dropped, late) = (counter(&s0, "frames-in"), counter(&s0, "frames-out"), counter(&s0, "dropped"), counter(&s0, "late"));
    assert_eq!(frames_in, 90);
    assert_eq!(frames_in, out + dropped + late, "exact accounting: {s0}");
    assert!(late > 0, "frames were dropped as late: {s0}");
    assert!(out >= 5, "the newest frame still goes through: {s0}");
    assert_eq!(counter(&s0, "budget-missed"), out, "every frame out missed its budget: {s0}");
    assert_eq!(counter(&s0, "latency-budget"), 16_666_666, "1 ms is less than the source's own latency: {s0}");
    let events = upstream_qos.lock().unwrap();
    assert!(!events.is_empty(), "a QoS event reached upstream");
    for (kind, proportion, diff, timestamp) in events.iter() {
        assert_eq!(*kind, gst::QOSType::Underflow);
        assert!(*diff > 0 && *proportion > 0.0 && timestamp.is_some(), "{kind:?} {proportion} {diff} {timestamp:?}");
    }
    assert!(qos_messages > 0, "QoS messages on the bus");
}

#[test]
fn the_latency_query_answers_the_budget() {
    let pipeline = common::pipeline(
        "videotestsrc is-live=true ! video/x-raw,format=RGB,width=320,height=240,framerate=10/1 \
         ! posebatch model={model} execution-provider=cpu input-size=320 latency-budget=300000000 ! fakesink sync=true",
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let _ = pipeline.state(gst::ClockTime::from_seconds(30));
    let mut q = gst::query::Latency::new();
    assert!(pipeline.query(&mut q));
    pipeline.set_state(gst::State::Null).unwrap();
    let (live, min, _) = q.result();
    assert!(live);
    assert!(min >= gst::ClockTime::from_mseconds(300) && min < gst::ClockTime::from_mseconds(400), "min latency {min}");
}

#[test]
fn a_late_report_from_downstream_makes_the_element_drop_frames_it_would_deliver_late() {
    common::init();
    let pb = common::posebatch();
    pb.set_property_from_str("overflow", "block");
    let mut h = Harness::with_element(&pb, Some("sink_0"), Some("src_0"));
    let sample = common::decode_frames(&common::camera(1), "RGB", &[0]).remove(0);
    h.set_src_caps(sample.caps().unwrap().to_owned());
    h.play();
    let frame = |ms: u64| {
        let mut b = sample.buffer_owned().unwrap();
        b.make_mut().set_pts(gst::ClockTime::from_mseconds(ms));
        b.make_mut().set_duration(gst::ClockTime::from_mseconds(33));
        b
    };
    h.push(frame(0)).unwrap();
    assert!(PoseMeta::from_buffer(&h.pull().unwrap()).is_some());
    // The sink got the frame at 0 ms 200 ms late: nothing before 0 + 2 x 200 ms + one frame
    // (the caps say 60 fps: 417 ms) is worth delivering (GstVideoDecoder's rule).
    assert!(h.push_upstream_event(gst::event::Qos::new(gst::QOSType::Underflow, 1.5, 200_000_000, gst::ClockTime::ZERO)));
    let forwarded = std::iter::from_fn(|| h.try_pull_upstream_event()).find(|e| e.type_() == gst::EventType::Qos);
    assert!(forwarded.is_some(), "the report goes on upstream");
    for ms in [100, 300, 500, 600] {
        h.push(frame(ms)).unwrap();
    }
    let out: Vec<u64> = (0..2).map(|_| h.pull().unwrap().pts().unwrap().mseconds()).collect();
    assert_eq!(out, [500, 600], "the frames at 100 and 300 ms would have been late: dropped");
    let s0 = pb.property::<gst::Structure>("stats").get::<gst::Structure>("stream-0").unwrap();
    assert_eq!((counter(&s0, "frames-in"), counter(&s0, "frames-out"), counter(&s0, "late")), (5, 3, 2));
}
