//! Batch-formation policy: per-stream queues, when a batch is due, what happens when a
//! queue is full, and exact accounting of every frame.
//!
//! No GStreamer and no ONNX Runtime here. Frames (`F`) and events (`E`) are opaque payloads
//! and time is a plain nanosecond count passed in by the caller, so the policy can be
//! driven by a fake clock in tests.
//!
//! Live frames may carry a deadline: the time by which they must leave the element (their
//! capture time plus the latency budget). Then batches are sized so that their oldest frame
//! can still make it, by what the `cost_model` says a batch of each size costs; a frame that
//! cannot make its deadline even alone is dropped before inference (counted `late`) unless
//! it is its stream's newest, which always goes through, late or not, so output never stops.
//!
//! Each stream has two queues. `queue` holds, in arrival order, frames waiting for
//! inference, frames to be pushed on without inference (`pass-oldest`) and serialized
//! events. `outbox` holds what is ready to be pushed downstream, in order. Only frames at
//! the head of `queue` can join a batch; while a stream has frames in inference, the items
//! behind them stay in `queue`, and move to `outbox` once those frames have. So frames and
//! events leave each stream in the order they came in.

pub mod cost_model;
mod stream;

use std::collections::BTreeMap;

use cost_model::CostModel;
use stream::{Item, Outgoing, Stream};

/// Nanoseconds on the caller's clock.
pub type Nanos = u64;

/// What a full queue does with a new frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// The producer waits until there is room: nothing is lost.
    Block,
    /// The oldest waiting frame is dropped to make room.
    DropOldest,
    /// The oldest waiting frame is pushed on without inference.
    PassOldest,
}

/// Defaults of the element's `max-batch-size`, `batch-timeout` and `queue-size`.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 8;
pub const DEFAULT_BATCH_TIMEOUT: Nanos = 40_000_000;
pub const DEFAULT_QUEUE_SIZE: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Most frames in one batch.
    pub max_batch_size: usize,
    /// Longest the oldest queued frame waits for the batch to fill.
    pub batch_timeout: Nanos,
    /// Frames one stream may have waiting for inference.
    pub queue_size: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            batch_timeout: DEFAULT_BATCH_TIMEOUT,
            queue_size: DEFAULT_QUEUE_SIZE,
        }
    }
}

/// Per-stream frame accounting. `frames_in == frames_out + dropped + late + waiting`, where
/// waiting is what is queued, in inference or in the outbox; `passed` frames are part of
/// `frames_out`, and so are `budget_missed` ones (out, after their deadline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped: u64,
    /// Dropped before inference because they could no longer make their deadline.
    pub late: u64,
    pub passed: u64,
    pub budget_missed: u64,
}

/// Why a stream is paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseReason {
    /// The application asked (signal or pad property).
    User,
    /// The GPU-memory guard.
    GpuMemory,
}

impl PauseReason {
    /// The name in bus messages and stats.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseReason::User => "user",
            PauseReason::GpuMemory => "gpu-memory",
        }
    }
}

/// Something a stream must push downstream, in this order.
#[derive(Debug)]
pub enum Output<F, E> {
    /// A frame that went through inference.
    Frame(F),
    /// A frame to push without inference.
    Pass(F),
    Event(E),
}

/// A frame chosen for a batch.
#[derive(Debug)]
pub struct BatchFrame<F> {
    pub stream: u32,
    /// Which of the streams that had index `stream` the frame belongs to: a released pad's
    /// index can be taken again while its last frames are in inference.
    pub generation: u64,
    pub frame: F,
    pub arrived: Nanos,
}

impl<F> BatchFrame<F> {
    /// The stream the frame came from, as `complete_batch` wants it.
    pub fn source(&self) -> (u32, u64) {
        (self.stream, self.generation)
    }
}

/// A frame dropped because it could no longer make its deadline.
#[derive(Debug)]
pub struct LateFrame<F> {
    pub stream: u32,
    pub frame: F,
    /// How late it would have left at best (a batch of one started now), ns.
    pub lateness: Nanos,
}

