//! GStreamer video formats as the project's pixel types: which raw formats posebatch reads
//! and poseoverlay draws on, and a mapped frame as the engine's `FrameView`.

use gst_video::prelude::*;
use gst_video::{VideoColorMatrix, VideoColorRange, VideoFormat, VideoInfo};

use crate::engine::{FrameView, PixelFormat, YuvMatrix};
use crate::pixels::PackedLayout;

/// Raw formats posebatch reads (the caps of its pad templates).
pub const POSEBATCH_FORMATS: [VideoFormat; 8] = [
    VideoFormat::Rgb,
    VideoFormat::Rgba,
    VideoFormat::Bgrx,
    VideoFormat::Bgra,
    VideoFormat::Rgbx,
    VideoFormat::Bgr,
    VideoFormat::Nv12,
    VideoFormat::I420,
];

/// Raw formats poseoverlay draws on: every packed 8-bit RGB layout.
pub const OVERLAY_FORMATS: [VideoFormat; 10] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgba,
    VideoFormat::Rgbx,
    VideoFormat::Bgra,
    VideoFormat::Bgrx,
    VideoFormat::Argb,
    VideoFormat::Xrgb,
    VideoFormat::Abgr,
    VideoFormat::Xbgr,
];

/// Raw video caps limited to `formats`, any size and rate.
pub fn caps(formats: &[VideoFormat]) -> gst::Caps {
    gst_video::VideoCapsBuilder::new().format_list(formats.iter().copied()).build()
}

/// Where the colours of a packed RGB-family format are; None for other formats.
pub fn packed_layout(format: VideoFormat) -> Option<PackedLayout> {
    Some(match format {
        VideoFormat::Rgb => PackedLayout::RGB,
        VideoFormat::Bgr => PackedLayout::BGR,
        VideoFormat::Rgba | VideoFormat::Rgbx => PackedLayout::RGBA,
        VideoFormat::Bgra | VideoFormat::Bgrx => PackedLayout::BGRA,
        VideoFormat::Argb | VideoFormat::Xrgb => PackedLayout::ARGB,
        VideoFormat::Abgr | VideoFormat::Xbgr => PackedLayout::ABGR,
        _ => return None,
    })
}

fn yuv_matrix(info: &VideoInfo) -> YuvMatrix {
    let colorimetry = info.colorimetry();
    let base = match colorimetry.matrix() {
        VideoColorMatrix::Bt709 => YuvMatrix::BT709,
        _ => YuvMatrix::BT601,
    };
    YuvMatrix { full_range: colorimetry.range() == VideoColorRange::Range0_255, ..base }
}

/// The engine's view of a format posebatch reads; None for the others.
pub fn pixel_format(info: &VideoInfo) -> Option<PixelFormat> {
    if !POSEBATCH_FORMATS.contains(&info.format()) {
        return None;
    }
    Some(match info.format() {
        VideoFormat::Nv12 => PixelFormat::Nv12(yuv_matrix(info)),
        VideoFormat::I420 => PixelFormat::I420(yuv_matrix(info)),
        packed => PixelFormat::Packed(packed_layout(packed)?),
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
