//! The latency promise: how much latency the element reports, each live stream's budget,
//! each frame's deadline, and QoS both ways: frames dropped for lateness are reported
//! upstream (so decoders skip work that would be late anyway) and on the bus, and a
//! downstream sink's lateness reports make the element drop frames it would deliver late.
//! The policy itself (what is late, how large a batch may be) is the batcher's.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::{CAT, PoseBatch};
use super::properties::{LATENCY_BUDGET_AUTO, LATENCY_BUDGET_OFF};
use super::state::Frame;
use crate::batcher::LateFrame;

/// A frame's deadline on the element's clock: `now` there, the pipeline's running time
/// `now_running`, the frame's capture running time `captured` and the budget. Already past
/// (at most `now`) when the frame arrived later than its budget allows.
pub fn frame_deadline(now: u64, now_running: u64, captured: u64, budget: u64) -> u64 {
    let age = now_running.saturating_sub(captured);
    now.saturating_add(budget).saturating_sub(age)
}

/// Where a downstream QoS report puts the earliest running time worth delivering, as
/// GstVideoDecoder reads it: when late by `diff`, twice that and one frame beyond the
/// reported timestamp (so the element catches up); when early, the timestamp moved by diff.
pub fn earliest_time(timestamp: gst::ClockTime, diff: i64, frame: gst::ClockTime) -> gst::ClockTime {
    let ts = timestamp.nseconds() as i128;
    let earliest = if diff > 0 { ts + 2 * diff as i128 + frame.nseconds() as i128 } else { ts + diff as i128 };
    gst::ClockTime::from_nseconds(earliest.max(0) as u64)
}

impl PoseBatch {
    /// The pipeline's running time now (its clock minus the base time), when it has one.
    pub(super) fn running_time_now(&self) -> Option<gst::ClockTime> {
        let element = self.obj();
        element.clock()?.time().checked_sub(element.base_time()?)
    }

    /// What the element answers to a LATENCY query on a stream whose upstream reports
    /// `upstream_min`: with a `latency-budget`, the budget (it counts from capture, so it
    /// includes upstream's part); else upstream's latency plus the batch timeout and one
    /// full batch's inference.
    pub(super) fn reported_latency(&self, upstream_min: gst::ClockTime) -> gst::ClockTime {
        let (budget, batch_timeout, max_batch_size) = {
            let s = self.settings.lock().unwrap();
            (s.latency_budget, s.batch_timeout, s.max_batch_size)
        };
        if budget != LATENCY_BUDGET_AUTO && budget != LATENCY_BUDGET_OFF {
            return upstream_min.max(gst::ClockTime::from_nseconds(budget));
        }
        let streams = self.shared.lock().streams.len().max(1) as u32;
        let inference = self.frame_inference_time() * streams.min(max_batch_size.max(1));
        upstream_min + gst::ClockTime::from_nseconds(batch_timeout) + gst::ClockTime::from_nseconds(inference.as_nanos() as u64)
    }

    /// A live stream's latency budget in ns (None = no deadlines: off, or not live).
    pub(super) fn budget(&self, live: bool, upstream_min: gst::ClockTime) -> Option<u64> {
        let budget = self.settings.lock().unwrap().latency_budget;
        (live && budget != LATENCY_BUDGET_OFF).then(|| self.reported_latency(upstream_min).nseconds())
    }

