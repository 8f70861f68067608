//! The sink side: each stream's buffers and events go into its queue in the batcher, in
//! order. This file only moves buffers and events; what to queue, drop or wait for is the
//! batcher's policy.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::{CAT, PoseBatch};
use super::latency;
use super::sinkpad::PoseBatchSinkPad;
use super::state::{FlowResult, Frame, StreamEvent};
use crate::batcher::PushOutcome;
use crate::formats;

impl PoseBatch {
    pub(super) fn sink_chain(&self, pad: &PoseBatchSinkPad, buffer: gst::Buffer) -> FlowResult {
        let index = pad.index();
        // Read before the state lock (lock order, and no clock read under it): the overflow
        // policy and the latency budget once upstream's liveness and latency are known
        // (asked on the first buffer), and the pipeline's running time.
        let overflow = self.settings.lock().unwrap().overflow;
        let (live, upstream_latency) = self.upstream_latency(pad);
        let budget = self.budget(live, upstream_latency);
        let now_running = self.running_time_now();
        let mut state = self.shared.lock();
        let Some(stream) = state.streams.get_mut(&index) else {
            return Err(gst::FlowError::Flushing);
        };
        let output = stream.output.clone();
        let newly_known = stream.live.is_none();
        stream.live = Some(live);
        stream.upstream_latency = upstream_latency;
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
        let running_time = stream.segment.as_ref().zip(buffer.pts()).and_then(|(segment, pts)| segment.to_running_time(pts));
        // A syncing sink downstream reported that frames this early reach it too late.
        if stream.qos_earliest.zip(running_time).is_some_and(|(earliest, running)| running < earliest) {
            state.batcher.refuse_late(index);
            return output.flow();
        }
        if newly_known {
            gst::debug!(CAT, obj = pad, "upstream live: {live}, latency {upstream_latency}, overflow: {:?}", overflow.resolve(live));
            state.batcher.set_overflow(index, overflow.resolve(live));
        }
        let now = self.now();
        let deadline = match (budget, now_running, running_time) {
            (Some(budget), Some(now_running), Some(captured)) => {
                Some(latency::frame_deadline(now, now_running.nseconds(), captured.nseconds(), budget))
            }
            _ => None,
        };
        let mut frame = Frame { buffer, info, arrival: now, running_time: running_time.filter(|_| live) };
        let dropped = loop {
            if !state.running {
                return Err(gst::FlowError::Flushing);
            }
            match state.batcher.push_frame(index, frame, self.now(), deadline) {
                PushOutcome::Queued { dropped } => break dropped,
                PushOutcome::Refused(_) => {
                    if state.batcher.is_flushing(index) || !state.batcher.has_stream(index) {
                        return Err(gst::FlowError::Flushing);
                    }
                    break None; // paused: the frame is dropped and counted
                }
                PushOutcome::Full(back) => {
                    // Block mode: back-pressure until the batch thread takes a frame.
                    frame = back;
                    state = self.shared.wait_for_room(state);
                }
            }
        };
        // pass-oldest may have released a frame for output.
        state.wake_output(index);
        drop(state);
        // A frame dropped for room goes back to its pool outside the lock (a pool's release
        // takes locks of its own).
        drop(dropped);
        self.shared.wake_batch_thread();
        output.flow()
    }

    /// Whether upstream is live (for overflow=auto) and its minimum latency (for the
    /// latency budget): asked once, on the first buffer.
    fn upstream_latency(&self, pad: &PoseBatchSinkPad) -> (bool, gst::ClockTime) {
        if let Some(s) = self.shared.lock().streams.get(&pad.index())
            && let Some(live) = s.live
        {
            return (live, s.upstream_latency);
        }
        let mut query = gst::query::Latency::new();
        if !pad.peer_query(&mut query) {
            return (false, gst::ClockTime::ZERO);
        }
        let (live, min, _) = query.result();
        (live, min)
    }

    pub(super) fn sink_event(&self, pad: &PoseBatchSinkPad, event: gst::Event) -> bool {
        use gst::EventView;
        let index = pad.index();
        let Some(srcpad) = self.shared.lock().streams.get(&index).map(|s| s.srcpad.clone()) else {
            return false;
        };
        gst::log!(CAT, obj = pad, "event {:?}", event.type_());
        match event.view() {
            EventView::FlushStart(_) => {
                let (_frames, events) = self.shared.lock().batcher.start_flush(index);
                self.shared.wake_producers();
                self.shared.wake_batch_thread();
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
                {
                    let mut state = self.shared.lock();
                    state.batcher.stop_flush(index);
                    if let Some(s) = state.streams.get(&index) {
                        s.output.set_flow(Ok(gst::FlowSuccess::Ok));
                    }
                }
                self.forget_tracks(index);
            }
            EventView::Caps(caps) => {
                let info = match gst_video::VideoInfo::from_caps(caps.caps()) {
                    Ok(info) if formats::pixel_format(&info).is_some() => info,
                    _ => {
                        gst::warning!(CAT, obj = pad, "refusing caps {:?}", caps.caps());
                        return false;
                    }
                };
                if let Some(s) = self.shared.lock().streams.get_mut(&index) {
                    s.info = Some(info);
                }
            }
            EventView::StreamStart(_) => {
                self.shared.lock().batcher.set_eos(index, false);
                self.forget_tracks(index);
            }
            EventView::Segment(e) => {
                if let (Some(s), Ok(segment)) =
                    (self.shared.lock().streams.get_mut(&index), e.segment().clone().downcast::<gst::ClockTime>())
                {
                    s.segment = Some(segment);
                }
            }
            EventView::Eos(_) => {
                // The stream leaves the set batches wait for: a batch may be due now.
                self.shared.lock().batcher.set_eos(index, true);
                self.shared.wake_batch_thread();
            }
            _ => {}
        }
        if !event.is_serialized() {
            return srcpad.push_event(event);
        }
        let mut state = self.shared.lock();
        state.batcher.push_event(index, StreamEvent::Event(event));
        state.wake_output(index);
        true
    }

    /// After a flush or at a new stream, earlier frames say nothing about who is who.
    fn forget_tracks(&self, index: u32) {
        if let Some(tracker) = self.trackers.lock().unwrap().get_mut(&index) {
            tracker.reset();
        }
        if let Some(smoother) = self.smoothers.lock().unwrap().get_mut(&index) {
            smoother.reset();
        }
    }

    pub(super) fn sink_query(&self, pad: &PoseBatchSinkPad, query: &mut gst::QueryRef) -> bool {
        // Caps, accept-caps and allocation are answered downstream of the paired source pad.
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }
}
