//! `PoseBatchSinkPad`: the request sink pad. It holds its stream's index, given when the
//! element creates it, and shows the stream's `priority` and `paused` as properties; both
//! live in the element's batcher, which owns the policy, and are read and written there.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::batcher::PauseReason;

mod imp {
    use std::sync::{LazyLock, OnceLock};

    use super::*;

    #[derive(Default)]
    pub struct PoseBatchSinkPad {
        pub(super) index: OnceLock<u32>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PoseBatchSinkPad {
        const NAME: &'static str = "GstPoseBatchSinkPad";
        type Type = super::PoseBatchSinkPad;
        type ParentType = gst::Pad;
    }

    impl ObjectImpl for PoseBatchSinkPad {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
                vec![
                    glib::ParamSpecInt::builder("priority")
                        .nick("Priority")
                        .blurb("Higher-priority streams are batched first and paused last under pressure")
                        .default_value(0)
                        .mutable_playing()
                        .build(),
                    glib::ParamSpecBoolean::builder("paused")
                        .nick("Paused")
                        .blurb("Pause (true) or resume (false) this stream: its upstream blocks at the pad")
                        .default_value(false)
                        .mutable_playing()
                        .build(),
                ]
            });
            PROPERTIES.as_ref()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            // A pad that is not (or no longer) the element's has no stream to change.
            let Some(element) = self.obj().element() else { return };
            let index = self.obj().index();
            match pspec.name() {
                "priority" => element.imp().set_stream_priority(index, value.get().expect("type checked by GObject")),
                "paused" => {
                    let paused = value.get().expect("type checked by GObject");
                    element.imp().set_stream_paused(index, paused, PauseReason::User);
                }
                _ => unimplemented!(),
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            let element = self.obj().element();
            let index = self.obj().index();
            match pspec.name() {
                "priority" => element.map_or(0, |e| e.imp().stream_priority(index)).to_value(),
                "paused" => element.is_some_and(|e| e.imp().stream_paused(index)).to_value(),
                _ => unimplemented!(),
            }
        }
    }

    impl GstObjectImpl for PoseBatchSinkPad {}
    impl PadImpl for PoseBatchSinkPad {}
}

glib::wrapper! {
    pub struct PoseBatchSinkPad(ObjectSubclass<imp::PoseBatchSinkPad>) @extends gst::Pad, gst::Object;
}

impl PoseBatchSinkPad {
    /// The index of the stream this pad feeds (`sink_3` feeds stream 3).
    pub fn index(&self) -> u32 {
        // Set by the element before anyone else sees the pad.
        self.imp().index.get().copied().unwrap_or_default()
    }

    /// Gives the pad its stream index, once, when the element creates it.
    pub(super) fn set_index(&self, index: u32) {
        let _ = self.imp().index.set(index);
    }

    fn element(&self) -> Option<super::PoseBatch> {
        self.parent().and_then(|p| p.downcast::<super::PoseBatch>().ok())
    }
}
