//! The sink side: each stream's buffers and events go into its queue in the batcher, in
//! order. This file only moves buffers and events; what to queue, drop or wait for is the
//! batcher's policy.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::{CAT, PoseBatch};
use super::sinkpad::PoseBatchSinkPad;
use super::state::{FlowResult, Frame, StreamEvent};
use crate::batcher::PushOutcome;
use crate::formats;

impl PoseBatch {
    pub(super) fn sink_chain(&self, pad: &PoseBatchSinkPad, buffer: gst::Buffer) -> FlowResult {
        let index = pad.index();
        // Read before the state lock (lock order): the overflow policy once upstream's
        // liveness is known, which needs a query on the first buffer.
        let overflow = self.settings.lock().unwrap().overflow;
        let live = self.upstream_is_live(pad);
        let mut state = self.shared.lock();
        let Some(stream) = state.streams.get_mut(&index) else {
            return Err(gst::FlowError::Flushing);
        };
        let output = stream.output.clone();
        let newly_known = stream.live.is_none();
        stream.live = Some(live);
        let Some(info) = stream.info.clone() else {
            drop(state);
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("{}: buffer before caps", pad.name()));
            return Err(gst::FlowError::NotNegotiated);
        };
        if newly_known {
            gst::debug!(CAT, obj = pad, "upstream live: {live}, overflow: {:?}", overflow.resolve(live));
            state.batcher.set_overflow(index, overflow.resolve(live));
        }
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
                    state = self.shared.wait_for_room(state);
                }
            }
        }
        // pass-oldest may have released a frame for output.
        state.wake_output(index);
        drop(state);
        self.shared.wake_batch_thread();
        output.flow()
    }

    /// Whether upstream is live (for overflow=auto): asked once, on the first buffer.
    fn upstream_is_live(&self, pad: &PoseBatchSinkPad) -> bool {
        if let Some(live) = self.shared.lock().streams.get(&pad.index()).and_then(|s| s.live) {
            return live;
        }
        let mut query = gst::query::Latency::new();
        pad.peer_query(&mut query) && query.result().0
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
                let mut state = self.shared.lock();
                state.batcher.stop_flush(index);
                if let Some(s) = state.streams.get(&index) {
                    s.output.set_flow(Ok(gst::FlowSuccess::Ok));
                }
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
            EventView::StreamStart(_) => self.shared.lock().batcher.set_eos(index, false),
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

    pub(super) fn sink_query(&self, pad: &PoseBatchSinkPad, query: &mut gst::QueryRef) -> bool {
        // Caps, accept-caps and allocation are answered downstream of the paired source pad.
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }
}
