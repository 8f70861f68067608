//! Stream control: pause and resume by pad blocking, priorities, and the GPU-memory guard
//! fed with scripted readings.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstposebatch::memory_guard::{MemoryMonitor, MemoryReading};
use gstposebatch::meta::PoseMeta;

/// What left one source pad: buffers (with their PoseMeta) and event types, in order.
#[derive(Default)]
struct Seen {
    buffers: Vec<(Instant, Option<PoseMeta>)>,
    events: Vec<gst::EventType>,
}

fn watch(pad: &gst::Pad) -> Arc<Mutex<Seen>> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    pad.add_probe(gst::PadProbeType::DATA_DOWNSTREAM, move |_, info| {
        let mut s = s.lock().unwrap();
        match &info.data {
            Some(gst::PadProbeData::Buffer(b)) => s.buffers.push((Instant::now(), PoseMeta::from_buffer(b))),
            Some(gst::PadProbeData::Event(e)) => s.events.push(e.type_()),
            _ => {}
        }
        gst::PadProbeReturn::Ok
    });
    seen
}

/// `n` live test sources into one posebatch, each stream into a fakesink.
fn live_pipeline(n: usize, fps: u32, extra: &str) -> (gst::Pipeline, gst::Element) {
    let mut launch = format!("posebatch name=p model={{model}} execution-provider=cpu input-size=320 {extra}");
    for i in 0..n {
        launch += &format!(
            " videotestsrc is-live=true pattern=ball ! video/x-raw,format=RGB,width=320,height=240,framerate={fps}/1 ! p.sink_{i} \
              p.src_{i} ! fakesink sync=false"
        );
    }
    let pipeline = common::pipeline(&launch);
    let pb = pipeline.by_name("p").unwrap();
    (pipeline, pb)
}

fn stream_stats(pb: &gst::Element, i: usize) -> gst::Structure {
    pb.property::<gst::Structure>("stats").get::<gst::Structure>(&format!("stream-{i}")).unwrap()
}

fn count(s: &gst::Structure, field: &str) -> u64 {
    s.get::<u64>(field).unwrap()
}

/// Sends EOS into the pipeline and waits for it to come out of every sink.
fn finish(pipeline: &gst::Pipeline) {
    pipeline.send_event(gst::event::Eos::new());
    common::run_to_eos(pipeline, 60).expect("every stream reaches EOS");
}

fn assert_exact_accounting(pb: &gst::Element, n: usize) {
    for i in 0..n {
        let s = stream_stats(pb, i);
        assert_eq!(count(&s, "frames-in"), count(&s, "frames-out") + count(&s, "dropped") + count(&s, "late"), "stream {i}: {s}");
        assert_eq!(count(&s, "queued"), 0, "stream {i}: {s}");
    }
}

#[test]
fn pausing_one_of_four_live_streams_does_not_slow_the_others() {
    // A long batch timeout: a batch that waited for the paused stream would take seconds.
    let (pipeline, pb) = live_pipeline(4, 5, "batch-timeout=3000000000");
    let seen: Vec<_> = (0..4).map(|i| watch(&pb.static_pad(&format!("src_{i}")).unwrap())).collect();
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_secs(2));

    assert!(pb.emit_by_name::<bool>("pause-stream", &[&2u32]));
    assert!(!pb.emit_by_name::<bool>("pause-stream", &[&2u32]), "already paused: no-op");
    assert!(!pb.emit_by_name::<bool>("pause-stream", &[&9u32]), "unknown stream");
    assert!(pb.static_pad("sink_2").unwrap().property::<bool>("paused"));
    let paused_at = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let resumed_at = Instant::now();
    assert!(pb.emit_by_name::<bool>("resume-stream", &[&2u32]));
    std::thread::sleep(Duration::from_secs(2));
    finish(&pipeline);

    // Judge the middle of the paused window, after frames in flight have drained.
    let (from, to) = (paused_at + Duration::from_millis(700), resumed_at);
    let window = (to - from).as_secs_f64();
    for i in [0usize, 1, 3] {
        let s = seen[i].lock().unwrap();
        let during: Vec<&PoseMeta> =
            s.buffers.iter().filter(|(t, _)| *t >= from && *t < to).filter_map(|(_, m)| m.as_ref()).collect();
        let fps = during.len() as f64 / window;
        assert!(fps >= 3.5, "stream {i} kept its 5 fps while stream 2 was paused: {fps:.1}");
        // With a 3 s batch timeout, a batch that waited for stream 2 would hold frames for seconds.
        for m in during {
            assert!(m.queue_ns < 1_000_000_000, "stream {i}: frame waited {} ms", m.queue_ns / 1_000_000);
        }
    }
    let s2 = seen[2].lock().unwrap();
    let during = s2.buffers.iter().filter(|(t, _)| *t >= from && *t < to).count();
    assert_eq!(during, 0, "the paused stream's frames stop");
    assert!(s2.events.contains(&gst::EventType::Gap), "downstream of the paused stream got a GAP");
    let after = s2.buffers.iter().filter(|(t, _)| *t > resumed_at).count();
    assert!(after >= 3, "the stream comes back after resume: {after} frames");
    assert_exact_accounting(&pb, 4);
}

