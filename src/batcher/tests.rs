use super::*;
use proptest::prelude::*;

const MS: Nanos = 1_000_000;

fn config(max_batch_size: usize, queue_size: usize) -> BatchConfig {
    BatchConfig {
        max_batch_size,
        batch_timeout: 40 * MS,
        queue_size,
    }
}

/// Frames are (stream, sequence number) so order can be checked.
type TestBatcher = Batcher<(u32, u64), &'static str>;

fn batcher(streams: u32, overflow: Overflow, cfg: BatchConfig) -> TestBatcher {
    let mut b = Batcher::new(cfg);
    for i in 0..streams {
        b.add_stream(i, overflow, 0);
    }
    b
}

fn queued(outcome: PushOutcome<(u32, u64)>) -> Option<(u32, u64)> {
    match outcome {
        PushOutcome::Queued { dropped } => dropped,
        other => panic!("expected Queued, got {other:?}"),
    }
}

#[test]
fn batch_runs_when_every_active_stream_has_a_frame() {
    let mut b = batcher(3, Overflow::Block, config(8, 2));
    queued(b.push_frame(0, (0, 0), 0, None));
    queued(b.push_frame(1, (1, 0), MS, None));
    assert!(b.next_batch(2 * MS).is_none(), "stream 2 has no frame yet");
    queued(b.push_frame(2, (2, 0), 3 * MS, None));
    let batch = b.next_batch(3 * MS).expect("all three streams have a frame");
    assert_eq!(batch.len(), 3);
}

#[test]
fn batch_runs_at_max_batch_size() {
    let mut b = batcher(4, Overflow::Block, config(2, 4));
    queued(b.push_frame(0, (0, 0), 0, None));
    assert!(b.next_batch(0).is_none());
    queued(b.push_frame(0, (0, 1), 0, None));
    let batch = b.next_batch(0).expect("two frames queued, max is two");
    let frames: Vec<_> = batch.iter().map(|f| f.frame).collect();
    assert_eq!(frames, vec![(0, 0), (0, 1)]);
}

#[test]
fn batch_runs_at_timeout() {
    let mut b = batcher(2, Overflow::Block, config(8, 2));
    queued(b.push_frame(0, (0, 0), 10 * MS, None));
    assert_eq!(b.wake_time(), Some(50 * MS));
    assert!(b.next_batch(49 * MS).is_none());
    let batch = b.next_batch(50 * MS).expect("oldest frame waited the timeout");
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].arrived, 10 * MS);
}

#[test]
fn paused_and_finished_streams_are_not_waited_for() {
    let mut b = batcher(3, Overflow::Block, config(8, 2));
    b.set_eos(1, true);
    assert_eq!(b.set_paused(2, Some(PauseReason::User)).map(|v| v.len()), Some(0));
    queued(b.push_frame(0, (0, 0), 0, None));
    assert!(b.next_batch(0).is_some(), "only stream 0 is active");
}

#[test]
fn pausing_drops_queued_frames_and_refuses_new_ones() {
    let mut b = batcher(2, Overflow::Block, config(8, 4));
    queued(b.push_frame(0, (0, 0), 0, None));
    queued(b.push_frame(0, (0, 1), 0, None));
    let dropped = b.set_paused(0, Some(PauseReason::User)).expect("state changed");
    assert_eq!(dropped, vec![(0, 0), (0, 1)]);
    assert!(matches!(b.push_frame(0, (0, 2), 0, None), PushOutcome::Refused(_)));
    assert_eq!(b.counters(0).unwrap().dropped, 3);
    assert!(b.set_paused(0, Some(PauseReason::User)).is_none(), "already paused");
    assert!(b.set_paused(0, None).is_some());
    queued(b.push_frame(0, (0, 3), 0, None));
}

#[test]
fn events_behind_frames_dropped_by_a_pause_go_out_and_do_not_block_the_resume() {
    // A tag event queued behind frames, then a pause drops the frames: the event (and the
    // pause gap behind it) must go out, or after the resume the queue's head is an event
    // forever and no frame of the stream is ever batched again.
    let mut b = batcher(1, Overflow::Block, config(8, 2));
    queued(b.push_frame(0, (0, 0), 0, None));
    b.push_event(0, "tag");
    b.set_paused(0, Some(PauseReason::User)).expect("state changed");
    b.push_event(0, "gap");
    assert_eq!(drain(&mut b, 0), vec!["tag", "gap"]);
    b.set_paused(0, None).expect("state changed");
    queued(b.push_frame(0, (0, 1), MS, None));
    let batch = b.next_batch(MS).expect("the resumed stream's frame is batched");
    assert_eq!(batch.len(), 1);
}

