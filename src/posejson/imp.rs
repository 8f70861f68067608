//! GStreamer glue of `posejson`: one sink pad, one source pad, a JSON line per buffer.

use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::json::frame_line;
use crate::meta::PoseMeta;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("posejson", gst::DebugColorFlags::empty(), Some("PoseMeta to JSON lines"))
});

/// What a frame without PoseMeta is written with.
#[derive(Default, Clone, Copy)]
struct StreamInfo {
    /// The posebatch stream upstream (its answer to the stream query), else 0.
    stream: u32,
    /// Frame size from the caps.
    width: i32,
    height: i32,
}

pub struct PoseJson {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    info: Mutex<StreamInfo>,
}

impl PoseJson {
    fn chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let meta = PoseMeta::from_buffer(&buffer);
        let info = *self.info.lock().unwrap();
        let line = frame_line(meta.as_ref(), info.stream, buffer.pts().map(|t| t.nseconds()), info.width, info.height);
        let mut out = gst::Buffer::from_mut_slice(line.into_bytes());
        {
            let out = out.get_mut().expect("new buffer is writable");
            out.set_pts(buffer.pts());
            out.set_dts(buffer.dts());
            out.set_duration(buffer.duration());
        }
        self.srcpad.push(out)
    }

    /// Which posebatch stream this is: posebatch's source pads answer the stream query.
    /// Frames passed on without inference carry no PoseMeta, so this labels them.
    fn upstream_stream(&self) -> Option<u32> {
        let mut query = gst::query::Custom::new(gst::Structure::new_empty(crate::posebatch::STREAM_QUERY));
        if !self.sinkpad.peer_query(&mut query) {
            return None;
        }
        query.structure().and_then(|s| s.get::<u32>("stream-index").ok())
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(caps) = event.view() {
            let s = caps.caps().structure(0);
            let dim = |name| s.and_then(|s| s.get::<i32>(name).ok()).unwrap_or(0);
            let stream = self.upstream_stream();
            gst::debug!(CAT, imp = self, "upstream posebatch stream: {stream:?}");
            *self.info.lock().unwrap() = StreamInfo { stream: stream.unwrap_or(0), width: dim("width"), height: dim("height") };
            let out = gst::Caps::builder("application/x-ndjson").build();
            return self.srcpad.push_event(gst::event::Caps::new(&out));
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for PoseJson {
    const NAME: &'static str = "GstPoseJson";
    type Type = super::PoseJson;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|_pad, parent, buffer| {
                PoseJson::catch_panic_pad_function(parent, || Err(gst::FlowError::Error), |imp| imp.chain(buffer))
            })
            .event_function(|pad, parent, event| {
                PoseJson::catch_panic_pad_function(parent, || false, |imp| imp.sink_event(pad, event))
            })
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap()).build();
        PoseJson { sinkpad, srcpad, info: Mutex::new(StreamInfo::default()) }
    }
}

impl ObjectImpl for PoseJson {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for PoseJson {}

impl ElementImpl for PoseJson {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "PoseMeta to JSON lines",
                "Formatter/Metadata",
                "Writes each frame's PoseMeta as one line of JSON (application/x-ndjson): stream, pts, size and \
                 each person's box, score and keypoints",
                "posebatch developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &gst::Caps::builder("video/x-raw").build(),
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &gst::Caps::builder("application/x-ndjson").build(),
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}
