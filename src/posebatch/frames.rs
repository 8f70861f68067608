//! Glue between GStreamer video frames and the engine's plain frame views.

use gst_video::prelude::*;
use gst_video::{VideoColorMatrix, VideoColorRange, VideoFormat, VideoInfo};

use crate::engine::{FrameView, PackedLayout, PixelFormat, YuvMatrix};

/// Raw formats posebatch reads (the caps of its pad templates).
pub const FORMATS: [VideoFormat; 8] = [
    VideoFormat::Rgb,
    VideoFormat::Rgba,
    VideoFormat::Bgrx,
    VideoFormat::Bgra,
    VideoFormat::Rgbx,
    VideoFormat::Bgr,
    VideoFormat::Nv12,
    VideoFormat::I420,
];

pub fn caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new().format_list(FORMATS).build()
}

fn packed(r: usize, g: usize, b: usize, bytes_per_pixel: usize) -> PixelFormat {
    PixelFormat::Packed(PackedLayout { r, g, b, bytes_per_pixel })
}

fn yuv_matrix(info: &VideoInfo) -> YuvMatrix {
    let colorimetry = info.colorimetry();
    let base = match colorimetry.matrix() {
        VideoColorMatrix::Bt709 => YuvMatrix::BT709,
        _ => YuvMatrix::BT601,
    };
    YuvMatrix { full_range: colorimetry.range() == VideoColorRange::Range0_255, ..base }
}

/// The engine's view of a pixel format, or None for a format posebatch does not read.
pub fn pixel_format(info: &VideoInfo) -> Option<PixelFormat> {
    Some(match info.format() {
        VideoFormat::Rgb => packed(0, 1, 2, 3),
        VideoFormat::Bgr => packed(2, 1, 0, 3),
        VideoFormat::Rgba | VideoFormat::Rgbx => packed(0, 1, 2, 4),
        VideoFormat::Bgra | VideoFormat::Bgrx => packed(2, 1, 0, 4),
        VideoFormat::Nv12 => PixelFormat::Nv12(yuv_matrix(info)),
        VideoFormat::I420 => PixelFormat::I420(yuv_matrix(info)),
        _ => return None,
    })
}

/// A mapped frame's planes as an engine `FrameView`.
pub fn view<'a>(frame: &'a gst_video::VideoFrameRef<&'a gst::BufferRef>) -> Option<FrameView<'a>> {
    let info = frame.info();
    let format = pixel_format(info)?;
    let mut planes: [&[u8]; 3] = [&[], &[], &[]];
    let mut strides = [0usize; 3];
    for i in 0..(frame.n_planes() as usize).min(3) {
        planes[i] = frame.plane_data(i as u32).ok()?;
        strides[i] = frame.plane_stride()[i] as usize;
    }
    Some(FrameView { format, width: info.width() as usize, height: info.height() as usize, planes, strides })
}
