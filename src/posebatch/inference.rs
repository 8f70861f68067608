//! Inference: the model loaded at READY (with its warm-up), and the batch thread, which
//! takes each batch the batcher forms, runs it through the engine and attaches PoseMeta to
//! its frames.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use gst::subclass::prelude::*;

use super::imp::{CAT, PoseBatch};
use super::properties::LATENCY_BUDGET_OFF;
use super::state::Frame;
use crate::batcher::BatchFrame;
use crate::engine::{BatchResult, DecodeParams, Engine, EngineError, FrameView, WARM_UP_REMOTE_TIMEOUT, WarmUp};
use crate::formats;
use crate::meta::{Person, PoseMeta};
use crate::smoother::Smoother;
use crate::tracker::Tracker;

/// Between two tries of an unreachable server while a batch waits for it (the connection
/// itself backs off from 100 ms to 5 s between attempts to reconnect).
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// What became of a batch's frames.
enum Ran {
    /// Through inference (PoseMeta attached), or through a failed one (an element error).
    Inferred(Vec<((u32, u64), Frame)>),
    /// The inference server could not be reached: on without poses.
    WithoutInference(Vec<((u32, u64), Frame)>),
}

/// The model READY loaded, and what is known about it.
pub struct LoadedModel {
    /// Used by the batch thread (and the warm-up) only.
    engine: Mutex<Engine>,
    /// The execution provider it runs on ("cpu", "cuda", "tensorrt").
    pub provider: &'static str,
    /// Where frames are letterboxed ("cpu", "gpu").
    pub preprocessing: &'static str,
    /// Inference time of one frame, measured at READY; sizes the reported latency.
    pub frame_inference_time: Duration,
    /// One frame and a full batch timed at READY: the cost model's first guess.
    warm_up: WarmUp,
}

