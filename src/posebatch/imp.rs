//! The `posebatch` element itself: its state, its pads (created and released in pairs),
//! its properties and signals (delegated to `properties.rs`), and its state changes, which
//! load the model and start and stop the threads. What each thread does lives in its own
//! file: `sink.rs`, `source.rs`, `inference.rs`, `control.rs`; `state.rs` says which locks
//! they share and in what order.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::inference::LoadedModel;
use super::properties::{self, Settings};
use super::sinkpad::PoseBatchSinkPad;
use super::state::{Shared, State, StreamPads};
use crate::batcher::Batcher;
use crate::formats;
use crate::memory_guard::{MemoryGuard, MemoryMonitor};
use crate::periodic::Periodic;
use crate::stats::Stats;
use crate::smoother::Smoother;
use crate::tracker::Tracker;

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("posebatch", gst::DebugColorFlags::empty(), Some("Batched pose estimation"))
});

/// The threads that run between READY->PAUSED and PAUSED->READY.
struct Workers {
    batch_thread: JoinHandle<()>,
    /// Dropping a `Periodic` stops its thread.
    memory_guard: Option<Periodic>,
    stats_ticker: Option<Periodic>,
}

pub struct PoseBatch {
    pub(super) settings: Mutex<Settings>,
    pub(super) shared: Shared,
    /// The model READY loaded; None in NULL.
    pub(super) model: Mutex<Option<std::sync::Arc<LoadedModel>>>,
    workers: Mutex<Option<Workers>>,
    /// Time base of the batcher's clock.
    epoch: Instant,
    pub(super) memory_guard: Mutex<MemoryGuard>,
    /// A GPU-memory monitor given by the application (tests feed readings this way), and
    /// its polling interval; else NVML.
    pub(super) monitor_override: Mutex<Option<(Box<dyn MemoryMonitor>, Duration)>>,
    pub(super) stats: Mutex<Stats>,
    /// Each stream's tracker; used by the batch thread, reset on flushes.
    pub(super) trackers: Mutex<BTreeMap<u32, Tracker>>,
    /// Each stream's keypoint smoothing (by track ID); used and reset as the trackers are.
    pub(super) smoothers: Mutex<BTreeMap<u32, Smoother>>,
    /// The inference server was lost (its warning given); set back when poses return.
    pub(super) server_lost: AtomicBool,
    /// This element's place on its metrics endpoint, from READY to NULL.
    pub(super) metrics: Mutex<Option<crate::metrics::Registration>>,
}

impl Default for PoseBatch {
    fn default() -> Self {
        let settings = Settings::default();
        let state = State {
            batcher: Batcher::new(settings.batch_config()),
            streams: Default::default(),
            running: false,
            next_batch_id: 0,
        };
        PoseBatch {
            shared: Shared::new(state),
            settings: Mutex::new(settings),
            model: Mutex::new(None),
            workers: Mutex::new(None),
            epoch: Instant::now(),
            memory_guard: Mutex::new(MemoryGuard::default()),
            monitor_override: Mutex::new(None),
            stats: Mutex::new(Stats::default()),
            trackers: Mutex::new(BTreeMap::new()),
            smoothers: Mutex::new(BTreeMap::new()),
            server_lost: AtomicBool::new(false),
            metrics: Mutex::new(None),
        }
    }
}

impl PoseBatch {
    /// Nanoseconds on the element's own clock (the batcher's time base).
    pub(super) fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    pub(super) fn set_memory_monitor(&self, monitor: Box<dyn MemoryMonitor>, interval: Duration) {
        *self.monitor_override.lock().unwrap() = Some((monitor, interval));
    }

    /// READY->PAUSED: the batch thread, the memory guard and the stats ticker.
    fn start(&self) {
        *self.stats.lock().unwrap() = Stats::default();
        let config = self.settings.lock().unwrap().batch_config();
        {
            let mut state = self.shared.lock();
            state.running = true;
            state.batcher.set_config(config);
        }
        let workers = Workers {
            batch_thread: self.spawn_batch_thread(),
            memory_guard: self.start_memory_guard(),
            stats_ticker: self.start_stats_messages(),
        };
        *self.workers.lock().unwrap() = Some(workers);
    }

    /// First half of PAUSED->READY, before the pads are deactivated: stops the timers and
    /// wakes every waiting thread with `running` off, so deactivating the pads cannot
    /// deadlock on a producer blocked in the chain function or a task waiting for output.
    fn begin_stop(&self) -> Option<JoinHandle<()>> {
        let workers = self.workers.lock().unwrap().take();
        let mut state = self.shared.lock();
        state.running = false;
        self.shared.wake_everyone(&state);
        drop(state);
        workers.map(|Workers { batch_thread, memory_guard, stats_ticker }| {
            drop((memory_guard, stats_ticker));
            batch_thread
        })
    }

    /// Second half, once the pads are inactive: joins the batch thread and empties the
    /// queues (counted as dropped), ready for the next start.
    fn finish_stop(&self, batch_thread: Option<JoinHandle<()>>) {
        if let Some(handle) = batch_thread {
            let _ = handle.join();
        }
        let mut state = self.shared.lock();
        let indices: Vec<u32> = state.batcher.streams().collect();
        for index in indices {
            state.batcher.start_flush(index);
            state.batcher.stop_flush(index);
            if let Some(s) = state.streams.get_mut(&index) {
                s.output.set_flow(Ok(gst::FlowSuccess::Ok));
                s.live = None;
            }
        }
    }