#[test]
fn block_mode_reports_full_without_counting() {
    let mut b = batcher(1, Overflow::Block, config(8, 2));
    queued(b.push_frame(0, (0, 0), 0, None));
    queued(b.push_frame(0, (0, 1), 0, None));
    assert!(matches!(b.push_frame(0, (0, 2), 0, None), PushOutcome::Full((0, 2))));
    assert_eq!(b.counters(0).unwrap().frames_in, 2);
}

#[test]
fn drop_oldest_drops_the_oldest_frame() {
    let mut b = batcher(2, Overflow::DropOldest, config(8, 2));
    queued(b.push_frame(0, (0, 0), 0, None));
    queued(b.push_frame(0, (0, 1), 1, None));
    assert_eq!(queued(b.push_frame(0, (0, 2), 2, None)), Some((0, 0)));
    let c = b.counters(0).unwrap();
    assert_eq!((c.frames_in, c.dropped), (3, 1));
}

/// Drains a stream's outbox into readable labels.
fn drain(b: &mut TestBatcher, stream: u32) -> Vec<String> {
    std::iter::from_fn(|| b.pop_output(stream, 0))
        .map(|o| match o {
            Output::Frame((_, seq)) => format!("frame{seq}"),
            Output::Pass((_, seq)) => format!("pass{seq}"),
            Output::Event(e) => e.to_string(),
        })
        .collect()
}

fn complete(b: &mut TestBatcher, batch: Vec<BatchFrame<(u32, u64)>>) {
    let dropped = b.complete_batch(batch.into_iter().map(|f| (f.source(), f.frame)));
    assert!(dropped.is_empty());
}

#[test]
fn pass_oldest_pushes_the_oldest_frame_without_inference_in_order() {
    let mut b = batcher(2, Overflow::PassOldest, config(8, 1));
    queued(b.push_frame(0, (0, 0), 0, None));
    queued(b.push_frame(0, (0, 1), 1, None));
    assert_eq!(drain(&mut b, 0), vec!["pass0"]);
    let c = b.counters(0).unwrap();
    assert_eq!((c.frames_in, c.frames_out, c.passed, c.dropped), (2, 1, 1, 0));
}

#[test]
fn events_wait_behind_frames_and_go_first_when_idle() {
    let mut b = batcher(1, Overflow::Block, config(8, 2));
    b.push_event(0, "caps");
    assert_eq!(drain(&mut b, 0), vec!["caps"], "idle: straight to the outbox");
    queued(b.push_frame(0, (0, 0), 0, None));
    b.push_event(0, "segment");
    queued(b.push_frame(0, (0, 1), 0, None));
    // Only the frame before the event can join the batch.
    let batch = b.next_batch(0).unwrap();
    assert_eq!(batch.len(), 1);
    b.push_event(0, "custom");
    assert!(drain(&mut b, 0).is_empty(), "frame 0 is still in inference");
    complete(&mut b, batch);
    assert_eq!(drain(&mut b, 0), vec!["frame0", "segment"]);
    let batch = b.next_batch(0).unwrap();
    complete(&mut b, batch);
    assert_eq!(drain(&mut b, 0), vec!["frame1", "custom"]);
}

#[test]
fn frames_in_inference_during_a_flush_are_dropped() {
    let mut b = batcher(1, Overflow::Block, config(8, 2));
    queued(b.push_frame(0, (0, 0), 0, None));
    let batch = b.next_batch(0).unwrap();
    b.start_flush(0);
    b.stop_flush(0);
    queued(b.push_frame(0, (0, 1), 0, None));
    let dropped = b.complete_batch(batch.into_iter().map(|f| (f.source(), f.frame)));
    assert_eq!(dropped, vec![(0, 0)]);
    let batch = b.next_batch(0).unwrap();
    complete(&mut b, batch);
    assert_eq!(drain(&mut b, 0), vec!["frame1"]);
    let c = b.counters(0).unwrap();
    assert_eq!((c.frames_in, c.frames_out, c.dropped), (2, 1, 1));
}