impl PoseBatch {
    /// Loads the model (NULL->READY): clear element errors when it cannot, warnings for a
    /// provider that fell back, and the warm-up (every batch size on a GPU), which also
    /// measures the one-frame time the reported latency is sized by.
    pub(super) fn load_model(&self) -> Result<(), gst::StateChangeError> {
        let (config, params) = {
            let s = self.settings.lock().unwrap();
            (s.engine_config(), s.decode_params())
        };
        let mut engine = Engine::load(&config).map_err(|e| {
            gst::element_imp_error!(self, gst::ResourceError::OpenRead, ("{e}"));
            gst::StateChangeError
        })?;
        for warning in &engine.warnings {
            gst::element_imp_warning!(self, gst::LibraryError::Init, ("{warning}"));
        }
        let (smoothing, tracking) = {
            let s = self.settings.lock().unwrap();
            (s.smoothing, s.tracking)
        };
        if smoothing && !tracking {
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ("smoothing needs tracking=true (it filters each tracked person): keypoints are not smoothed"));
        }
        let warm_up = match engine.warm_up(config.max_batch_size, &params) {
            Ok(warm_up) => warm_up,
            // A remote server that answers too slowly now may do better later: start with the
            // longest a batch may wait as the time one takes.
            Err(EngineError::Unavailable(why)) => {
                gst::element_imp_warning!(self, gst::ResourceError::Read, ("inference server too slow at start: {why}"));
                let slow = self.configured_remote_timeout();
                WarmUp { one_frame: slow, max_batch_size: config.max_batch_size.max(1), full_batch: slow }
            }
            Err(e) => {
                gst::element_imp_error!(self, gst::LibraryError::Failed, ("warm-up inference failed: {e}"));
                return Err(gst::StateChangeError);
            }
        };
        let frame_inference_time = warm_up.one_frame;
        gst::info!(
            CAT,
            imp = self,
            "loaded {} on {} {} (preprocessing on {}), one frame in {frame_inference_time:?}",
            engine.model,
            engine.provider,
            engine.device.as_deref().unwrap_or(""),
            engine.preprocessing,
        );
        let model = LoadedModel {
            provider: engine.provider,
            preprocessing: engine.preprocessing,
            frame_inference_time,
            warm_up,
            engine: Mutex::new(engine),
        };
        *self.model.lock().unwrap() = Some(Arc::new(model));
        self.server_lost.store(false, Ordering::Relaxed);
        Ok(())
    }

    pub(super) fn unload_model(&self) {
        *self.model.lock().unwrap() = None;
    }

    fn loaded_model(&self) -> Option<Arc<LoadedModel>> {
        self.model.lock().unwrap().clone()
    }

    /// (provider, preprocessing) of the loaded model; "none" before READY.
    pub(super) fn model_placement(&self) -> (&'static str, &'static str) {
        self.loaded_model().map_or(("none", "none"), |m| (m.provider, m.preprocessing))
    }

    /// `remote-timeout` when set, else what the warm-up waits.
    fn configured_remote_timeout(&self) -> Duration {
        match self.settings.lock().unwrap().remote_timeout {
            0 => WARM_UP_REMOTE_TIMEOUT,
            ns => Duration::from_nanos(ns),
        }
    }

    /// How long a batch may wait for a remote server: `remote-timeout` when set; else, for
    /// live frames with a latency budget, the budget (a later answer is of no use); else no
    /// limit (None): a file's frames wait for their poses however busy the server is.
    fn remote_timeout(&self, batch: &[BatchFrame<Frame>]) -> Option<Duration> {
        let (remote_timeout, budget) = {
            let s = self.settings.lock().unwrap();
            (s.remote_timeout, s.latency_budget)
        };
        let live = batch.iter().any(|f| f.frame.running_time.is_some());
        match (remote_timeout, budget) {
            (0, LATENCY_BUDGET_OFF) => None,
            (0, _) if live => Some(Duration::from_nanos(self.reported_latency(gst::ClockTime::ZERO).nseconds())),
            (0, _) => None,
            (ns, _) => Some(Duration::from_nanos(ns)),
        }
    }

    pub(super) fn frame_inference_time(&self) -> Duration {
        self.loaded_model().map_or(Duration::ZERO, |m| m.frame_inference_time)
    }

    /// Starts the batch thread; it runs until `running` goes off.
    pub(super) fn spawn_batch_thread(&self) -> JoinHandle<()> {
        let element = self.obj().clone();
        std::thread::Builder::new()
            .name("posebatch-batch".into())
            .spawn(move || {
                let imp = element.imp();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| imp.batch_loop()));
                if result.is_err() {
                    gst::element_imp_error!(imp, gst::LibraryError::Failed, ("the batch thread panicked"));
                }
            })
            .expect("spawning a thread")
    }

    fn batch_loop(&self) {
        let Some(model) = self.loaded_model() else {
            gst::element_imp_error!(self, gst::LibraryError::Failed, ("no model loaded"));
            return;
        };
        // What the warm-up measured is what the cost model starts from, for a model in this
        // process. A server's warm-up says how busy it was at READY, nothing more: its first
        // answers can be slow (a cold or shared server), and a guess seeded from them would
        // drop live frames long after. The model learns from the real batches instead.
        if model.provider != "remote" {
            let w = model.warm_up;
            let mut state = self.shared.lock();
            state.batcher.record_batch(1, w.one_frame.as_nanos() as u64);
            state.batcher.record_batch(w.max_batch_size, w.full_batch.as_nanos() as u64);
        }
        loop {
            let (batch_id, batch, late) = {
                let mut state = self.shared.lock();
                loop {
                    if !state.running {
                        return;
                    }
                    let now = self.now();
                    // Frames that cannot make their deadline even alone go now.
                    let late = state.batcher.take_late(now);
                    if let Some(batch) = state.batcher.next_batch(now) {
                        let id = state.next_batch_id;
                        state.next_batch_id += 1;
                        break (id, batch, late);
                    }
                    if !late.is_empty() {
                        state.wake_outputs(); // events behind the dropped frames may be free
                        drop(state);
                        self.report_late(late);
                        state = self.shared.lock();
                        continue;
                    }
                    let timeout = state.batcher.wake_time().map(|t| Duration::from_nanos(t.saturating_sub(now).max(100_000)));
                    state = self.shared.wait_for_batch(state, timeout);
                }
            };
            // The queues have room again.
            self.shared.wake_producers();
            self.report_late(late);
            let started = self.now();
            let size = batch.len();
            let ran = self.infer_batch(&model, batch_id, batch, started);
            let mut state = self.shared.lock();
            match ran {
                Ran::Inferred(frames) => {
                    state.batcher.record_batch(size, self.now().saturating_sub(started));
                    state.batcher.complete_batch(frames);
                }
                Ran::WithoutInference(frames) => {
                    state.batcher.complete_batch_without_inference(frames);
                }
            }
            state.wake_outputs();
        }
    }

    /// Gives the people of each frame their track IDs, frame by frame in stream order, on
    /// each frame's timestamp (its arrival when it has none).
    fn track(&self, batch: &[BatchFrame<Frame>], people: &mut [Vec<Person>]) {
        let (tracking, config) = {
            let s = self.settings.lock().unwrap();
            (s.tracking, s.tracker_config())
        };
        if !tracking {
            return;
        }
        let mut trackers = self.trackers.lock().unwrap();
        for (f, people) in batch.iter().zip(people) {
            let time = f.frame.buffer.pts().map_or(f.frame.arrival, |pts| pts.nseconds());
            let tracker = trackers.entry(f.stream).or_insert_with(|| Tracker::new(config));
            tracker.set_config(config);
            tracker.update(time, people);
        }
    }

    /// Smooths the tracked people's keypoints and boxes (`smoothing`), frame by frame in
    /// stream order on each frame's timestamp; returns each frame's raw keypoints (None for
    /// every frame when smoothing is off).
    fn smooth(&self, batch: &[BatchFrame<Frame>], people: &mut [Vec<Person>]) -> Vec<Option<Vec<Vec<[f32; 3]>>>> {
        let (on, params, min_confidence) = {
            let s = self.settings.lock().unwrap();
            (s.smoothing && s.tracking, s.smoothing_params(), s.score_threshold)
        };
        if !on {
            return vec![None; batch.len()];
        }
        let started = std::time::Instant::now();
        let mut smoothers = self.smoothers.lock().unwrap();
        let mut raw = Vec::with_capacity(batch.len());
        for (f, people) in batch.iter().zip(people.iter_mut()) {
            raw.push(Some(people.iter().map(|p| p.keypoints.clone()).collect()));
            let time = f.frame.buffer.pts().map_or(f.frame.arrival, |pts| pts.nseconds());
            let smoother = smoothers.entry(f.stream).or_insert_with(|| Smoother::new(params, min_confidence));
            smoother.set_params(params, min_confidence);
            smoother.update(time, people);
        }
        let count = people.iter().map(Vec::len).sum::<usize>();
        self.stats.lock().unwrap().smoothing(count, started.elapsed().as_nanos() as u64);
        raw
    }

    /// Runs the batch; with no time limit (`timeout` None: frames without a deadline and no
    /// `remote-timeout`), a server that cannot be reached holds the batch, and so its
    /// streams (back-pressure), retried with the connection's backoff until it answers or
    /// the element stops. A file's frames then all get their poses, however long the
    /// server is away or busy.
    fn infer_waiting_if_asked(
        &self,
        engine: &mut Engine,
        views: &[FrameView],
        params: &DecodeParams,
        timeout: Option<Duration>,
    ) -> Result<BatchResult, EngineError> {
        loop {
            match engine.infer_within(views, params, timeout) {
                Err(EngineError::Unavailable(why)) if timeout.is_none() && self.shared.lock().running => {
                    self.server_lost_once(&format!("batches wait for it (no deadline, remote-timeout=0): {why}"));
                    std::thread::sleep(RETRY_PAUSE);
                }
                other => return other,
            }
        }
    }

    /// The warning that the inference server is gone, once until it is back.
    fn server_lost_once(&self, what_now: &str) {
        if !self.server_lost.swap(true, Ordering::Relaxed) {
            gst::element_imp_warning!(self, gst::ResourceError::Read, ("inference server unavailable, {what_now}"));
        }
    }

    /// Runs inference on a batch and attaches PoseMeta; returns the frames for output.
    fn infer_batch(&self, model: &LoadedModel, batch_id: u64, batch: Vec<BatchFrame<Frame>>, started: u64) -> Ran {
        let params = self.settings.lock().unwrap().decode_params();
        let timeout = self.remote_timeout(&batch);
        let result = {
            let mapped: Result<Vec<_>, _> = batch
                .iter()
                .map(|f| gst_video::VideoFrameRef::from_buffer_ref_readable(f.frame.buffer.as_ref(), &f.frame.info))
                .collect();
            match mapped {
                Err(e) => Err(EngineError::Input(format!("could not map a frame: {e}"))),
                Ok(mapped) => match mapped.iter().map(formats::view).collect::<Option<Vec<FrameView>>>() {
                    None => Err(EngineError::Input("unsupported frame layout".to_string())),
                    Some(views) => {
                        let mut engine = model.engine.lock().unwrap();
                        self.infer_waiting_if_asked(&mut engine, &views, &params, timeout).map(|r| (r, engine.num_keypoints()))
                    }
                },
            }
        };
        let batch_size = batch.len() as u32;
        let frames = |batch: Vec<BatchFrame<Frame>>| batch.into_iter().map(|f| (f.source(), f.frame)).collect();
        let (result, num_keypoints) = match result {
            Ok(ok) => ok,
            Err(EngineError::Unavailable(why)) => {
                // Frames go on without poses; the user hears it once, and again when it is over.
                self.server_lost_once(&format!("frames go on without poses until it is back: {why}"));
                return Ran::WithoutInference(frames(batch));
            }
            Err(e) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("inference failed: {e}"));
                let state = self.shared.lock();
                for f in &batch {
                    if let Some(s) = state.streams.get(&f.stream) {
                        s.output.set_flow(Err(gst::FlowError::Error));
                    }
                }
                drop(state);
                return Ran::Inferred(frames(batch));
            }
        };
        if self.server_lost.swap(false, Ordering::Relaxed) {
            gst::element_imp_info!(self, gst::ResourceError::Read, ("inference server back: poses again"));
        }
        let mut people_per_frame = result.people;
        self.track(&batch, &mut people_per_frame);
        let mut raw_keypoints = self.smooth(&batch, &mut people_per_frame).into_iter();
        let inference_ns = result.inference_time.as_nanos() as u64;
        {
            let mut stats = self.stats.lock().unwrap();
            match result.gpu_times {
                Some(gpu) => stats.batch(batch.len(), gpu.inference.as_nanos() as u64, gpu.preprocess.as_nanos() as u64, true),
                None => {
                    let preprocess = result.preprocess_time.as_nanos() as u64;
                    stats.batch(batch.len(), inference_ns.saturating_sub(preprocess), preprocess, false)
                }
            }
        }
        gst::trace!(CAT, imp = self, "batch {batch_id}: {batch_size} frames in {:?}", result.inference_time);
        let frames = batch
            .into_iter()
            .zip(people_per_frame)
            .map(|(f, people)| {
                let source = f.source();
                let mut frame = f.frame;
                let meta = PoseMeta {
                    stream_index: f.stream,
                    batch_id,
                    batch_size,
                    width: frame.info.width() as i32,
                    height: frame.info.height() as i32,
                    num_keypoints: num_keypoints as u32,
                    people,
                    inference_ns,
                    queue_ns: started.saturating_sub(f.arrived),
                    raw_keypoints: raw_keypoints.next().flatten(),
                };
                // A shallow copy at most: the memory (the pixels) is shared, not copied.
                if let Err(e) = meta.attach(frame.buffer.make_mut()) {
                    gst::warning!(CAT, imp = self, "could not attach PoseMeta: {e}");
                }
                (source, frame)
            })
            .collect();
        Ran::Inferred(frames)
    }
}
