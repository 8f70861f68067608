//! `PoseBatchSinkPad`: the request sink pad, with the per-stream properties `priority` and
//! `paused`. Writing them tells the element, which owns the policy.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

mod imp {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct PadSettings {
        priority: i32,
        paused: bool,
    }

    #[derive(Default)]
    pub struct PoseBatchSinkPad {
        settings: Mutex<PadSettings>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PoseBatchSinkPad {
        const NAME: &'static str = "GstPoseBatchSinkPad";
        type Type = super::PoseBatchSinkPad;
        type ParentType = gst::Pad;
    }

    impl ObjectImpl for PoseBatchSinkPad {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPERTIES: std::sync::LazyLock<Vec<glib::ParamSpec>> = std::sync::LazyLock::new(|| {
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
            let element = self.obj().parent().and_then(|p| p.downcast::<crate::posebatch::PoseBatch>().ok());
            match pspec.name() {
                "priority" => {
                    let priority = value.get().expect("type checked upstream");
                    self.settings.lock().unwrap().priority = priority;
                    if let Some(element) = element {
                        element.imp().set_stream_priority(&self.obj(), priority);
                    }
                }
                "paused" => {
                    let paused: bool = value.get().expect("type checked upstream");
                    let index = self.obj().index();
                    match element {
                        Some(element) => {
                            element.imp().set_stream_paused(index, paused, "user");
                        }
                        None => self.settings.lock().unwrap().paused = paused,
                    }
                }
                _ => unreachable!("unknown property {}", pspec.name()),
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            let settings = self.settings.lock().unwrap();
            match pspec.name() {
                "priority" => settings.priority.to_value(),
                "paused" => settings.paused.to_value(),
                _ => unreachable!("unknown property {}", pspec.name()),
            }
        }
    }

    impl GstObjectImpl for PoseBatchSinkPad {}
    impl PadImpl for PoseBatchSinkPad {}

    impl PoseBatchSinkPad {
        pub(crate) fn priority(&self) -> i32 {
            self.settings.lock().unwrap().priority
        }

        /// Records the paused state the element applied.
        pub(crate) fn store_paused(&self, paused: bool) {
            self.settings.lock().unwrap().paused = paused;
        }
    }
}

glib::wrapper! {
    pub struct PoseBatchSinkPad(ObjectSubclass<imp::PoseBatchSinkPad>) @extends gst::Pad, gst::Object;
}

impl PoseBatchSinkPad {
    /// The stream index in the pad's name (`sink_3` -> 3).
    pub fn index(&self) -> u32 {
        stream_index(self.upcast_ref())
    }
}

/// The stream index in a posebatch pad's name (`sink_3`, `src_3` -> 3).
pub fn stream_index(pad: &gst::Pad) -> u32 {
    pad.name().rsplit('_').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}
