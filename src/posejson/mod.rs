//! The `posejson` element: frames with PoseMeta in, one line of JSON per frame out
//! (`application/x-ndjson`), so a pipeline can record a stream's poses to a file.

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod json;

glib::wrapper! {
    /**
     * SECTION:element-posejson
     * @see_also: posebatch
     *
     * Writes each frame's PoseMeta as one line of JSON (`application/x-ndjson`): the stream
     * index, pts, frame size and each person's box, score and keypoints. A frame
     * without PoseMeta (passed on without inference) is written with no poses and the index
     * of the posebatch stream it came from.
     *
     * ## Example pipeline
     * |[
     * gst-launch-1.0 filesrc location=cam01.mp4 ! qtdemux ! h264parse ! avdec_h264 ! videoconvert \
     *   ! posebatch ! posejson ! filesink location=cam01.ndjson
     * ]|
     */
    pub struct PoseJson(ObjectSubclass<imp::PoseJson>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "posejson", gst::Rank::NONE, PoseJson::static_type())
}