/// What became of a frame offered to a stream.
#[derive(Debug)]
pub enum PushOutcome<F> {
    /// Queued for inference; `dropped` is the oldest frame, removed to make room.
    Queued { dropped: Option<F> },
    /// Block mode and the queue is full: the frame comes back; wait for room and retry.
    Full(F),
    /// The stream is paused, flushing or unknown: the frame is dropped and counted.
    Refused(F),
}

/// The batch-formation state of all streams of one element.
pub struct Batcher<F, E> {
    config: BatchConfig,
    streams: BTreeMap<u32, Stream<F, E>>,
    /// The generation the next added stream gets.
    next_generation: u64,
    /// What batches cost, learned from the ones run; sizes batches against deadlines.
    cost: CostModel,
}

impl<F, E> Batcher<F, E> {
    pub fn new(config: BatchConfig) -> Self {
        Batcher {
            config,
            streams: BTreeMap::new(),
            next_generation: 0,
            cost: CostModel::default(),
        }
    }

    /// A batch of `size` frames took `cost` ns: the cost model learns from it.
    pub fn record_batch(&mut self, size: usize, cost: Nanos) {
        self.cost.observe(size, cost);
    }

    /// What a batch of `size` frames is expected to cost, ns (0 until one has run).
    pub fn predicted_cost(&self, size: usize) -> Nanos {
        self.cost.predict(size)
    }

    pub fn set_config(&mut self, config: BatchConfig) {
        self.config = config;
    }

    pub fn add_stream(&mut self, stream: u32, overflow: Overflow, priority: i32) {
        let generation = self.next_generation;
        if let std::collections::btree_map::Entry::Vacant(entry) = self.streams.entry(stream) {
            entry.insert(Stream::new(overflow, priority, generation));
            self.next_generation += 1;
        }
    }

    /// Forgets a stream; returns the frames it still had (counted nowhere any more).
    pub fn remove_stream(&mut self, stream: u32) -> Vec<F> {
        let Some(mut s) = self.streams.remove(&stream) else {
            return Vec::new();
        };
        s.drop_frames()
    }

