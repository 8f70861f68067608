//! GStreamer glue of `poseoverlay`: a `VideoFilter` (a `BaseTransform` in place) that is
//! passthrough for frames without PoseMeta and draws with [`super::draw`] on the others.
//! The base classes' trampolines turn any panic into an element error.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use super::draw::{self, Canvas, ColourTracker, Style};
use crate::formats;
use crate::meta::{META_NAME, PoseMeta};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("poseoverlay", gst::DebugColorFlags::empty(), Some("Draws PoseMeta skeletons"))
});

#[derive(Default)]
pub struct PoseOverlay {
    style: Mutex<Style>,
    tracker: Mutex<ColourTracker>,
}

#[glib::object_subclass]
impl ObjectSubclass for PoseOverlay {
    const NAME: &'static str = "GstPoseOverlay";
    type Type = super::PoseOverlay;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for PoseOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let d = Style::default();
            vec![
                glib::ParamSpecUInt::builder("line-width")
                    .nick("Line width")
                    .blurb("Width of limbs and box outlines, in pixels")
                    .minimum(1)
                    .maximum(64)
                    .default_value(d.line_width as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("point-radius")
                    .nick("Point radius")
                    .blurb("Radius of keypoint discs, in pixels (0 = no discs)")
                    .maximum(64)
                    .default_value(d.point_radius as u32)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("keypoint-threshold")
                    .nick("Keypoint threshold")
                    .blurb("Least keypoint confidence drawn; a limb needs both its ends at or above it")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(d.keypoint_threshold)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("draw-boxes")
                    .nick("Draw boxes")
                    .blurb("Draw each person's box")
                    .default_value(d.draw_boxes)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.style.lock().unwrap();
        match pspec.name() {
            "line-width" => s.line_width = value.get::<u32>().expect("type checked upstream") as f32,
            "point-radius" => s.point_radius = value.get::<u32>().expect("type checked upstream") as f32,
            "keypoint-threshold" => s.keypoint_threshold = value.get().expect("type checked upstream"),
            "draw-boxes" => s.draw_boxes = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.style.lock().unwrap();
        match pspec.name() {
            "line-width" => (s.line_width as u32).to_value(),
            "point-radius" => (s.point_radius as u32).to_value(),
            "keypoint-threshold" => s.keypoint_threshold.to_value(),
            "draw-boxes" => s.draw_boxes.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for PoseOverlay {}

impl ElementImpl for PoseOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Pose overlay",
                "Filter/Effect/Video",
                "Draws each frame's PoseMeta (skeletons, keypoints, boxes) onto the frame in place",
                "posebatch developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = formats::caps(&formats::OVERLAY_FORMATS);
            vec![
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for PoseOverlay {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn before_transform(&self, inbuf: &gst::BufferRef) {
        // Nothing to draw: hand the buffer on as it is (no writable copy, no map).
        let has_meta = gst::meta::CustomMeta::from_buffer(inbuf, META_NAME).is_ok();
        self.obj().set_passthrough(!has_meta);
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        self.tracker.lock().unwrap().reset();
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if matches!(event.view(), gst::EventView::FlushStop(_) | gst::EventView::StreamStart(_)) {
            self.tracker.lock().unwrap().reset();
        }
        self.parent_sink_event(event)
    }
}

impl VideoFilterImpl for PoseOverlay {
    fn transform_frame_ip(
        &self,
        frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(meta) = PoseMeta::from_buffer(frame.buffer()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(layout) = formats::packed_layout(frame.format()) else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ("unsupported format {:?}", frame.format()));
            return Err(gst::FlowError::NotNegotiated);
        };
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let stride = frame.plane_stride()[0].max(0) as usize;
        // The meta's coordinates refer to its own width and height (a scaler in between
        // keeps the meta as it was): map them onto this frame.
        let scale = [
            if meta.width > 0 { width as f32 / meta.width as f32 } else { 1.0 },
            if meta.height > 0 { height as f32 / meta.height as f32 } else { 1.0 },
        ];
        let style = *self.style.lock().unwrap();
        // By track ID when posebatch tracks people; by box overlap with the previous frame
        // otherwise (meta without IDs, people it does not track).
        let by_overlap = self.tracker.lock().unwrap().assign(&meta.people.iter().map(|p| p.bbox).collect::<Vec<_>>());
        let colours = meta
            .people
            .iter()
            .zip(by_overlap)
            .map(|(p, colour)| if p.track_id > 0 { draw::track_colour(p.track_id) } else { colour });
        let data = frame.plane_data_mut(0).map_err(|_| gst::FlowError::Error)?;
        let Some(mut canvas) = Canvas::new(data, width, height, stride, layout) else {
            gst::element_imp_error!(self, gst::StreamError::Format, ("frame buffer smaller than {width}x{height} at stride {stride}"));
            return Err(gst::FlowError::Error);
        };
        for (person, colour) in meta.people.iter().zip(colours) {
            draw::draw_person(&mut canvas, person.bbox, &person.keypoints, draw::PALETTE[colour], &style, scale);
        }
        gst::trace!(CAT, imp = self, "drew {} people", meta.people.len());
        Ok(gst::FlowSuccess::Ok)
    }
}
