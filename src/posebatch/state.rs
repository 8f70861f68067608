//! The element's shared state: the batcher, what the glue keeps per stream, and the
//! wake-ups between the element's threads.
//!
//! Threads: each sink pad's streaming thread queues frames into the batcher (`sink.rs`);
//! one batch thread forms batches and runs inference (`inference.rs`); each source pad has
//! its own task that pushes that stream's output (`source.rs`); the memory guard and the
//! stats ticker run on their own timers (`control.rs`).
//!
//! Lock order: a thread holding one of these may take only those listed after it, and
//! none is held across a push downstream, a query, or inference.
//!   1. `PoseBatch::settings`
//!   2. `Shared::state` (waited on with `batch_ready`, `room` and each `StreamOutput::ready`)
//!   3. `StreamOutput::flow`, `PoseBatch::stats`, `PoseBatch::memory_guard`,
//!      `PoseBatch::model`, `PoseBatch::workers`, `PoseBatch::trackers`, `PoseBatch::smoothers`
//!
//! The loaded model's engine lock is taken by the batch thread alone, with no other held.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::sinkpad::PoseBatchSinkPad;
use crate::batcher::Batcher;

/// A queued frame: the buffer, the caps it came with, when it arrived (element clock) and,
/// for a live stream, when it was captured (its running time).
pub struct Frame {
    pub buffer: gst::Buffer,
    pub info: gst_video::VideoInfo,
    pub arrival: u64,
    pub running_time: Option<gst::ClockTime>,
}

/// What a stream's queue carries besides frames.
pub enum StreamEvent {
    Event(gst::Event),
    /// The stream was paused: downstream gets a GAP from where the stream stopped.
    PauseGap,
}

pub type FlowResult = Result<gst::FlowSuccess, gst::FlowError>;

/// One stream's output side, shared with its source pad's task: the task's own wake-up,
/// and what its last push returned (the chain function returns it upstream).
pub struct StreamOutput {
    ready: Condvar,
    flow: Mutex<FlowResult>,
}

impl Default for StreamOutput {
    fn default() -> Self {
        StreamOutput { ready: Condvar::new(), flow: Mutex::new(Ok(gst::FlowSuccess::Ok)) }
    }
}

impl StreamOutput {
    /// Wakes the source task (output to push, or the stream is going away).
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// Waits for `wake`, releasing the state lock meanwhile.
    pub fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.ready.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    pub fn flow(&self) -> FlowResult {
        *self.flow.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_flow(&self, flow: FlowResult) {
        *self.flow.lock().unwrap_or_else(|e| e.into_inner()) = flow;
    }
}

/// What the glue keeps per stream; the batcher keeps the policy's side.
pub struct StreamPads {
    pub sinkpad: PoseBatchSinkPad,
    pub srcpad: gst::Pad,
    pub output: Arc<StreamOutput>,
    /// The caps of the frames arriving now.
    pub info: Option<gst_video::VideoInfo>,
    /// Whether upstream is live, and its minimum latency; asked at the first buffer (for
    /// overflow=auto and the latency budget).
    pub live: Option<bool>,
    pub upstream_latency: gst::ClockTime,
    /// The earliest running time worth delivering, from a downstream QoS report.
    pub qos_earliest: Option<gst::ClockTime>,
    /// The blocking probe that holds upstream while the batcher has the stream paused.
    pub pause_probe: Option<gst::PadProbeId>,
    /// Where the last pushed buffer ended (PTS + duration): where a pause's GAP starts.
    pub next_ts: Option<gst::ClockTime>,
    /// The current segment, to turn timestamps into running time (capture latency).
    pub segment: Option<gst::FormattedSegment<gst::ClockTime>>,
}

impl StreamPads {
    pub fn new(sinkpad: PoseBatchSinkPad, srcpad: gst::Pad) -> Self {
        StreamPads {
            sinkpad,
            srcpad,
            output: Arc::default(),
            info: None,
            live: None,
            upstream_latency: gst::ClockTime::ZERO,
            qos_earliest: None,
            pause_probe: None,
            next_ts: None,
            segment: None,
        }
    }
}

pub struct State {
    pub batcher: Batcher<Frame, StreamEvent>,
    pub streams: BTreeMap<u32, StreamPads>,
    /// The threads run between READY->PAUSED and PAUSED->READY.
    pub running: bool,
    pub next_batch_id: u64,
}

impl State {
    /// Wakes the source task of every stream that has output waiting.
    pub fn wake_outputs(&self) {
        for index in self.streams.keys() {
            self.wake_output(*index);
        }
    }

    /// Wakes stream `index`'s source task if it has output waiting.
    pub fn wake_output(&self, index: u32) {
        if let Some(stream) = self.streams.get(&index)
            && self.batcher.has_output(index)
        {
            stream.output.wake();
        }
    }

    /// Wakes every source task (stop: each sees it is no longer running).
    pub fn wake_all_outputs(&self) {
        for stream in self.streams.values() {
            stream.output.wake();
        }
    }
}

/// The state and the wake-ups that go with it.
pub struct Shared {
    state: Mutex<State>,
    /// The batch thread's: frames queued, a stream left the set batches wait for, stop.
    batch_ready: Condvar,
    /// Blocked producers' (block mode): frames left the queues (a batch, a flush, a
    /// pause, a removal), stop.
    room: Condvar,
}

impl Shared {
    pub fn new(state: State) -> Self {
        Shared { state: Mutex::new(state), batch_ready: Condvar::new(), room: Condvar::new() }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn wake_batch_thread(&self) {
        self.batch_ready.notify_one();
    }

    /// The batch thread waits here, up to `timeout` when a batch has a deadline.
    pub fn wait_for_batch<'a>(
        &self,
        state: MutexGuard<'a, State>,
        timeout: Option<std::time::Duration>,
    ) -> MutexGuard<'a, State> {
        match timeout {
            Some(t) => self.batch_ready.wait_timeout(state, t).unwrap_or_else(|e| e.into_inner()).0,
            None => self.batch_ready.wait(state).unwrap_or_else(|e| e.into_inner()),
        }
    }

    pub fn wake_producers(&self) {
        self.room.notify_all();
    }

    /// A blocked producer waits here for room in its queue.
    pub fn wait_for_room<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.room.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every waiting thread (stop, a stream going away).
    pub fn wake_everyone(&self, state: &State) {
        self.wake_batch_thread();
        self.wake_producers();
        state.wake_all_outputs();
    }
}