    pub fn streams(&self) -> impl Iterator<Item = u32> + '_ {
        self.streams.keys().copied()
    }

    pub fn has_stream(&self, stream: u32) -> bool {
        self.streams.contains_key(&stream)
    }

    pub fn set_overflow(&mut self, stream: u32, overflow: Overflow) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.overflow = overflow;
        }
    }

    pub fn set_priority(&mut self, stream: u32, priority: i32) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.priority = priority;
        }
    }

    /// The stream's priority (the sink pad's `priority` property reads it here).
    pub fn priority(&self, stream: u32) -> Option<i32> {
        self.streams.get(&stream).map(|s| s.priority)
    }

    pub fn counters(&self, stream: u32) -> Option<Counters> {
        self.streams.get(&stream).map(|s| s.counters)
    }

    /// Frames queued, in inference or in the outbox: the "still waiting" term of the accounting.
    pub fn frames_waiting(&self, stream: u32) -> u64 {
        self.streams.get(&stream).map_or(0, |s| {
            let queued = s.queue.iter().filter(|i| !matches!(i, Item::Event(_))).count();
            let outgoing = s.outbox.iter().filter(|o| !matches!(o.output, Output::Event(_))).count();
            (queued + s.inferring + outgoing) as u64
        })
    }

    /// Offers a frame that arrived at `now` and must leave by `deadline` (None: no deadline).
    pub fn push_frame(&mut self, stream: u32, frame: F, now: Nanos, deadline: Option<Nanos>) -> PushOutcome<F> {
        let capacity = self.config.queue_size.max(1);
        let Some(s) = self.streams.get_mut(&stream) else {
            return PushOutcome::Refused(frame);
        };
        s.counters.frames_in += 1;
        if s.paused.is_some() || s.flushing {
            s.counters.dropped += 1;
            return PushOutcome::Refused(frame);
        }
        let mut dropped = None;
        if s.waiting >= capacity {
            let pos = s.oldest_waiting_position().expect("waiting > 0");
            match s.overflow {
                Overflow::Block => {
                    s.counters.frames_in -= 1;
                    return PushOutcome::Full(frame);
                }
                Overflow::DropOldest => {
                    if let Some(Item::Frame { frame: old, .. }) = s.queue.remove(pos) {
                        dropped = Some(old);
                    }
                    s.counters.dropped += 1;
                }
                Overflow::PassOldest => {
                    if let Some(Item::Frame { frame: old, .. }) = s.queue.remove(pos) {
                        s.queue.insert(pos, Item::Pass(old));
                    }
                    s.release_head();
                }
            }
            s.waiting -= 1;
        }
        s.queue.push_back(Item::Frame { frame, arrived: now, deadline });
        s.waiting += 1;
        PushOutcome::Queued { dropped }
    }

    /// A frame that arrived too late to be worth inferring (a downstream sink said so): it
    /// is counted in and late, and not queued.
    pub fn refuse_late(&mut self, stream: u32) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.counters.frames_in += 1;
            s.counters.late += 1;
        }
    }

    /// Offers a serialized event: it goes out behind everything the stream already has.
    pub fn push_event(&mut self, stream: u32, event: E) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.queue.push_back(Item::Event(event));
            // With nothing in inference and no frame ahead of it, it goes out now.
            s.release_head();
        }
    }

    /// The next thing to push downstream for `stream`, in order, at `now`. Frames count as
    /// out here, and as budget-missed when they leave after their deadline.
    pub fn pop_output(&mut self, stream: u32, now: Nanos) -> Option<Output<F, E>> {
        let s = self.streams.get_mut(&stream)?;
        let out = s.outbox.pop_front()?;
        match out.output {
            Output::Frame(_) => s.counters.frames_out += 1,
            Output::Pass(_) => {
                s.counters.frames_out += 1;
                s.counters.passed += 1;
            }
            Output::Event(_) => {}
        }
        if out.deadline.is_some_and(|d| now > d) {
            s.counters.budget_missed += 1;
        }
        Some(out.output)
    }

    pub fn has_output(&self, stream: u32) -> bool {
        self.streams.get(&stream).is_some_and(|s| !s.outbox.is_empty())
    }

    /// The stream has ended (EOS): batches no longer wait for it. Its queued frames still run.
    pub fn set_eos(&mut self, stream: u32, eos: bool) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.eos = eos;
        }
    }

    /// Pauses (with a reason) or resumes (None) a stream. Pausing drops its queued frames
    /// (returned, counted) and takes it out of the set batches wait for. Returns None when
    /// nothing changed (a paused stream keeps its first reason).
    pub fn set_paused(&mut self, stream: u32, paused: Option<PauseReason>) -> Option<Vec<F>> {
        let s = self.streams.get_mut(&stream)?;
        if s.paused.is_some() == paused.is_some() {
            return None;
        }
        s.paused = paused;
        let dropped = if paused.is_some() { s.drop_frames() } else { Vec::new() };
        // Events that waited behind the dropped frames must not stay stuck at the head
        // of the queue (they would hold back every frame after the resume).
        s.release_head();
        Some(dropped)
    }

    pub fn is_paused(&self, stream: u32) -> bool {
        self.paused_by(stream).is_some()
    }

    /// Why the stream is paused; None when it runs (or is unknown).
    pub fn paused_by(&self, stream: u32) -> Option<PauseReason> {
        self.streams.get(&stream).and_then(|s| s.paused)
    }

    /// Flush start: queued and outgoing frames are dropped (returned, counted) and pending
    /// events are returned so the caller can keep the sticky ones. Frames offered while
    /// flushing are refused; frames in inference are dropped when their batch completes.
    pub fn start_flush(&mut self, stream: u32) -> (Vec<F>, Vec<E>) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return (Vec::new(), Vec::new());
        };
        s.flushing = true;
        s.stale = s.inferring;
        let frames = s.drop_frames();
        let mut events: Vec<E> = s
            .queue
            .drain(..)
            .filter_map(|item| match item {
                Item::Event(e) => Some(e),
                _ => None,
            })
            .collect();
        events.extend(s.outbox.drain(..).filter_map(|o| match o.output {
            Output::Event(e) => Some(e),
            _ => None,
        }));
        (frames, events)
    }

    /// Flush stop: the stream takes frames again, and is no longer at EOS.
    pub fn stop_flush(&mut self, stream: u32) {
        if let Some(s) = self.streams.get_mut(&stream) {
            s.flushing = false;
            s.eos = false;
        }
    }

    pub fn is_flushing(&self, stream: u32) -> bool {
        self.streams.get(&stream).is_some_and(|s| s.flushing)
    }

    /// Drops, before inference, the waiting frames that can no longer make their deadline
    /// even in a batch of one started `now`: all but each stream's newest waiting frame,
    /// which goes through late rather than not at all. Returns them, counted as `late`.
    pub fn take_late(&mut self, now: Nanos) -> Vec<LateFrame<F>> {
        let alone = self.cost.predict(1);
        let mut late = Vec::new();
        for (&index, s) in self.streams.iter_mut() {
            s.drop_late(index, now, alone, &mut late);
        }
        late
    }

    /// The batch a batch formed now would have: the takeable frames, up to the maximum.
    fn batch_size_now(&self) -> usize {
        let takeable: usize = self.streams.values().map(|s| s.takeable()).sum();
        takeable.min(self.config.max_batch_size.max(1))
    }

    /// When waiting longer for more frames would make the earliest deadline among the
    /// takeable frames unreachable by a batch of today's size; None without deadlines.
    fn deadline_pressure(&self) -> Option<Nanos> {
        let earliest = self.streams.values().filter_map(|s| s.earliest_takeable_deadline()).min()?;
        Some(earliest.saturating_sub(self.cost.predict(self.batch_size_now())))
    }

    /// When the batch thread should look again: the oldest takeable frame's batch timeout
    /// or the deadline pressure, whichever is first; None with nothing queued.
    pub fn wake_time(&self) -> Option<Nanos> {
        let timeout = self
            .streams
            .values()
            .filter_map(|s| s.head_arrival())
            .min()
            .map(|t| t.saturating_add(self.config.batch_timeout));
        match (timeout, self.deadline_pressure()) {
            (Some(t), Some(p)) => Some(t.min(p)),
            (t, p) => t.or(p),
        }
    }

    /// True when a batch should run now (see `next_batch`).
    pub fn is_due(&self, now: Nanos) -> bool {
        let takeable: usize = self.streams.values().map(|s| s.takeable()).sum();
        if takeable == 0 {
            return false;
        }
        let every_active_has_one = self
            .streams
            .values()
            .filter(|s| s.is_active())
            .all(|s| s.takeable() > 0);
        every_active_has_one
            || takeable >= self.config.max_batch_size.max(1)
            || self.wake_time().is_some_and(|t| now >= t)
    }

    /// Forms the next batch if one is due: when every active (not paused, not at EOS)
    /// stream has a frame, when `max-batch-size` frames are queued, when the oldest
    /// frame has waited `batch-timeout`, or when waiting longer would miss a deadline.
    /// A batch takes no more frames than can finish, by the cost model, before the
    /// earliest deadline among them (at least one frame).
    ///
    /// When more frames wait than fit, frames are taken from queue heads by effective
    /// priority: the stream's `priority` plus the batches it has been skipped in a row
    /// (then the longest waiting). A stream skipped once it outranks every priority can be
    /// passed by each other stream at most once more, so a waiting stream gets into a batch
    /// within `starvation_bound()` batches.
    pub fn next_batch(&mut self, now: Nanos) -> Option<Vec<BatchFrame<F>>> {
        if !self.is_due(now) {
            return None;
        }
        let max = self.config.max_batch_size.max(1);
        let waiting: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, s)| s.takeable() > 0)
            .map(|(&i, _)| i)
            .collect();
        let mut served = std::collections::BTreeSet::new();
        let mut batch = Vec::new();
        let mut earliest: Option<Nanos> = None;
        while batch.len() < max {
            let pick = self
                .streams
                .iter()
                .filter_map(|(&index, s)| {
                    let arrived = s.head_arrival()?;
                    // A stream already served in this batch competes at its plain priority.
                    let aging = if served.contains(&index) { 0 } else { s.skipped as i64 };
                    Some((index, s.priority as i64 + aging, arrived))
                })
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.2.cmp(&a.2)).then_with(|| b.0.cmp(&a.0)));
            let Some((index, ..)) = pick else { break };
            let s = self.streams.get_mut(&index).expect("picked from the map");
            let with_it = match (earliest, s.head_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if !batch.is_empty() && with_it.is_some_and(|d| now.saturating_add(self.cost.predict(batch.len() + 1)) > d) {
                break; // one frame more and the batch would finish too late
            }
            if let Some(Item::Frame { frame, arrived, deadline }) = s.queue.pop_front() {
                s.waiting -= 1;
                s.inferring += 1;
                s.inferring_deadlines.push_back(deadline);
                earliest = with_it;
                served.insert(index);
                batch.push(BatchFrame {
                    stream: index,
                    generation: s.generation,
                    frame,
                    arrived,
                });
            }
        }
        for (index, s) in self.streams.iter_mut() {
            s.skipped = match (served.contains(index), waiting.contains(index)) {
                (false, true) => s.skipped + 1,
                _ => 0,
            };
        }
        (!batch.is_empty()).then_some(batch)
    }

    /// Most batches in a row a stream with a waiting frame can be left out of: the spread
    /// of priorities plus the number of streams.
    #[cfg(test)]
    pub fn starvation_bound(&self) -> u32 {
        let priorities = self.streams.values().map(|s| s.priority as i64);
        let spread = priorities.clone().max().unwrap_or(0) - priorities.min().unwrap_or(0);
        (spread + self.streams.len() as i64) as u32
    }

    /// Batches in a row `stream` has been left out of while it had a frame waiting.
    #[cfg(test)]
    pub fn skipped(&self, stream: u32) -> u32 {
        self.streams.get(&stream).map_or(0, |s| s.skipped)
    }

    /// A batch's frames are done with inference: each goes to its stream's outbox (or is
    /// dropped and returned if its stream was flushed or removed meanwhile), and what waited
    /// behind them is released.
    ///
    /// Frames are given with their `BatchFrame::source`; those of a stream released since
    /// (even if its index was taken again) come back, to be dropped.
    pub fn complete_batch(&mut self, frames: impl IntoIterator<Item = ((u32, u64), F)>) -> Vec<F> {
        self.complete(frames, true)
    }

    /// A batch's frames could not go through inference (the inference server is away):
    /// they go out as `complete_batch` sends them, but passed on (counted `passed`).
    pub fn complete_batch_without_inference(&mut self, frames: impl IntoIterator<Item = ((u32, u64), F)>) -> Vec<F> {
        self.complete(frames, false)
    }

    fn complete(&mut self, frames: impl IntoIterator<Item = ((u32, u64), F)>, inferred: bool) -> Vec<F> {
        let mut dropped = Vec::new();
        for ((index, generation), frame) in frames {
            let Some(s) = self.streams.get_mut(&index).filter(|s| s.generation == generation) else {
                dropped.push(frame);
                continue;
            };
            s.inferring = s.inferring.saturating_sub(1);
            let deadline = s.inferring_deadlines.pop_front().flatten();
            if s.stale > 0 {
                s.stale -= 1;
                s.counters.dropped += 1;
                dropped.push(frame);
            } else {
                let output = if inferred { Output::Frame(frame) } else { Output::Pass(frame) };
                s.outbox.push_back(Outgoing { output, deadline });
            }
        }
        for s in self.streams.values_mut() {
            s.release_head();
        }
        dropped
    }
}

#[cfg(test)]
mod tests;
