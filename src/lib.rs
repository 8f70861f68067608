//! posebatch: batched, multi-stream, multi-person pose estimation for GStreamer.
//!
//! Elements: `posebatch` (N streams in, one batched inference, each stream out of its own
//! pad with [`meta::PoseMeta`] attached), `posejson` (PoseMeta to newline-delimited JSON) and
//! `poseoverlay` (draws the skeletons onto the frames).
//! Applications read the meta with [`meta::PoseMeta::from_buffer`].

// What applications use.
pub mod geometry;
pub mod install_paths;
pub mod memory_guard;
pub mod meta;
pub mod posebatch;
pub mod posejson;
pub mod poseoverlay;

mod batcher;
mod engine;
mod formats;
mod gpu_monitor;
mod metrics;
mod periodic;
mod pixels;
mod smoother;
mod stats;
mod tracker;

/// What the benchmark (`examples/benchmark`) and the tests use to run the model bare,
/// outside the element, and to describe the machine. Not a stable API.
#[doc(hidden)]
pub mod bench {
    pub use crate::engine::gpu::driver_present;
    pub use crate::engine::{DecodeParams, Engine, EngineConfig, InputShape, Precision, Provider, RemoteConfig};
    pub use crate::formats::view as frame_view;
    pub use crate::gpu_monitor::{NvmlMonitor, gpu_info};
}

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