#[test]
fn two_hundred_random_pauses_from_two_threads_never_deadlock() {
    let (pipeline, pb) = live_pipeline(4, 30, "input-size=64");
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let workers: Vec<_> = (0..2u64)
        .map(|seed| {
            let pb = pb.clone();
            std::thread::spawn(move || {
                // A small linear congruential generator: reproducible, no extra crate.
                let mut x = seed * 7919 + 17;
                let mut next = move || {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    x >> 33
                };
                for _ in 0..100 {
                    let stream = (next() % 4) as u32;
                    match next() % 3 {
                        0 => {
                            pb.emit_by_name::<bool>("pause-stream", &[&stream]);
                        }
                        1 => {
                            pb.emit_by_name::<bool>("resume-stream", &[&stream]);
                        }
                        _ => pb.static_pad(&format!("sink_{stream}")).unwrap().set_property("paused", next() % 2 == 0),
                    }
                    std::thread::sleep(Duration::from_millis(next() % 10));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    for i in 0..4u32 {
        pb.emit_by_name::<bool>("resume-stream", &[&i]);
    }
    let start = Instant::now();
    finish(&pipeline);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_exact_accounting(&pb, 4);
}

#[test]
fn shutting_down_with_streams_paused_is_immediate() {
    let (pipeline, pb) = live_pipeline(2, 30, "input-size=64");
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(pb.emit_by_name::<bool>("pause-stream", &[&0u32]));
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

/// Plays a script of memory fractions, then holds the last one.
struct ScriptedMemory(VecDeque<f64>, f64);

impl MemoryMonitor for ScriptedMemory {
    fn read(&mut self) -> Result<MemoryReading, String> {
        if let Some(f) = self.0.pop_front() {
            self.1 = f;
        }
        Ok(MemoryReading { used: (self.1 * 80e9) as u64, total: 80_000_000_000, process_used: None })
    }
}

#[test]
fn memory_guard_pauses_lowest_priority_first_and_resumes_in_reverse_without_flapping() {
    let (pipeline, pb) = live_pipeline(4, 10, "input-size=64 vram-limit=0.9 vram-resume=0.8");
    for (i, priority) in [1, 5, 0, 3].into_iter().enumerate() {
        pb.static_pad(&format!("sink_{i}")).unwrap().set_property("priority", priority);
    }
    let script = [0.5, 0.5, 0.95, 0.95, 0.85, 0.89, 0.81, 0.88, 0.85, 0.82, 0.7, 0.7, 0.5];
    pb.clone()
        .downcast::<gstposebatch::posebatch::PoseBatch>()
        .unwrap()
        .set_memory_monitor(Box::new(ScriptedMemory(script.into(), 0.5)), Duration::from_millis(60));
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
        if let gst::MessageView::Element(e) = msg.view() {
            let s = e.structure().unwrap();
            if s.name().starts_with("posebatch-stream-") {
                let stats_paused = stream_stats(&pb, s.get::<u32>("stream-index").unwrap() as usize);
                events.push((
                    s.name().to_string(),
                    s.get::<u32>("stream-index").unwrap(),
                    s.get::<String>("reason").unwrap(),
                    stats_paused.get::<String>("pause-reason").unwrap(),
                ));
            }
        }
    }
    finish(&pipeline);
    let names: Vec<(&str, u32, &str)> = events.iter().map(|(n, i, r, _)| (n.as_str(), *i, r.as_str())).collect();
    assert_eq!(
        names,
        [
            ("posebatch-stream-paused", 2, "gpu-memory"),
            ("posebatch-stream-paused", 0, "gpu-memory"),
            ("posebatch-stream-resumed", 0, "gpu-memory"),
            ("posebatch-stream-resumed", 2, "gpu-memory"),
        ],
        "lowest priority first, reverse on resume, nothing in the 0.8-0.9 band"
    );
    assert_eq!(events[0].3, "gpu-memory", "stats show the pause reason");
    assert_exact_accounting(&pb, 4);
}

#[test]
fn on_the_cpu_the_element_runs_without_a_memory_guard_or_a_warning() {
    if gstposebatch::bench::driver_present() {
        println!("skipped: this machine has an NVIDIA driver");
        return;
    }
    common::init();
    // The defaults (execution-provider=auto) on a machine without a GPU: the CPU, silently.
    let pipeline = common::pipeline(
        "videotestsrc num-buffers=6 ! video/x-raw,format=RGB,width=320,height=240 ! posebatch name=p model={model} input-size=320 ! fakesink",
    );
    let warnings = common::play_collecting_warnings(&pipeline);
    let pb = pipeline.by_name("p").unwrap();
    let stats = pb.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(count(&stream_stats(&pb, 0), "frames-out"), 6);
    assert_eq!(stats.get::<&str>("provider").unwrap(), "cpu");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!stats.has_field("gpu-memory-used"), "no GPU memory readings: {stats}");
}
