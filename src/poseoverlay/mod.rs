//! The `poseoverlay` element: draws each frame's PoseMeta (skeletons, keypoints, boxes) onto
//! the frame in place. RGB-family formats; frames without PoseMeta pass untouched.

use gst::glib;
use gst::prelude::*;

pub mod draw;
mod imp;

glib::wrapper! {
    pub struct PoseOverlay(ObjectSubclass<imp::PoseOverlay>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "poseoverlay", gst::Rank::NONE, PoseOverlay::static_type())
}
