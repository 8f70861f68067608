//! GStreamer glue of `posebatch`: pads, properties, events, queries, states, and the two
//! kinds of threads. The batch policy lives in `crate::batcher`, inference in
//! `crate::engine`; this file only moves buffers and events between them and the pads.
//!
//! Threads: each sink pad's streaming thread queues frames into the batcher; one batch
//! thread forms batches and runs inference; each source pad has its own task that pushes
//! that stream's output, so a downstream that blocks (a sink prerolling, a slow consumer)
//! holds up only its own stream.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::frames;
use super::properties::{ExecutionProvider, OverflowSetting, PrecisionSetting, Settings};
use super::sinkpad::{PoseBatchSinkPad, stream_index};
use crate::batcher::{BatchFrame, Batcher, Output, PushOutcome};
use crate::engine::{Engine, FrameView};
use crate::gpu_monitor::NvmlMonitor;
use crate::memory_guard::{GuardAction, MemoryGuard, MemoryMonitor};
use crate::periodic::Periodic;
use crate::stats::{self, Stats};
use crate::meta::{Person, PoseMeta};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("posebatch", gst::DebugColorFlags::empty(), Some("Batched pose estimation"))
});

/// A queued frame: the buffer, the caps it came with, and when it arrived.
pub struct Frame {
    buffer: gst::Buffer,
    info: gst_video::VideoInfo,
    arrival: u64,
}

/// What a stream's queue carries besides frames.
enum StreamEvent {
    Event(gst::Event),
    /// The stream was paused: downstream gets a GAP from where the stream stopped.
    PauseGap,
}

/// Per-stream glue state.
struct StreamPads {
    sinkpad: PoseBatchSinkPad,
    srcpad: gst::Pad,
    /// The caps of the frames arriving now.
    info: Option<gst_video::VideoInfo>,
    /// Whether upstream is live; decided at the first buffer (for overflow=auto).
    live: Option<bool>,
    /// The last flow return of the source pad, returned upstream by the chain function.
    flow: Result<gst::FlowSuccess, gst::FlowError>,
    /// The blocking probe that holds upstream while the stream is paused, and why.
    pause: Option<(gst::PadProbeId, &'static str)>,
    /// Where the last pushed buffer ended (PTS + duration): where a pause's GAP starts.
    next_ts: Option<gst::ClockTime>,
    /// The current segment, to turn timestamps into running time (capture latency).
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
}

struct State {
    batcher: Batcher<Frame, StreamEvent>,
    streams: BTreeMap<u32, StreamPads>,
    /// The threads run between READY->PAUSED and PAUSED->READY.
    running: bool,
    next_batch_id: u64,
}

/// State shared with the batch thread and the source pad tasks.
struct Shared {
    state: Mutex<State>,
    /// Signalled whenever the state changes in a way a waiting thread may care about.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct PoseBatch {
    settings: Mutex<Settings>,
    shared: Arc<Shared>,
    engine: Mutex<Option<Engine>>,
    batch_thread: Mutex<Option<JoinHandle<()>>>,
    /// Time base of the batcher's clock.
    epoch: Instant,
    /// Inference time of one frame, measured at READY; sizes the reported latency.
    frame_inference_time: Mutex<Duration>,
    /// The execution provider the loaded model runs on, and where frames are letterboxed
    /// ("none" before READY).
    provider: Mutex<(&'static str, &'static str)>,
    memory_guard: Mutex<MemoryGuard>,
    /// A monitor given by the application (tests feed readings this way); else NVML.
    monitor_override: Mutex<Option<Box<dyn MemoryMonitor>>>,
    guard_interval: Mutex<Duration>,
    guard_thread: Mutex<Option<Periodic>>,
    stats: Mutex<Stats>,
    stats_thread: Mutex<Option<Periodic>>,
}

impl Default for PoseBatch {
    fn default() -> Self {
        let settings = Settings::default();
        PoseBatch {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    batcher: Batcher::new(settings.batch_config()),
                    streams: BTreeMap::new(),
                    running: false,
                    next_batch_id: 0,
                }),
                changed: Condvar::new(),
            }),
            settings: Mutex::new(settings),
            engine: Mutex::new(None),
            batch_thread: Mutex::new(None),
            epoch: Instant::now(),
            frame_inference_time: Mutex::new(Duration::ZERO),
            provider: Mutex::new(("none", "none")),
            memory_guard: Mutex::new(MemoryGuard::default()),
            monitor_override: Mutex::new(None),
            guard_interval: Mutex::new(Duration::from_millis(250)),
            guard_thread: Mutex::new(None),
            stats: Mutex::new(Stats::default()),
            stats_thread: Mutex::new(None),
        }
    }
}

impl PoseBatch {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn settings(&self) -> Settings {
        self.settings.lock().unwrap().clone()
    }

    // ---- sink pad side -------------------------------------------------------------