/// A pad released while its frame is in inference and requested again under the same
/// name: the old frame must not come out of the new stream (before its stream-start).
#[test]
fn frames_of_a_released_stream_do_not_reach_a_new_stream_with_its_index() {
    let mut b = batcher(1, Overflow::Block, config(8, 2));
    queued(b.push_frame(0, (0, 0), 0, None));
    let batch = b.next_batch(0).unwrap();
    b.remove_stream(0);
    b.add_stream(0, Overflow::Block, 0);
    b.push_event(0, "stream-start");
    let dropped = b.complete_batch(batch.into_iter().map(|f| (f.source(), f.frame)));
    assert_eq!(dropped, vec![(0, 0)], "the old stream's frame is dropped");
    assert_eq!(drain(&mut b, 0), vec!["stream-start"], "the new stream starts with its own events");
    queued(b.push_frame(0, (0, 1), 0, None));
    let batch = b.next_batch(0).unwrap();
    complete(&mut b, batch);
    assert_eq!(drain(&mut b, 0), vec!["frame1"]);
    let c = b.counters(0).unwrap();
    assert_eq!((c.frames_in, c.frames_out, c.dropped), (1, 1, 0), "the new stream's counts are its own");
}

#[test]
fn flush_drops_frames_and_returns_events() {
    let mut b = batcher(1, Overflow::Block, config(8, 4));
    queued(b.push_frame(0, (0, 0), 0, None));
    b.push_event(0, "tag");
    queued(b.push_frame(0, (0, 1), 0, None));
    let (frames, events) = b.start_flush(0);
    assert_eq!(frames.len(), 2);
    assert_eq!(events, vec!["tag"]);
    assert!(b.pop_output(0, 0).is_none());
    assert!(matches!(b.push_frame(0, (0, 2), 0, None), PushOutcome::Refused(_)));
    b.stop_flush(0);
    queued(b.push_frame(0, (0, 3), 0, None));
    assert_eq!(b.counters(0).unwrap().dropped, 3);
}

#[test]
fn higher_priority_streams_are_batched_first() {
    let mut b = batcher(3, Overflow::DropOldest, config(1, 2));
    b.set_priority(2, 10);
    queued(b.push_frame(0, (0, 0), 0, None));
    queued(b.push_frame(2, (2, 0), 5 * MS, None));
    let batch = b.next_batch(5 * MS).unwrap();
    assert_eq!(batch[0].stream, 2, "higher priority first, though younger");
    assert_eq!(b.skipped(0), 1);
}

#[test]
fn a_low_priority_stream_gets_in_within_the_bound_under_overload() {
    // Stream 0 has the lowest priority; all streams always have frames; one frame a batch.
    let mut b = batcher(3, Overflow::DropOldest, config(1, 2));
    b.set_priority(1, 3);
    b.set_priority(2, 5);
    let bound = b.starvation_bound();
    assert_eq!(bound, 5 + 3);
    let mut waited = 0;
    let mut seq = 0;
    for t in 0..100u64 {
        for s in 0..3 {
            b.push_frame(s, (s, seq), t * MS, None);
            seq += 1;
        }
        let batch = b.next_batch(t * MS).unwrap();
        if batch[0].stream == 0 {
            assert!(waited <= bound, "stream 0 waited {waited} batches");
            waited = 0;
        } else {
            waited += 1;
        }
        b.complete_batch(batch.into_iter().map(|f| (f.source(), f.frame)));
    }
    let c = b.counters(0).unwrap();
    assert!(c.frames_in > 0 && b.counters(0).unwrap().dropped < c.frames_in, "stream 0 got through");
}

/// A batcher whose cost model has learned that a batch costs 100 ms per frame.
fn batcher_at_100ms_a_frame(streams: u32, cfg: BatchConfig) -> TestBatcher {
    let mut b = batcher(streams, Overflow::DropOldest, cfg);
    for n in 1..=8 {
        b.record_batch(n, n as u64 * 100 * MS);
    }
    b
}

#[test]
fn batch_sizes_shrink_as_the_budget_tightens() {
    for (left, expected) in [(1000, 8), (850, 8), (450, 4), (250, 2), (150, 1), (50, 1)] {
        let mut b = batcher_at_100ms_a_frame(8, config(8, 2));
        for s in 0..8 {
            queued(b.push_frame(s, (s, 0), 0, Some(left * MS)));
        }
        let batch = b.next_batch(0).expect("every stream has a frame");
        assert_eq!(batch.len(), expected, "{left} ms left: a batch of {expected} finishes in time");
    }
}

