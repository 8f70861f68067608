//! The source side: one task per source pad pushes its stream's output (frames with
//! PoseMeta, frames passed on, events, the GAP of a pause) in order, and the pad answers
//! the queries about the stream. This file only moves buffers and events.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::imp::{CAT, PoseBatch};
use super::state::{StreamEvent, StreamOutput};
use crate::batcher::Output;

/// The custom query downstream elements (posejson) ask to learn which stream they
/// carry; posebatch answers with the field `stream-index` (uint).
pub const STREAM_QUERY: &str = "posebatch-stream";

/// What a source task took out of the state to push, with what pushing it needs.
enum Next {
    Buffer { buffer: gst::Buffer, arrival: u64, segment: Option<gst::FormattedSegment<gst::ClockTime>> },
    Event(gst::Event),
    Gap(Option<gst::ClockTime>),
}

impl PoseBatch {
    pub(super) fn src_query(&self, index: u32, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Latency(q) => {
                let Some(sinkpad) = self.shared.lock().streams.get(&index).map(|s| s.sinkpad.clone()) else {
                    return false;
                };
                let mut upstream = gst::query::Latency::new();
                if !sinkpad.peer_query(&mut upstream) {
                    return false;
                }
                let (live, min, max) = upstream.result();
                let ours = self.reported_latency(min);
                gst::debug!(CAT, obj = pad, "upstream latency {min} (live {live}), answering {ours}");
                q.set(live, ours, max.map(|m| m.max(ours)));
                true
            }
            gst::QueryViewMut::Custom(q) if q.structure().is_some_and(|s| s.name() == STREAM_QUERY) => {
                q.structure_mut().set("stream-index", index);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// Upstream events on stream `index`'s source pad (seek, QoS, navigation) go on to its
    /// sink pad; a QoS report is also remembered, to drop frames that would be late.
    pub(super) fn src_event(&self, index: u32, pad: &gst::Pad, event: gst::Event) -> bool {
        if let gst::EventView::Qos(qos) = event.view() {
            self.downstream_qos(index, qos);
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    pub(super) fn src_activate_mode(&self, index: u32, pad: &gst::Pad, active: bool) -> Result<(), gst::LoggableError> {
        if !active {
            if let Some(s) = self.shared.lock().streams.get(&index) {
                s.output.wake(); // so the task sees the pad is going away
            }
            return pad.stop_task().map_err(|e| gst::loggable_error!(CAT, "could not stop the source task: {e}"));
        }
        let Some(output) = self.shared.lock().streams.get(&index).map(|s| s.output.clone()) else {
            return Err(gst::loggable_error!(CAT, "no stream {index}"));
        };
        let element = self.obj().downgrade();
        let task_pad = pad.clone();
        pad.start_task(move || match element.upgrade() {
            Some(element) => element.imp().src_loop(&task_pad, index, &output),
            None => {
                let _ = task_pad.pause_task();
            }
        })
        .map_err(|e| gst::loggable_error!(CAT, "could not start the source task: {e}"))
    }

    /// One iteration of a source pad's task: wait for this stream's next output and push it.
    fn src_loop(&self, pad: &gst::Pad, index: u32, output: &StreamOutput) {
        let Some(next) = self.next_output(index, output) else {
            let _ = pad.pause_task();
            return;
        };
        let (buffer, arrival, segment) = match next {
            Next::Buffer { buffer, arrival, segment } => (buffer, arrival, segment),
            Next::Event(event) => {
                let is_eos = event.type_() == gst::EventType::Eos;
                if !pad.push_event(event) && !is_eos {
                    gst::debug!(CAT, obj = pad, "downstream refused an event");
                }
                return;
            }
            Next::Gap(start) => {
                if let Some(start) = start {
                    pad.push_event(gst::event::Gap::builder(start).build());
                }
                return;
            }
        };
        // The clock is read outside the state lock.
        let capture_delay = segment.and_then(|segment| self.capture_delay(&segment, buffer.pts()?));
        {
            let now = self.now();
            let mut stats = self.stats.lock().unwrap();
            let stream = stats.stream(index);
            stream.end_to_end.record(now.saturating_sub(arrival));
            stream.frame_out(now);
            if let Some(delay) = capture_delay {
                stream.capture.record(delay);
            }
        }
        let flow = pad.push(buffer);
        output.set_flow(flow);
        match flow {
            Ok(_) | Err(gst::FlowError::Flushing | gst::FlowError::Eos | gst::FlowError::NotLinked) => {
                if let Err(err) = flow {
                    gst::debug!(CAT, obj = pad, "push returned {err:?}");
                }
            }
            Err(err) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("{}: downstream returned {err:?}", pad.name()));
            }
        }
    }

    /// Waits for stream `index`'s next output and takes it, with what pushing it needs, in
    /// one hold of the state lock. None when the task should stop (element stopping, stream
    /// released).
    fn next_output(&self, index: u32, output: &StreamOutput) -> Option<Next> {
        let mut state = self.shared.lock();
        let item = loop {
            if !state.running || !state.streams.contains_key(&index) {
                return None;
            }
            if let Some(item) = state.batcher.pop_output(index, self.now()) {
                break item;
            }
            state = output.wait(state);
        };
        let stream = state.streams.get_mut(&index)?;
        Some(match item {
            Output::Frame(frame) | Output::Pass(frame) => {
                let buffer = frame.buffer;
                if let Some(pts) = buffer.pts() {
                    stream.next_ts = Some(pts + buffer.duration().unwrap_or_default());
                }
                // Capture latency is measured for live streams only.
                let segment = (stream.live == Some(true)).then(|| stream.segment.clone()).flatten();
                Next::Buffer { buffer, arrival: frame.arrival, segment }
            }
            Output::Event(StreamEvent::Event(event)) => Next::Event(event),
            Output::Event(StreamEvent::PauseGap) => Next::Gap(stream.next_ts),
        })
    }

    /// How long ago, on the pipeline clock, a buffer with this PTS was captured.
    fn capture_delay(&self, segment: &gst::FormattedSegment<gst::ClockTime>, pts: gst::ClockTime) -> Option<u64> {
        let element = self.obj();
        let now = element.clock()?.time().checked_sub(element.base_time()?)?;
        let running = segment.to_running_time(pts)?;
        Some(now.nseconds().saturating_sub(running.nseconds()))
    }
}