    fn sink_chain(&self, pad: &PoseBatchSinkPad, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let index = pad.index();
        let live = self.upstream_is_live(pad);
        let mut state = self.shared.lock();
        let Some(stream) = state.streams.get_mut(&index) else {
            return Err(gst::FlowError::Flushing);
        };
        if stream.live.is_none() {
            stream.live = Some(live);
            let overflow = self.settings.lock().unwrap().overflow.resolve(live);
            gst::debug!(CAT, obj = pad, "upstream live: {live}, overflow: {overflow:?}");
            state.batcher.set_overflow(index, overflow);
        }
        let stream = state.streams.get_mut(&index).expect("checked above");
        let Some(info) = stream.info.clone() else {
            drop(state);
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("{}: buffer before caps", pad.name()));
            return Err(gst::FlowError::NotNegotiated);
        };
        if buffer.size() < info.size() {
            drop(state);
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ("{}: buffer of {} bytes is smaller than its caps say ({} bytes for {}x{} {})",
                    pad.name(), buffer.size(), info.size(), info.width(), info.height(), info.format().to_str())
            );
            return Err(gst::FlowError::Error);
        }
        let mut frame = Frame { buffer, info, arrival: self.now() };
        loop {
            if !state.running {
                return Err(gst::FlowError::Flushing);
            }
            match state.batcher.push_frame(index, frame, self.now()) {
                PushOutcome::Queued { .. } => break,
                PushOutcome::Refused(_) => {
                    if state.batcher.is_flushing(index) || !state.batcher.has_stream(index) {
                        return Err(gst::FlowError::Flushing);
                    }
                    break; // paused: the frame is dropped and counted
                }
                PushOutcome::Full(back) => {
                    // Block mode: back-pressure until the batch thread takes a frame.
                    frame = back;
                    state = self.shared.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
        self.shared.changed.notify_all();
        state.streams.get(&index).map_or(Err(gst::FlowError::Flushing), |s| s.flow)
    }

    /// Asks upstream whether it is live (for overflow=auto).
    fn upstream_is_live(&self, pad: &PoseBatchSinkPad) -> bool {
        {
            let state = self.shared.lock();
            if let Some(live) = state.streams.get(&pad.index()).and_then(|s| s.live) {
                return live;
            }
        }
        let mut query = gst::query::Latency::new();
        pad.peer_query(&mut query) && query.result().0
    }

    fn sink_event(&self, pad: &PoseBatchSinkPad, event: gst::Event) -> bool {
        use gst::EventView;
        let index = pad.index();
        let Some(srcpad) = self.srcpad(index) else {
            return false;
        };
        gst::log!(CAT, obj = pad, "event {:?}", event.type_());
        match event.view() {
            EventView::FlushStart(_) => {
                let (_frames, events) = {
                    let mut state = self.shared.lock();
                    let dropped = state.batcher.start_flush(index);
                    self.shared.changed.notify_all();
                    dropped
                };
                // Keep sticky events that the flush removed from the queue, as a queue does.
                for e in events.into_iter().filter_map(|e| match e {
                    StreamEvent::Event(e) => Some(e),
                    StreamEvent::PauseGap => None,
                }) {
                    if e.is_sticky() && !matches!(e.type_(), gst::EventType::Segment | gst::EventType::Eos) {
                        let _ = srcpad.store_sticky_event(&e);
                    }
                }
                return srcpad.push_event(event);
            }
            EventView::FlushStop(_) => {
                let mut state = self.shared.lock();
                state.batcher.stop_flush(index);
                if let Some(s) = state.streams.get_mut(&index) {
                    s.flow = Ok(gst::FlowSuccess::Ok);
                }
            }
            EventView::Caps(caps) => {
                let info = match gst_video::VideoInfo::from_caps(caps.caps()) {
                    Ok(info) if frames::pixel_format(&info).is_some() => info,
                    _ => {
                        gst::warning!(CAT, obj = pad, "refusing caps {:?}", caps.caps());
                        return false;
                    }
                };
                if let Some(s) = self.shared.lock().streams.get_mut(&index) {
                    s.info = Some(info);
                }
            }
            EventView::StreamStart(_) => self.shared.lock().batcher.set_eos(index, false),
            EventView::Segment(e) => {
                if let (Some(s), Ok(segment)) =
                    (self.shared.lock().streams.get_mut(&index), e.segment().clone().downcast::<gst::ClockTime>())
                {
                    s.segment = Some(segment);
                }
            }
            EventView::Eos(_) => self.shared.lock().batcher.set_eos(index, true),
            _ => {}
        }
        if !event.is_serialized() {
            return srcpad.push_event(event);
        }
        let mut state = self.shared.lock();
        state.batcher.push_event(index, StreamEvent::Event(event));
        self.shared.changed.notify_all();
        true
    }

    fn sink_query(&self, pad: &PoseBatchSinkPad, query: &mut gst::QueryRef) -> bool {
        // Caps, accept-caps and allocation are answered downstream of the paired source pad.
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    // ---- source pad side -----------------------------------------------------------

    fn srcpad(&self, index: u32) -> Option<gst::Pad> {
        self.shared.lock().streams.get(&index).map(|s| s.srcpad.clone())
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            let Some(sinkpad) = self.shared.lock().streams.get(&stream_index(pad)).map(|s| s.sinkpad.clone()) else {
                return false;
            };
            let mut upstream = gst::query::Latency::new();
            if !sinkpad.peer_query(&mut upstream) {
                return false;
            }
            let (live, min, max) = upstream.result();
            let ours = self.added_latency();
            gst::debug!(CAT, obj = pad, "upstream latency {min} (live {live}), adding {ours}");
            q.set(live, min + ours, max.map(|m| m + ours));
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    /// The latency posebatch adds: the batch timeout plus one full batch's inference.
    fn added_latency(&self) -> gst::ClockTime {
        let settings = self.settings();
        let streams = self.shared.lock().streams.len().max(1) as u32;
        let batch = streams.min(settings.max_batch_size.max(1));
        let inference = *self.frame_inference_time.lock().unwrap() * batch;
        gst::ClockTime::from_nseconds(settings.batch_timeout) + gst::ClockTime::from_nseconds(inference.as_nanos() as u64)
    }

    fn src_activate_mode(&self, pad: &gst::Pad, active: bool) -> Result<(), gst::LoggableError> {
        if active {
            let element = self.obj().downgrade();
            let index = stream_index(pad);
            let task_pad = pad.clone();
            pad.start_task(move || match element.upgrade() {
                Some(element) => element.imp().src_loop(&task_pad, index),
                None => {
                    let _ = task_pad.pause_task();
                }
            })
            .map_err(|e| gst::loggable_error!(CAT, "could not start the source task: {e}"))
        } else {
            {
                // Wake the task so it sees the pad is going away.
                let _state = self.shared.lock();
                self.shared.changed.notify_all();
            }
            pad.stop_task().map_err(|e| gst::loggable_error!(CAT, "could not stop the source task: {e}"))
        }
    }

    /// One iteration of a source pad's task: wait for this stream's next output and push it.
    fn src_loop(&self, pad: &gst::Pad, index: u32) {
        let output = {
            let mut state = self.shared.lock();
            loop {
                let alive = state.running && state.streams.contains_key(&index);
                if !alive {
                    drop(state);
                    let _ = pad.pause_task();
                    return;
                }
                if let Some(output) = state.batcher.pop_output(index) {
                    break output;
                }
                state = self
                    .shared
                    .changed
                    .wait_timeout(state, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        let flow = match output {
            Output::Frame(frame) | Output::Pass(frame) => {
                let end = frame.buffer.pts().map(|pts| pts + frame.buffer.duration().unwrap_or_default());
                let capture_delay = {
                    let mut state = self.shared.lock();
                    let s = state.streams.get_mut(&index);
                    s.and_then(|s| {
                        s.next_ts = end.or(s.next_ts);
                        (s.live == Some(true)).then(|| self.capture_delay(s.segment.as_ref()?, frame.buffer.pts()?))?
                    })
                };
                {
                    let now = self.now();
                    let mut stats = self.stats.lock().unwrap();
                    let stream = stats.stream(index);
                    stream.end_to_end.record(now.saturating_sub(frame.arrival));
                    stream.frame_out(now);
                    if let Some(delay) = capture_delay {
                        stream.capture.record(delay);
                    }
                }
                pad.push(frame.buffer)
            }
            Output::Event(StreamEvent::Event(event)) => {
                let is_eos = event.type_() == gst::EventType::Eos;
                if !pad.push_event(event) && !is_eos {
                    gst::debug!(CAT, obj = pad, "downstream refused an event");
                }
                return;
            }
            Output::Event(StreamEvent::PauseGap) => {
                let start = self.shared.lock().streams.get(&index).and_then(|s| s.next_ts);
                if let Some(start) = start {
                    pad.push_event(gst::event::Gap::builder(start).build());
                }
                return;
            }
        };
        if let Err(err) = flow {
            gst::debug!(CAT, obj = pad, "push returned {err:?}");
        }
        let mut state = self.shared.lock();
        if let Some(s) = state.streams.get_mut(&index) {
            s.flow = flow;
        }
        if matches!(flow, Err(e) if e != gst::FlowError::Flushing && e != gst::FlowError::Eos && e != gst::FlowError::NotLinked)
        {
            drop(state);
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{}: downstream returned {flow:?}", pad.name()));
        }
    }

    // ---- batch thread --------------------------------------------------------------

    fn batch_loop(&self) {
        loop {
            let (batch_id, batch) = {
                let mut state = self.shared.lock();
                loop {
                    if !state.running {
                        return;
                    }
                    let now = self.now();
                    if let Some(batch) = state.batcher.next_batch(now) {
                        let id = state.next_batch_id;
                        state.next_batch_id += 1;
                        // The queues have room again: wake blocked producers.
                        self.shared.changed.notify_all();
                        break (id, batch);
                    }
                    state = match state.batcher.deadline() {
                        Some(deadline) => {
                            let wait = Duration::from_nanos(deadline.saturating_sub(now).max(100_000));
                            self.shared.changed.wait_timeout(state, wait).unwrap_or_else(|e| e.into_inner()).0
                        }
                        None => self.shared.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
                    };
                }
            };
            let started = self.now();
            let frames = self.infer_batch(batch_id, batch, started);
            let mut state = self.shared.lock();
            state.batcher.complete_batch(frames);
            self.shared.changed.notify_all();
        }
    }

    /// Runs inference on a batch and attaches PoseMeta; returns the frames for output.
    fn infer_batch(&self, batch_id: u64, batch: Vec<BatchFrame<Frame>>, started: u64) -> Vec<(u32, Frame)> {
        let params = self.settings.lock().unwrap().decode_params();
        let result = {
            let mapped: Result<Vec<_>, _> = batch
                .iter()
                .map(|f| gst_video::VideoFrameRef::from_buffer_ref_readable(f.frame.buffer.as_ref(), &f.frame.info))
                .collect();
            match mapped {
                Err(e) => Err(format!("could not map a frame: {e}")),
                Ok(mapped) => {
                    let views: Option<Vec<FrameView>> = mapped.iter().map(frames::view).collect();
                    let mut engine = self.engine.lock().unwrap();
                    match (views, engine.as_mut()) {
                        (None, _) => Err("unsupported frame layout".to_string()),
                        (_, None) => Err("no model loaded".to_string()),
                        (Some(views), Some(engine)) => engine
                            .infer(&views, &params)
                            .map(|r| (r, engine.num_keypoints()))
                            .map_err(|e| e.to_string()),
                    }
                }
            }
        };
        let batch_size = batch.len() as u32;
        match result {
            Ok((result, num_keypoints)) => {
                let inference_ns = result.inference_time.as_nanos() as u64;
                match result.gpu_times {
                    Some(gpu) => self.stats.lock().unwrap().batch(
                        batch.len(),
                        gpu.inference.as_nanos() as u64,
                        Some(gpu.preprocess.as_nanos() as u64),
                    ),
                    None => self.stats.lock().unwrap().batch(batch.len(), inference_ns, None),
                }
                gst::trace!(CAT, imp = self, "batch {batch_id}: {batch_size} frames in {:?}", result.inference_time);
                batch
                    .into_iter()
                    .zip(result.poses)
                    .map(|(f, poses)| {
                        let mut frame = f.frame;
                        let meta = PoseMeta {
                            stream_index: f.stream,
                            batch_id,
                            batch_size,
                            width: frame.info.width() as i32,
                            height: frame.info.height() as i32,
                            num_keypoints: num_keypoints as u32,
                            people: poses
                                .into_iter()
                                .map(|p| Person { bbox: p.bbox, score: p.score, keypoints: p.keypoints })
                                .collect(),
                            inference_ns,
                            queue_ns: started.saturating_sub(f.arrived),
                        };
                        // A shallow copy at most: the memory (the pixels) is shared, not copied.
                        if let Err(e) = meta.attach(frame.buffer.make_mut()) {
                            gst::warning!(CAT, imp = self, "could not attach PoseMeta: {e}");
                        }
                        (f.stream, frame)
                    })
                    .collect()
            }
            Err(message) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("inference failed: {message}"));
                let mut state = self.shared.lock();
                for f in &batch {
                    if let Some(s) = state.streams.get_mut(&f.stream) {
                        s.flow = Err(gst::FlowError::Error);
                    }
                }
                drop(state);
                batch.into_iter().map(|f| (f.stream, f.frame)).collect()
            }
        }
    }

    // ---- state -----------------------------------------------------------------------

    fn load_engine(&self) -> Result<(), gst::StateChangeError> {
        let config = self.settings.lock().unwrap().engine_config();
        let mut engine = Engine::load(&config).map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::OpenRead, ("{e}"));
            gst::StateChangeError
        })?;
        for warning in &engine.warnings {
            gst::element_imp_warning!(self, gst::LibraryError::Init, ("{warning}"));
        }
        // Two warm-up frames: the first run is slow (allocations, kernel selection), the
        // second sizes the reported latency.
        let params = self.settings.lock().unwrap().decode_params();
        for _ in 0..2 {
            match engine.infer_grey_frame(&params) {
                Ok(r) => *self.frame_inference_time.lock().unwrap() = r.inference_time,
                Err(e) => {
                    gst::element_imp_error!(self, gst::LibraryError::Failed, ("warm-up inference failed: {e}"));
                    return Err(gst::StateChangeError);
                }
            }
        }
        gst::info!(
            CAT,
            imp = self,
            "loaded {} on {} (preprocessing on {}), one frame in {:?}",
            engine.model_path.display(),
            engine.provider,
            engine.preprocessing,
            self.frame_inference_time.lock().unwrap()
        );
        *self.provider.lock().unwrap() = (engine.provider, engine.preprocessing);
        *self.engine.lock().unwrap() = Some(engine);
        Ok(())
    }

    fn start(&self) {
        {
            let mut state = self.shared.lock();
            state.running = true;
            let config = self.settings.lock().unwrap().batch_config();
            state.batcher.set_config(config);
        }
        let element = self.obj().clone();
        let handle = std::thread::Builder::new()
            .name("posebatch-batch".into())
            .spawn(move || {
                let imp = element.imp();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| imp.batch_loop()));
                if result.is_err() {
                    gst::element_imp_error!(imp, gst::LibraryError::Failed, ("the batch thread panicked"));
                }
            })
            .expect("spawning a thread");
        *self.batch_thread.lock().unwrap() = Some(handle);
    }

    /// Wakes every waiting thread with `running` off, so that deactivating the pads cannot
    /// deadlock on a producer blocked in the chain function or a task waiting for output.
    fn begin_stop(&self) {
        let mut state = self.shared.lock();
        state.running = false;
        self.shared.changed.notify_all();
    }

    fn finish_stop(&self) {
        if let Some(handle) = self.batch_thread.lock().unwrap().take() {
            let _ = handle.join();
        }
        let mut state = self.shared.lock();
        let indices: Vec<u32> = state.batcher.streams().collect();
        for index in indices {
            state.batcher.start_flush(index);
            state.batcher.stop_flush(index);
            if let Some(s) = state.streams.get_mut(&index) {
                s.flow = Ok(gst::FlowSuccess::Ok);
                s.live = None;
            }
        }
    }

    // ---- called by the sink pad's properties -------------------------------------------

    pub(super) fn set_stream_priority(&self, pad: &PoseBatchSinkPad, priority: i32) {
        self.shared.lock().batcher.set_priority(pad.index(), priority);
    }

    /// Pauses or resumes stream `index`; false for an unknown stream or no change.
    ///
    /// Pausing drops the stream's queued frames, takes it out of the set batches wait for,
    /// sends downstream a GAP, and installs a blocking probe on its sink pad so its upstream
    /// thread waits there. Resuming removes the probe. Safe from any thread; never waits
    /// on the streaming threads.
    pub(super) fn set_stream_paused(&self, index: u32, paused: bool, reason: &'static str) -> bool {
        let mut state = self.shared.lock();
        let Some(sinkpad) = state.streams.get(&index).map(|s| s.sinkpad.clone()) else {
            return false;
        };
        if state.batcher.set_paused(index, paused).is_none() {
            return false;
        }
        let old_probe = if paused {
            state.batcher.push_event(index, StreamEvent::PauseGap);
            let probe = sinkpad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| gst::PadProbeReturn::Ok);
            let stream = state.streams.get_mut(&index).expect("checked above");
            stream.pause = probe.map(|id| (id, reason));
            None
        } else {
            state.streams.get_mut(&index).and_then(|s| s.pause.take())
        };
        self.shared.changed.notify_all();
        drop(state);
        if let Some((probe, _)) = old_probe {
            sinkpad.remove_probe(probe);
        }
        if !paused || reason != "gpu-memory" {
            self.memory_guard.lock().unwrap().forget(index);
        }
        sinkpad.imp().store_paused(paused);
        sinkpad.notify("paused");
        let name = if paused { "posebatch-stream-paused" } else { "posebatch-stream-resumed" };
        gst::info!(CAT, imp = self, "{name}: stream {index} ({reason})");
        let s = gst::Structure::builder(name).field("stream-index", index).field("reason", reason).build();
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        true
    }

    // ---- GPU-memory guard ---------------------------------------------------------------

    /// Starts the thread that reads GPU memory (for the stats and the guard), if there is
    /// a GPU monitor: the application's, else NVML unless inference is on CPU by choice.
    fn start_memory_guard(&self) {
        let settings = self.settings();
        let monitor: Box<dyn MemoryMonitor> = match self.monitor_override.lock().unwrap().take() {
            Some(m) => m,
            None if settings.provider == ExecutionProvider::Cpu => return,
            None => match NvmlMonitor::new(settings.device_id) {
                Ok(m) => Box::new(m),
                Err(why) => {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::NotFound,
                        ("GPU memory guard unavailable: {why}")
                    );
                    return;
                }
            },
        };
        let element = self.obj().downgrade();
        let interval = *self.guard_interval.lock().unwrap();
        let mut monitor = monitor;
        let ticker = Periodic::start("posebatch-memory", interval, move || {
            let Some(element) = element.upgrade() else { return false };
            element.imp().guard_step(monitor.as_mut());
            true
        });
        *self.guard_thread.lock().unwrap() = Some(ticker);
    }

    fn stop_memory_guard(&self) {
        // Dropping a Periodic stops its thread.
        self.guard_thread.lock().unwrap().take();
        self.stats_thread.lock().unwrap().take();
    }

    /// One reading, at most one pause or resume.
    fn guard_step(&self, monitor: &mut dyn MemoryMonitor) {
        let reading = match monitor.read() {
            Ok(r) => r,
            Err(e) => {
                gst::debug!(CAT, imp = self, "GPU memory reading failed: {e}");
                return;
            }
        };
        self.stats.lock().unwrap().memory_reading(reading);
        let (limit, resume) = {
            let s = self.settings.lock().unwrap();
            (s.vram_limit, s.vram_resume)
        };
        let active: Vec<(u32, i32)> = {
            let state = self.shared.lock();
            state
                .streams
                .iter()
                .filter(|(i, _)| !state.batcher.is_paused(**i))
                .map(|(i, s)| (*i, s.sinkpad.imp().priority()))
                .collect()
        };
        let action = self.memory_guard.lock().unwrap().step(&reading, limit, resume, &active);
        match action {
            Some(GuardAction::Pause(i)) => {
                self.set_stream_paused(i, true, "gpu-memory");
            }
            Some(GuardAction::Resume(i)) => {
                self.set_stream_paused(i, false, "gpu-memory");
            }
            None => {}
        }
    }
}

