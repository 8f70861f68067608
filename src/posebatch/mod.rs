//! The `posebatch` element: N streams in on request pads, batched pose inference, each
//! stream out of its own source pad with PoseMeta attached.
//!
//! Files, one job each: `imp.rs` the element (pads, state changes), `properties.rs` its
//! properties and signals, `state.rs` the shared state and lock order, `sink.rs` buffers and
//! events coming in, `inference.rs` the model and the batch thread, `source.rs` each
//! stream's output task and queries, `latency.rs` the latency budget and QoS, `control.rs`
//! pause/resume, the memory guard and stats, `sinkpad.rs` the request pad type.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

mod control;
mod imp;
mod inference;
mod latency;
pub(crate) mod properties;
mod sink;
mod sinkpad;
mod source;
mod state;

pub use sinkpad::PoseBatchSinkPad;
pub(crate) use source::STREAM_QUERY;

glib::wrapper! {
    /**
     * SECTION:element-posebatch
     * @see_also: posejson, poseoverlay
     *
     * Multi-person pose estimation (COCO-17 keypoints, YOLO-pose via ONNX Runtime) over many
     * streams with one batched inference. Request a `sink_%u` pad per stream; its frames leave
     * unchanged, with a `PoseMeta` custom meta added, by the matching `src_%u` pad. A batch runs
     * when every active stream has a frame, when `max-batch-size` frames wait, or after
     * `batch-timeout`; live streams drop their oldest frame when inference falls behind.
     *
     * ## Example pipeline
     * |[
     * gst-launch-1.0 posebatch name=p \
     *   filesrc location=cam01.mp4 ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! p.sink_0 \
     *   filesrc location=cam02.mp4 ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! p.sink_1 \
     *   p.src_0 ! posejson ! filesink location=cam1.ndjson \
     *   p.src_1 ! posejson ! filesink location=cam2.ndjson
     * ]|
     */
    pub struct PoseBatch(ObjectSubclass<imp::PoseBatch>) @extends gst::Element, gst::Object, @implements gst::ChildProxy;
}

impl PoseBatch {
    /// Replaces the NVML reader of the GPU-memory guard (takes effect at the next
    /// READY->PAUSED), polled every `interval`. Applications with their own telemetry, and
    /// tests, feed readings this way.
    pub fn set_memory_monitor(&self, monitor: Box<dyn crate::memory_guard::MemoryMonitor>, interval: std::time::Duration) {
        self.imp().set_memory_monitor(monitor, interval);
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "posebatch", gst::Rank::NONE, PoseBatch::static_type())
}