#[test]
fn a_frame_whose_deadline_nears_does_not_wait_for_the_others() {
    let cfg = BatchConfig { max_batch_size: 8, batch_timeout: 1000 * MS, queue_size: 2 };
    let mut b = batcher_at_100ms_a_frame(2, cfg);
    queued(b.push_frame(0, (0, 0), 0, Some(150 * MS)));
    assert_eq!(b.wake_time(), Some(50 * MS), "a batch of one takes 100 ms: it must start by 50 ms");
    assert!(!b.is_due(40 * MS), "stream 1 has no frame and there is still time");
    let batch = b.next_batch(50 * MS).expect("the deadline presses");
    assert_eq!(batch.len(), 1);
}

#[test]
fn frames_past_their_deadline_are_dropped_as_late_but_the_newest_goes_through() {
    let mut b = batcher_at_100ms_a_frame(1, config(8, 3));
    for seq in 0..3 {
        queued(b.push_frame(0, (0, seq), seq * 10 * MS, Some(seq * 10 * MS + 50 * MS)));
    }
    // At 60 ms a batch of one would end at 160 ms: no frame can make it.
    let late = b.take_late(60 * MS);
    assert_eq!(late.iter().map(|f| f.frame).collect::<Vec<_>>(), vec![(0, 0), (0, 1)]);
    assert_eq!(late[0].lateness, 110 * MS, "160 ms against a 50 ms deadline");
    let batch = b.next_batch(60 * MS).expect("the newest frame still runs");
    assert_eq!(batch.iter().map(|f| f.frame).collect::<Vec<_>>(), vec![(0, 2)]);
    b.complete_batch(batch.into_iter().map(|f| (f.source(), f.frame)));
    assert!(matches!(b.pop_output(0, 160 * MS), Some(Output::Frame((0, 2)))));
    let c = b.counters(0).unwrap();
    assert_eq!((c.frames_in, c.late, c.frames_out, c.budget_missed), (3, 2, 1, 1));
    // Without deadlines nothing is late.
    let mut b = batcher_at_100ms_a_frame(1, config(8, 3));
    queued(b.push_frame(0, (0, 0), 0, None));
    assert!(b.take_late(10_000 * MS).is_empty());
}

#[test]
fn late_frames_are_passed_under_pass_oldest_and_kept_under_block() {
    for (overflow, outputs) in [(Overflow::PassOldest, 2), (Overflow::Block, 0)] {
        let mut b = batcher_at_100ms_a_frame(1, config(8, 3));
        b.set_overflow(0, overflow);
        for seq in 0..3 {
            queued(b.push_frame(0, (0, seq), 0, Some(50 * MS)));
        }
        assert!(b.take_late(60 * MS).is_empty(), "{overflow:?}: nothing dropped");
        let mut passed = 0;
        while let Some(out) = b.pop_output(0, 60 * MS) {
            assert!(matches!(out, Output::Pass(_)));
            passed += 1;
        }
        assert_eq!(passed, outputs, "{overflow:?}");
        assert_eq!(b.counters(0).unwrap().late, 0);
    }
}

#[test]
fn output_never_stops_when_no_budget_can_be_met() {
    // Frames arrive every 33 ms with 10 ms budgets against 100 ms batches: every frame is
    // late, yet each batch still takes the newest one.
    let mut b = batcher_at_100ms_a_frame(1, config(4, 2));
    let mut now = 0;
    let mut seq = 0;
    let mut out = 0;
    while now < 3000 * MS {
        queued(b.push_frame(0, (0, seq), now, Some(now + 10 * MS)));
        seq += 1;
        now += 33 * MS;
        b.take_late(now);
        if let Some(batch) = b.next_batch(now) {
            now += 100 * MS;
            b.complete_batch(batch.into_iter().map(|f| (f.source(), f.frame)));
        }
        while b.pop_output(0, now).is_some() {
            out += 1;
        }
    }
    let c = b.counters(0).unwrap();
    assert!(out >= 20, "{out} frames out in 3 s");
    assert_eq!(c.budget_missed, c.frames_out, "every one of them late: {c:?}");
    assert_eq!(c.frames_in, c.frames_out + c.dropped + c.late + b.frames_waiting(0));
}