/// Runs a pad function on the element, turning a panic into an element error. A pad that
/// has lost its parent (released, element shutting down) gets `fallback`.
fn guarded<R>(parent: Option<&gst::Object>, fallback: impl FnOnce() -> R, f: impl FnOnce(&PoseBatch) -> R) -> R {
    match parent {
        Some(p) if p.is::<super::PoseBatch>() => PoseBatch::catch_panic_pad_function(parent, fallback, f),
        _ => fallback(),
    }
}

#[glib::object_subclass]
impl ObjectSubclass for PoseBatch {
    const NAME: &'static str = "GstPoseBatch";
    type Type = super::PoseBatch;
    type ParentType = gst::Element;
    type Interfaces = (gst::ChildProxy,);
}

impl ObjectImpl for PoseBatch {
    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            let control = |name: &str, pause: bool| {
                glib::subclass::Signal::builder(name)
                    .param_types([u32::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(move |args| {
                        let element = args[0].get::<super::PoseBatch>().ok()?;
                        let index = args[1].get::<u32>().ok()?;
                        Some(element.imp().set_stream_paused(index, pause, "user").to_value())
                    })
                    .build()
            };
            vec![control("pause-stream", true), control("resume-stream", false)]
        });
        SIGNALS.as_ref()
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Settings::default();
            vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("YOLO-pose ONNX file; empty = the installed default (POSEBATCH_MODEL or ~/.local/share/posebatch/models)")
                    .default_value(Some(""))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("execution-provider", d.provider)
                    .nick("Execution provider")
                    .blurb("Where inference runs; a GPU provider that cannot start falls back to CPU with a warning")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("device-id")
                    .nick("Device ID")
                    .blurb("GPU index")
                    .default_value(d.device_id)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("precision", d.precision)
                    .nick("Precision")
                    .blurb("Model weights: auto = fp16 on GPU, fp32 on CPU")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("input-size")
                    .nick("Input size")
                    .blurb("Model input side in pixels (multiple of 32); frames are letterboxed to it")
                    .minimum(32)
                    .maximum(4096)
                    .default_value(d.input_size)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-batch-size")
                    .nick("Max batch size")
                    .blurb("Most frames in one inference")
                    .minimum(1)
                    .maximum(256)
                    .default_value(d.max_batch_size)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("batch-timeout")
                    .nick("Batch timeout")
                    .blurb("Longest a queued frame waits for the batch to fill (ns)")
                    .default_value(d.batch_timeout)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("overflow", d.overflow)
                    .nick("Overflow")
                    .blurb("What happens when a stream's queue is full")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("queue-size")
                    .nick("Queue size")
                    .blurb("Frames a stream may have waiting")
                    .minimum(1)
                    .maximum(1024)
                    .default_value(d.queue_size)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("score-threshold")
                    .nick("Score threshold")
                    .blurb("Minimum person score")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.score_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("iou-threshold")
                    .nick("IoU threshold")
                    .blurb("Box overlap above which NMS keeps only the best person")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.iou_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-poses")
                    .nick("Max poses")
                    .blurb("Most people per frame")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(d.max_poses)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("CPU inference threads (0 = ONNX Runtime's default)")
                    .default_value(d.threads)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("vram-limit")
                    .nick("VRAM limit")
                    .blurb("Fraction of GPU memory above which streams are paused, lowest priority first (0 = off)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.vram_limit)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("vram-resume")
                    .nick("VRAM resume")
                    .blurb("Fraction of GPU memory under which streams paused for memory resume")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.vram_resume)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("stats-interval")
                    .nick("Stats interval")
                    .blurb("Period of the posebatch-stats bus message (ns, 0 = off)")
                    .default_value(d.stats_interval)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Stats")
                    .blurb("Counters, rates, latencies (ns), batch sizes and memory, in total and per stream (stream-N)")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model = value.get::<Option<String>>().unwrap().unwrap_or_default(),
            "execution-provider" => s.provider = value.get::<ExecutionProvider>().unwrap(),
            "device-id" => s.device_id = value.get().unwrap(),
            "precision" => s.precision = value.get::<PrecisionSetting>().unwrap(),
            "input-size" => s.input_size = value.get().unwrap(),
            "max-batch-size" => s.max_batch_size = value.get().unwrap(),
            "batch-timeout" => s.batch_timeout = value.get().unwrap(),
            "overflow" => s.overflow = value.get::<OverflowSetting>().unwrap(),
            "queue-size" => s.queue_size = value.get().unwrap(),
            "score-threshold" => s.score_threshold = value.get().unwrap(),
            "iou-threshold" => s.iou_threshold = value.get().unwrap(),
            "max-poses" => s.max_poses = value.get().unwrap(),
            "threads" => s.threads = value.get().unwrap(),
            "vram-limit" => s.vram_limit = value.get().unwrap(),
            "vram-resume" => s.vram_resume = value.get().unwrap(),
            "stats-interval" => s.stats_interval = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
        let config = s.batch_config();
        drop(s);
        self.shared.lock().batcher.set_config(config);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "model" => s.model.to_value(),
            "execution-provider" => s.provider.to_value(),
            "device-id" => s.device_id.to_value(),
            "precision" => s.precision.to_value(),
            "input-size" => s.input_size.to_value(),
            "max-batch-size" => s.max_batch_size.to_value(),
            "batch-timeout" => s.batch_timeout.to_value(),
            "overflow" => s.overflow.to_value(),
            "queue-size" => s.queue_size.to_value(),
            "score-threshold" => s.score_threshold.to_value(),
            "iou-threshold" => s.iou_threshold.to_value(),
            "max-poses" => s.max_poses.to_value(),
            "threads" => s.threads.to_value(),
            "vram-limit" => s.vram_limit.to_value(),
            "vram-resume" => s.vram_resume.to_value(),
            "stats-interval" => s.stats_interval.to_value(),
            "stats" => {
                drop(s);
                self.stats().to_value()
            }
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl PoseBatch {
    /// How long ago, on the pipeline clock, a buffer with this PTS was captured.
    fn capture_delay(&self, segment: &gst::FormattedSegment<gst::ClockTime>, pts: gst::ClockTime) -> Option<u64> {
        let element = self.obj();
        let now = element.clock()?.time().checked_sub(element.base_time()?)?;
        let running = segment.to_running_time(pts)?;
        Some(now.nseconds().saturating_sub(running.nseconds()))
    }

    /// The `stats` property and the `posebatch-stats` message.
    fn stats(&self) -> gst::Structure {
        // Read before taking the state lock: the engine is busy for a whole batch.
        let (provider, preprocessing) = *self.provider.lock().unwrap();
        let reports: Vec<stats::StreamReport> = {
            let state = self.shared.lock();
            state
                .batcher
                .streams()
                .map(|index| stats::StreamReport {
                    index,
                    counters: state.batcher.counters(index).unwrap_or_default(),
                    queued: state.batcher.frames_waiting(index),
                    paused: state.batcher.is_paused(index),
                    pause_reason: state.streams.get(&index).and_then(|s| s.pause.as_ref()).map_or("", |p| p.1),
                })
                .collect()
        };
        stats::structure(&self.stats.lock().unwrap(), &reports, provider, preprocessing)
    }

    fn start_stats_messages(&self) {
        let interval = self.settings.lock().unwrap().stats_interval;
        if interval == 0 {
            return;
        }
        let element = self.obj().downgrade();
        let ticker = Periodic::start("posebatch-stats", Duration::from_nanos(interval), move || {
            let Some(element) = element.upgrade() else { return false };
            let s = element.imp().stats();
            let _ = element.post_message(gst::message::Element::builder(s).src(&element).build());
            true
        });
        *self.stats_thread.lock().unwrap() = Some(ticker);
    }
}

impl GstObjectImpl for PoseBatch {}

impl ElementImpl for PoseBatch {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Batched pose estimation",
                "Filter/Analyzer/Video",
                "Runs one batched multi-person pose inference over N streams and attaches PoseMeta to each frame",
                "posebatch developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = frames::caps();
            vec![
                gst::PadTemplate::with_gtype(
                    "sink_%u",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Request,
                    &caps,
                    PoseBatchSinkPad::static_type(),
                )
                .unwrap(),
                gst::PadTemplate::new("src_%u", gst::PadDirection::Src, gst::PadPresence::Sometimes, &caps).unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn request_new_pad(
        &self,
        templ: &gst::PadTemplate,
        name: Option<&str>,
        _caps: Option<&gst::Caps>,
    ) -> Option<gst::Pad> {
        if templ.direction() != gst::PadDirection::Sink {
            return None;
        }
        let mut state = self.shared.lock();
        let index = match name.and_then(|n| n.strip_prefix("sink_")).map(str::parse::<u32>) {
            Some(Ok(i)) if !state.streams.contains_key(&i) => i,
            Some(_) => {
                gst::warning!(CAT, imp = self, "pad name {name:?} is taken or malformed");
                return None;
            }
            None => (0..).find(|i| !state.streams.contains_key(i)).expect("a free index"),
        };
        let sinkpad = gst::PadBuilder::<PoseBatchSinkPad>::from_template(templ)
            .name(format!("sink_{index}"))
            .chain_function(|pad, parent, buffer| {
                guarded(parent, || Err(gst::FlowError::Error), |imp| imp.sink_chain(pad, buffer))
            })
            .event_function(|pad, parent, event| {
                guarded(parent, || false, |imp| imp.sink_event(pad, event))
            })
            .query_function(|pad, parent, query| {
                guarded(parent, || false, |imp| imp.sink_query(pad, query))
            })
            .iterate_internal_links_function(|pad, parent| {
                guarded(parent, || gst::Iterator::from_vec(vec![]), |imp| {
                    gst::Iterator::from_vec(imp.srcpad(pad.index()).into_iter().collect())
                })
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        let src_templ = self.obj().pad_template("src_%u").expect("template exists");
        let srcpad = gst::Pad::builder_from_template(&src_templ)
            .name(format!("src_{index}"))
            .event_function(|pad, parent, event| {
                // Upstream events (seek, QoS, navigation) go to this stream's sink pad.
                guarded(parent, || false, |_| gst::Pad::event_default(pad, parent, event))
            })
            .query_function(|pad, parent, query| {
                guarded(parent, || false, |imp| imp.src_query(pad, query))
            })
            .iterate_internal_links_function(|pad, parent| {
                guarded(parent, || gst::Iterator::from_vec(vec![]), |imp| {
                    let sinkpad = imp.shared.lock().streams.get(&stream_index(pad)).map(|s| s.sinkpad.clone().upcast());
                    gst::Iterator::from_vec(sinkpad.into_iter().collect())
                })
            })
            .activatemode_function(|pad, parent, mode, active| {
                guarded(
                    parent,
                    || Err(gst::loggable_error!(CAT, "panic activating pad")),
                    |imp| match mode {
                        gst::PadMode::Push => imp.src_activate_mode(pad, active),
                        _ => Err(gst::loggable_error!(CAT, "pull mode is not supported")),
                    },
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        let overflow = self.settings.lock().unwrap().overflow.resolve(false);
        state.batcher.add_stream(index, overflow, sinkpad.imp().priority());
        state.streams.insert(
            index,
            StreamPads {
                sinkpad: sinkpad.clone(),
                srcpad: srcpad.clone(),
                info: None,
                live: None,
                flow: Ok(gst::FlowSuccess::Ok),
                pause: None,
                next_ts: None,
                segment: None,
            },
        );
        drop(state);

        let element = self.obj();
        let _ = element.add_pad(&srcpad);
        let _ = element.add_pad(&sinkpad);
        // Added while running: activate here (the source pad's task needs its parent).
        if element.current_state() > gst::State::Ready || element.pending_state() > gst::State::Ready {
            let _ = srcpad.set_active(true);
            let _ = sinkpad.set_active(true);
        }
        element.child_added(&sinkpad, &sinkpad.name());
        let _ = element.post_message(gst::message::Latency::builder().src(&*element).build());
        Some(sinkpad.upcast())
    }

    fn release_pad(&self, pad: &gst::Pad) {
        let Some(sinkpad) = pad.downcast_ref::<PoseBatchSinkPad>() else {
            return;
        };
        let index = sinkpad.index();
        let stream = {
            let mut state = self.shared.lock();
            state.batcher.remove_stream(index);
            self.shared.changed.notify_all();
            state.streams.remove(&index)
        };
        self.memory_guard.lock().unwrap().forget(index);
        let element = self.obj();
        if let Some(stream) = stream {
            if let Some((probe, _)) = stream.pause {
                stream.sinkpad.remove_probe(probe);
            }
            let _ = stream.sinkpad.set_active(false);
            let _ = stream.srcpad.set_active(false);
            let _ = element.remove_pad(&stream.srcpad);
        }
        element.child_removed(pad, &pad.name());
        let _ = element.remove_pad(pad);
        let _ = element.post_message(gst::message::Latency::builder().src(&*element).build());
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        gst::debug!(CAT, imp = self, "{transition:?}");
        match transition {
            gst::StateChange::NullToReady => self.load_engine()?,
            gst::StateChange::ReadyToPaused => {
                *self.stats.lock().unwrap() = Stats::default();
                self.start();
                self.start_memory_guard();
                self.start_stats_messages();
            }
            gst::StateChange::PausedToReady => {
                self.stop_memory_guard();
                self.begin_stop();
            }
            _ => {}
        }
        let result = self.parent_change_state(transition);
        match transition {
            gst::StateChange::PausedToReady => self.finish_stop(),
            gst::StateChange::ReadyToNull => *self.engine.lock().unwrap() = None,
            gst::StateChange::ReadyToPaused if result.is_err() => {
                self.begin_stop();
                self.finish_stop();
            }
            _ => {}
        }
        result
    }
}

impl ChildProxyImpl for PoseBatch {
    fn child_by_index(&self, index: u32) -> Option<glib::Object> {
        self.obj().sink_pads().into_iter().nth(index as usize).map(|p| p.upcast())
    }

    fn child_by_name(&self, name: &str) -> Option<glib::Object> {
        self.obj().static_pad(name).map(|p| p.upcast())
    }

    fn children_count(&self) -> u32 {
        self.obj().num_sink_pads() as u32
    }
}

impl PoseBatch {
    pub(super) fn set_memory_monitor(&self, monitor: Box<dyn MemoryMonitor>, interval: Duration) {
        *self.monitor_override.lock().unwrap() = Some(monitor);
        *self.guard_interval.lock().unwrap() = interval;
    }
}
