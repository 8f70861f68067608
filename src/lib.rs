//! posebatch: batched, multi-stream, multi-person pose estimation for GStreamer.
//!
//! Elements: `posebatch` (N streams in, one batched inference, each stream out of its own
//! pad with [`meta::PoseMeta`] attached), `posejson` (PoseMeta to newline-delimited JSON) and
//! `poseoverlay` (draws the skeletons onto the frames).
//! Applications read the meta with [`meta::PoseMeta::from_buffer`].

pub mod batcher;
pub mod engine;
pub mod gpu_monitor;
pub mod install_paths;
pub mod memory_guard;
pub mod meta;
pub mod periodic;
pub mod posebatch;
pub mod poseoverlay;
pub mod posejson;
pub mod stats;

use gst::glib;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    meta::register();
    posebatch::register(plugin)?;
    posejson::register(plugin)?;
    poseoverlay::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    posebatch,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
