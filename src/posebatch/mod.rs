//! The `posebatch` element: N streams in on request pads, batched pose inference, each
//! stream out of its own source pad with PoseMeta attached.

use gst::glib;
use gst::prelude::*;

mod frames;
mod imp;
pub mod properties;
mod sinkpad;

pub use sinkpad::PoseBatchSinkPad;

glib::wrapper! {
    pub struct PoseBatch(ObjectSubclass<imp::PoseBatch>) @extends gst::Element, gst::Object, @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "posebatch", gst::Rank::NONE, PoseBatch::static_type())
}
