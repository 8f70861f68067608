//! The `posebatch` element: N streams in on request pads, batched pose inference, each
//! stream out of its own source pad with PoseMeta attached.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

pub mod frames;
mod imp;
pub mod properties;
mod sinkpad;

pub use sinkpad::PoseBatchSinkPad;

glib::wrapper! {
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