    /// Frames dropped before inference because they would be late: each stream's upstream
    /// hears it (a QoS event: underflow, by how much, for which running time), and so does
    /// the application (a QoS message with the stream's counts), once per stream and round.
    pub(super) fn report_late(&self, late: Vec<LateFrame<Frame>>) {
        if late.is_empty() {
            return;
        }
        let cost_per_frame = self.shared.lock().batcher.predicted_cost(1);
        let mut latest: std::collections::BTreeMap<u32, &LateFrame<Frame>> = Default::default();
        for f in &late {
            latest.insert(f.stream, f);
        }
        for (stream, f) in latest {
            let Some(running) = f.frame.running_time else { continue };
            let (sinkpad, counters, active) = {
                let state = self.shared.lock();
                let Some(s) = state.streams.get(&stream) else { continue };
                let active = state.batcher.streams().filter(|i| !state.batcher.is_paused(*i)).count().max(1);
                (s.sinkpad.clone(), state.batcher.counters(stream).unwrap_or_default(), active)
            };
            // How much more work the streams bring than inference gets through: the time to
            // serve every active stream one frame, over this stream's frame interval.
            let interval = f.frame.buffer.duration().or_else(|| frame_interval(&f.frame.info)).map_or(0, |d| d.nseconds());
            let proportion = if interval == 0 { 1.0 } else { (cost_per_frame * active as u64) as f64 / interval as f64 };
            let lateness = f.lateness.min(i64::MAX as u64) as i64;
            gst::debug!(CAT, obj = sinkpad, "late by {lateness} ns at {running}, proportion {proportion:.2}");
            sinkpad.push_event(gst::event::Qos::new(gst::QOSType::Underflow, proportion, lateness, running));
            let processed = counters.frames_out;
            let dropped = counters.late + counters.dropped;
            let message = gst::message::Qos::builder(true)
                .src(&*self.obj())
                .running_time(running)
                .timestamp(f.frame.buffer.pts())
                .duration(f.frame.buffer.duration())
                .values(lateness, proportion, 1_000_000)
                .stats(gst::format::Buffers::from_u64(processed), gst::format::Buffers::from_u64(dropped))
                .build();
            let _ = self.obj().post_message(message);
        }
    }

    /// A QoS report from downstream on stream `index` (a syncing sink that got frames
    /// late): frames before the earliest useful running time will be dropped on arrival.
    /// The event also goes on upstream, so a decoder can skip those frames too.
    pub(super) fn downstream_qos(&self, index: u32, event: &gst::event::Qos) {
        let (kind, proportion, diff, timestamp) = event.get();
        let Some(timestamp) = timestamp else { return };
        let mut state = self.shared.lock();
        let Some(s) = state.streams.get_mut(&index) else { return };
        let frame = s.info.as_ref().and_then(frame_interval).unwrap_or(gst::ClockTime::ZERO);
        let earliest = earliest_time(timestamp, diff, frame);
        gst::log!(CAT, imp = self, "stream {index}: downstream QoS {kind:?} {proportion:.2} {diff}: earliest {earliest}");
        s.qos_earliest = Some(earliest);
    }
}

/// One frame's duration from the caps' frame rate.
fn frame_interval(info: &gst_video::VideoInfo) -> Option<gst::ClockTime> {
    let fps = info.fps();
    (fps.numer() > 0).then(|| gst::ClockTime::from_nseconds(1_000_000_000 * fps.denom() as u64 / fps.numer() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_frame_has_what_is_left_of_its_budget() {
        // Captured 30 ms before it arrived, 500 ms budget: it must leave within 470 ms.
        assert_eq!(frame_deadline(1_000 * MS, 2_000 * MS, 1_970 * MS, 500 * MS), 1_470 * MS);
        // Arrived 600 ms after capture: already 100 ms past its deadline.
        assert_eq!(frame_deadline(1_000 * MS, 2_000 * MS, 1_400 * MS, 500 * MS), 900 * MS);
        // Never before the element's clock began.
        assert_eq!(frame_deadline(0, 2_000 * MS, 0, 500 * MS), 0);
    }

    #[test]
    fn downstream_lateness_moves_the_earliest_time_as_decoders_do() {
        let t = gst::ClockTime::from_mseconds;
        assert_eq!(earliest_time(t(1000), 50 * MS as i64, t(33)), t(1133), "late: 2 x 50 ms and a frame ahead");
        assert_eq!(earliest_time(t(1000), -20 * MS as i64, t(33)), t(980), "early: nothing to skip beyond it");
    }
}