/// One step of a random schedule.
#[derive(Clone, Debug)]
enum Op {
    /// A frame on a stream, with a latency budget in ms (0: no deadline).
    Frame(u32, u64),
    Event(u32),
    Advance(u64),
    Batch,
    Outputs,
    Eos(u32),
    Pause(u32, bool),
    Flush(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..4, prop_oneof![Just(0u64), 20u64..400]).prop_map(|(s, budget)| Op::Frame(s, budget)),
        1 => (0u32..4).prop_map(Op::Event),
        2 => (0u64..60).prop_map(Op::Advance),
        3 => Just(Op::Batch),
        2 => Just(Op::Outputs),
        1 => (0u32..4).prop_map(Op::Eos),
        1 => (0u32..4, any::<bool>()).prop_map(|(s, p)| Op::Pause(s, p)),
        1 => (0u32..4).prop_map(Op::Flush),
    ]
}

fn overflow() -> impl Strategy<Value = Overflow> {
    prop_oneof![
        Just(Overflow::Block),
        Just(Overflow::DropOldest),
        Just(Overflow::PassOldest)
    ]
}

proptest! {
    /// Under any schedule, priorities and deadlines: frames in == out + dropped + late +
    /// waiting for every stream; frames leave each stream in arrival order; no batch is
    /// larger than the maximum; no waiting stream is skipped more than the starvation bound;
    /// and a batch is always due when the batch thread is told to wake.
    #[test]
    fn accounting_order_and_liveness(
        ops in proptest::collection::vec(op(), 1..300),
        overflow in overflow(),
        max_batch in 1usize..6,
        queue_size in 1usize..4,
        priorities in proptest::collection::vec(-3i32..4, 4),
    ) {
        let cfg = BatchConfig { max_batch_size: max_batch, batch_timeout: 40 * MS, queue_size };
        let mut b = batcher(4, overflow, cfg);
        for (s, p) in priorities.iter().enumerate() {
            b.set_priority(s as u32, *p);
        }
        let bound = b.starvation_bound();
        let mut now = 0;
        let mut next_seq = [0u64; 4];
        let mut last_out: [Option<u64>; 4] = [None; 4];
        let mut check_order = |stream: u32, seq: u64| {
            let last = &mut last_out[stream as usize];
            prop_assert!(last.is_none_or(|l| l < seq), "stream {stream}: {seq} after {last:?}");
            *last = Some(seq);
            Ok(())
        };
        for op in ops {
            match op {
                Op::Frame(s, budget) => {
                    let seq = next_seq[s as usize];
                    next_seq[s as usize] += 1;
                    let deadline = (budget > 0).then_some(now + budget * MS);
                    if let PushOutcome::Full(_) = b.push_frame(s, (s, seq), now, deadline) {
                        // A blocked producer would wait: it retries after a batch.
                        next_seq[s as usize] -= 1;
                    }
                }
                Op::Event(s) => b.push_event(s, "event"),
                Op::Advance(ms) => now += ms * MS,
                Op::Batch => {
                    b.take_late(now);
                    if let Some(batch) = b.next_batch(now) {
                        prop_assert!(batch.len() <= max_batch);
                        b.record_batch(batch.len(), (10 + 30 * batch.len() as u64) * MS);
                        b.complete_batch(batch.into_iter().map(|f| (f.source(), f.frame)));
                    }
                }
                Op::Outputs => {
                    for s in 0..4 {
                        while let Some(out) = b.pop_output(s, now) {
                            if let Output::Frame((_, seq)) | Output::Pass((_, seq)) = out {
                                check_order(s, seq)?;
                            }
                        }
                    }
                }
                Op::Eos(s) => b.set_eos(s, true),
                Op::Pause(s, p) => { b.set_paused(s, p.then_some(PauseReason::User)); }
                Op::Flush(s) => { b.start_flush(s); b.stop_flush(s); }
            }
            for s in 0..4 {
                let c = b.counters(s).unwrap();
                prop_assert_eq!(c.frames_in, c.frames_out + c.dropped + c.late + b.frames_waiting(s));
                prop_assert!(c.budget_missed <= c.frames_out);
                prop_assert!(c.passed <= c.frames_out);
            }
            for s in 0..4 {
                prop_assert!(b.skipped(s) <= bound, "stream {s} skipped {} > {bound}", b.skipped(s));
            }
            if let Some(wake) = b.wake_time() {
                prop_assert!(b.is_due(wake), "a queued frame must be due when the batch thread wakes");
            }
        }
    }
}
