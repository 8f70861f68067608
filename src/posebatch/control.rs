//! Stream control and reporting: pausing and resuming streams (the blocking probe, the GAP,
//! the bus messages), priorities, the GPU-memory guard's thread, the stats (the `stats`
//! property and the periodic `posebatch-stats` message) and the metrics endpoint.

use std::time::Duration;

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::{CAT, PoseBatch};
use super::state::StreamEvent;
use crate::batcher::PauseReason;
use crate::gpu_monitor::NvmlMonitor;
use crate::memory_guard::{GuardAction, MemoryMonitor};
use crate::metrics::{self, ElementSnapshot};
use crate::periodic::Periodic;
use crate::stats;

impl PoseBatch {
    pub(super) fn set_stream_priority(&self, index: u32, priority: i32) {
        self.shared.lock().batcher.set_priority(index, priority);
    }

    pub(super) fn stream_priority(&self, index: u32) -> i32 {
        self.shared.lock().batcher.priority(index).unwrap_or_default()
    }

    pub(super) fn stream_paused(&self, index: u32) -> bool {
        self.shared.lock().batcher.is_paused(index)
    }

    /// Pauses or resumes stream `index` (`reason`: who asks); false for an unknown stream
    /// or no change.
    ///
    /// Pausing drops the stream's queued frames, takes it out of the set batches wait for,
    /// sends downstream a GAP, and installs a blocking probe on its sink pad so its upstream
    /// thread waits there. Resuming removes the probe. Safe from any thread; never waits
    /// on the streaming threads.
    pub(super) fn set_stream_paused(&self, index: u32, paused: bool, reason: PauseReason) -> bool {
        let mut state = self.shared.lock();
        let Some(sinkpad) = state.streams.get(&index).map(|s| s.sinkpad.clone()) else {
            return false;
        };
        if state.batcher.set_paused(index, paused.then_some(reason)).is_none() {
            return false;
        }
        let old_probe = if paused {
            state.batcher.push_event(index, StreamEvent::PauseGap);
            let probe = sinkpad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| gst::PadProbeReturn::Ok);
            state.streams.get_mut(&index).expect("checked above").pause_probe = probe;
            None
        } else {
            state.streams.get_mut(&index).and_then(|s| s.pause_probe.take())
        };
        self.shared.wake_batch_thread();
        self.shared.wake_producers();
        state.wake_output(index);
        drop(state);
        if let Some(probe) = old_probe {
            sinkpad.remove_probe(probe);
        }
        // A stream the guard paused is the guard's to resume, unless someone else did.
        if reason != PauseReason::GpuMemory {
            self.memory_guard.lock().unwrap().forget(index);
        }
        sinkpad.notify("paused");
        let name = if paused { "posebatch-stream-paused" } else { "posebatch-stream-resumed" };
        gst::info!(CAT, imp = self, "{name}: stream {index} ({})", reason.as_str());
        let s = gst::Structure::builder(name).field("stream-index", index).field("reason", reason.as_str()).build();
        let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        true
    }

    /// The thread that reads GPU memory (for the stats and the guard), if there is a GPU
    /// monitor: the application's, else NVML when the model runs on a GPU (on the CPU there
    /// is no GPU memory of ours to guard, and no warning about it).
    pub(super) fn start_memory_guard(&self) -> Option<Periodic> {
        let device_id = self.settings.lock().unwrap().device_id;
        let on_gpu = matches!(self.model_placement().0, "cuda" | "tensorrt");
        let (mut monitor, interval): (Box<dyn MemoryMonitor>, Duration) = match self.monitor_override.lock().unwrap().take() {
            Some(given) => given,
            None if !on_gpu => return None,
            None => match NvmlMonitor::new(device_id) {
                Ok(m) => (Box::new(m), Duration::from_millis(250)),
                Err(why) => {
                    gst::element_imp_warning!(self, gst::ResourceError::NotFound, ("GPU memory guard unavailable: {why}"));
                    return None;
                }
            },
        };
        let element = self.obj().downgrade();
        Some(Periodic::start("posebatch-memory", interval, move || {
            let Some(element) = element.upgrade() else { return false };
            element.imp().guard_step(monitor.as_mut());
            true
        }))
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
            let batcher = &state.batcher;
            batcher
                .streams()
                .filter(|i| !batcher.is_paused(*i))
                .map(|i| (i, batcher.priority(i).unwrap_or_default()))
                .collect()
        };
        let action = self.memory_guard.lock().unwrap().step(&reading, limit, resume, &active);
        match action {
            Some(GuardAction::Pause(i)) => self.set_stream_paused(i, true, PauseReason::GpuMemory),
            Some(GuardAction::Resume(i)) => self.set_stream_paused(i, false, PauseReason::GpuMemory),
            None => false,
        };
    }

    /// The `posebatch-stats` ticker, unless `stats-interval` is 0.
    pub(super) fn start_stats_messages(&self) -> Option<Periodic> {
        let interval = self.settings.lock().unwrap().stats_interval;
        if interval == 0 {
            return None;
        }
        let element = self.obj().downgrade();
        Some(Periodic::start("posebatch-stats", Duration::from_nanos(interval), move || {
            let Some(element) = element.upgrade() else { return false };
            let s = element.imp().stats();
            let _ = element.post_message(gst::message::Element::builder(s).src(&element).build());
            true
        }))
    }

    /// The `stats` property and the `posebatch-stats` message.
    pub(super) fn stats(&self) -> gst::Structure {
        let (provider, preprocessing) = self.model_placement();
        stats::structure(&self.stats.lock().unwrap(), &self.stream_reports(), provider, preprocessing)
    }

    /// What a scrape of the metrics endpoint shows of this element now.
    pub(super) fn metrics_snapshot(&self) -> ElementSnapshot {
        let (provider, _) = self.model_placement();
        let reachable = (provider == "remote").then(|| !self.server_lost.load(std::sync::atomic::Ordering::Relaxed));
        let name = self.obj().name().to_string();
        stats::snapshot(&self.stats.lock().unwrap(), &self.stream_reports(), &name, provider, reachable)
    }

    /// Each stream's counters and state, with its latency budget.
    fn stream_reports(&self) -> Vec<stats::StreamReport> {
        let (mut reports, upstream): (Vec<stats::StreamReport>, Vec<(bool, gst::ClockTime)>) = {
            let state = self.shared.lock();
            let batcher = &state.batcher;
            batcher
                .streams()
                .map(|index| {
                    let stream = state.streams.get(&index);
                    let report = stats::StreamReport {
                        index,
                        counters: batcher.counters(index).unwrap_or_default(),
                        queued: batcher.frames_waiting(index),
                        paused: batcher.is_paused(index),
                        pause_reason: batcher.paused_by(index).map_or("", PauseReason::as_str),
                        latency_budget: 0,
                    };
                    let live = stream.is_some_and(|s| s.live == Some(true));
                    (report, (live, stream.map_or(gst::ClockTime::ZERO, |s| s.upstream_latency)))
                })
                .unzip()
        };
        // The budgets read the settings and the state again: outside the state lock.
        for (report, (live, upstream_latency)) in reports.iter_mut().zip(upstream) {
            report.latency_budget = self.budget(live, upstream_latency).unwrap_or(0);
        }
        reports
    }

    /// Opens (or joins) the metrics endpoint named by `metrics-address`, at NULL->READY: a
    /// busy or malformed address is an element error.
    pub(super) fn start_metrics(&self) -> Result<(), gst::StateChangeError> {
        let address = self.settings.lock().unwrap().metrics_address.clone();
        if address.is_empty() {
            return Ok(());
        }
        let element = self.obj().downgrade();
        let source = Box::new(move || element.upgrade().map(|e| e.imp().metrics_snapshot()));
        match metrics::register(&address, source) {
            Ok(registration) => {
                gst::info!(CAT, imp = self, "metrics on http://{}/metrics", registration.local_address());
                *self.metrics.lock().unwrap() = Some(registration);
                Ok(())
            }
            Err(why) => {
                gst::element_imp_error!(self, gst::ResourceError::OpenWrite, ("metrics-address: {why}"));
                Err(gst::StateChangeError)
            }
        }
    }

    /// Leaves the metrics endpoint (closing it if no other element serves on it).
    pub(super) fn stop_metrics(&self) {
        let registration = self.metrics.lock().unwrap().take();
        drop(registration); // outside the lock: it may join the endpoint's thread
    }
}