    /// Creates the sink/source pad pair of stream `index`; their pad functions know it.
    fn new_pad_pair(&self, templ: &gst::PadTemplate, index: u32) -> (PoseBatchSinkPad, gst::Pad) {
        let sinkpad = gst::PadBuilder::<PoseBatchSinkPad>::from_template(templ)
            .name(format!("sink_{index}"))
            .chain_function(|pad, parent, buffer| {
                guarded(parent, || Err(gst::FlowError::Error), |imp| imp.sink_chain(pad, buffer))
            })
            .event_function(|pad, parent, event| guarded(parent, || false, |imp| imp.sink_event(pad, event)))
            .query_function(|pad, parent, query| guarded(parent, || false, |imp| imp.sink_query(pad, query)))
            .iterate_internal_links_function(move |_, parent| {
                guarded(parent, no_links, |imp| imp.linked_pad(index, |s| s.srcpad.clone()))
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        sinkpad.set_index(index);
        let src_templ = self.obj().pad_template("src_%u").expect("template exists");
        let srcpad = gst::Pad::builder_from_template(&src_templ)
            .name(format!("src_{index}"))
            .event_function(move |pad, parent, event| guarded(parent, || false, |imp| imp.src_event(index, pad, event)))
            .query_function(move |pad, parent, query| guarded(parent, || false, |imp| imp.src_query(index, pad, query)))
            .iterate_internal_links_function(move |_, parent| {
                guarded(parent, no_links, |imp| imp.linked_pad(index, |s| s.sinkpad.clone().upcast()))
            })
            .activatemode_function(move |pad, parent, mode, active| {
                guarded(
                    parent,
                    || Err(gst::loggable_error!(CAT, "panic activating pad")),
                    |imp| match mode {
                        gst::PadMode::Push => imp.src_activate_mode(index, pad, active),
                        _ => Err(gst::loggable_error!(CAT, "pull mode is not supported")),
                    },
                )
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        (sinkpad, srcpad)
    }

    /// The other pad of stream `index`'s pair, as an internal-links iterator.
    fn linked_pad(&self, index: u32, pick: impl Fn(&StreamPads) -> gst::Pad) -> gst::Iterator<gst::Pad> {
        gst::Iterator::from_vec(self.shared.lock().streams.get(&index).map(pick).into_iter().collect())
    }
}

fn no_links() -> gst::Iterator<gst::Pad> {
    gst::Iterator::from_vec(vec![])
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
        properties::signals()
    }

    fn properties() -> &'static [glib::ParamSpec] {
        properties::param_specs()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let config = {
            let mut settings = self.settings.lock().unwrap();
            settings.set(pspec.name(), value);
            settings.batch_config()
        };
        self.shared.lock().batcher.set_config(config);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stats" => self.stats().to_value(),
            name => self.settings.lock().unwrap().get(name),
        }
    }
}

impl GstObjectImpl for PoseBatch {}

impl ElementImpl for PoseBatch {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Batched pose estimation",
                "Filter/Analyzer/Video",
                "Runs one batched multi-person pose inference (YOLO-pose, ONNX Runtime) over the frames of N \
                 streams and attaches PoseMeta to each frame; each sink_N pad's stream leaves by its src_N pad",
                "posebatch developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = formats::caps(&formats::POSEBATCH_FORMATS);
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
        let (sinkpad, srcpad) = self.new_pad_pair(templ, index);
        let overflow = self.settings.lock().unwrap().overflow.resolve(false);
        state.batcher.add_stream(index, overflow, 0);
        state.streams.insert(index, StreamPads::new(sinkpad.clone(), srcpad.clone()));
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
            let stream = state.streams.remove(&index);
            self.shared.wake_batch_thread();
            self.shared.wake_producers();
            stream
        };
        self.memory_guard.lock().unwrap().forget(index);
        self.trackers.lock().unwrap().remove(&index);
        self.smoothers.lock().unwrap().remove(&index);
        let element = self.obj();
        if let Some(stream) = stream {
            stream.output.wake();
            if let Some(probe) = stream.pause_probe {
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
        let mut batch_thread = None;
        match transition {
            gst::StateChange::NullToReady => {
                self.load_model()?;
                if let Err(e) = self.start_metrics() {
                    self.unload_model();
                    return Err(e);
                }
            }
            gst::StateChange::ReadyToPaused => self.start(),
            gst::StateChange::PausedToReady => batch_thread = self.begin_stop(),
            _ => {}
        }
        let result = self.parent_change_state(transition);
        match transition {
            gst::StateChange::PausedToReady => self.finish_stop(batch_thread),
            gst::StateChange::ReadyToNull => {
                self.stop_metrics();
                self.unload_model();
            }
            gst::StateChange::ReadyToPaused if result.is_err() => {
                let batch_thread = self.begin_stop();
                self.finish_stop(batch_thread);
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
