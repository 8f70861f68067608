//! The `poseoverlay` element: draws each frame's PoseMeta (skeletons, keypoints, boxes) onto
//! the frame in place. RGB-family formats; frames without PoseMeta pass untouched.

use gst::glib;
use gst::prelude::*;

pub(crate) mod draw;
mod imp;

pub use draw::PALETTE;

glib::wrapper! {
    /**
     * SECTION:element-poseoverlay
     * @see_also: posebatch
     *
     * Draws each frame's PoseMeta in place: the COCO skeleton as anti-aliased lines, the
     * keypoints as discs, and each person's box, in a colour that stays with the person from
     * frame to frame. Packed RGB formats; frames without PoseMeta pass untouched.
     *
     * ## Example pipeline
     * |[
     * gst-launch-1.0 filesrc location=cam01.mp4 ! decodebin ! videoconvert ! video/x-raw,format=BGRx \
     *   ! posebatch ! poseoverlay line-width=4 ! videoconvert ! autovideosink
     * ]|
     */
    pub struct PoseOverlay(ObjectSubclass<imp::PoseOverlay>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "poseoverlay", gst::Rank::NONE, PoseOverlay::static_type())
}
