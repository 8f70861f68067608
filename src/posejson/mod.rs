//! The `posejson` element: frames with PoseMeta in, one line of JSON per frame out
//! (`application/x-ndjson`), so a pipeline can record a stream's poses to a file.

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod json;

glib::wrapper! {
    pub struct PoseJson(ObjectSubclass<imp::PoseJson>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "posejson", gst::Rank::NONE, PoseJson::static_type())
}
