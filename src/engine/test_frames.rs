//! Frames for the engine's tests: random ones of every format the preprocessors read, at
//! odd sizes and with padded strides (the GPU kernel against the CPU path), and real ones
//! decoded from the installed camera videos.

use crate::engine::preprocess::{FrameView, PackedLayout, PixelFormat, YuvMatrix};

/// A frame that owns its planes.
pub struct OwnedFrame {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [Vec<u8>; 3],
    pub strides: [usize; 3],
}

impl OwnedFrame {
    pub fn view(&self) -> FrameView<'_> {
        FrameView {
            format: self.format,
            width: self.width,
            height: self.height,
            planes: [&self.planes[0], &self.planes[1], &self.planes[2]],
            strides: self.strides,
        }
    }
}

/// xorshift: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
}

/// A plane of `rows` rows of `row_bytes` random bytes, rows `stride` apart.
fn plane(noise: &mut Noise, rows: usize, stride: usize) -> Vec<u8> {
    (0..rows * stride).map(|_| noise.byte()).collect()
}

fn frame(noise: &mut Noise, format: PixelFormat, width: usize, height: usize) -> OwnedFrame {
    // Strides padded past the row, as decoders and videoconvert do.
    let pad = 7;
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let (planes, strides) = match format {
        PixelFormat::Packed(l) => {
            let s = width * l.bytes_per_pixel + pad;
            ([plane(noise, height, s), vec![], vec![]], [s, 0, 0])
        }
        PixelFormat::Nv12(_) => {
            let (s0, s1) = (width + pad, 2 * cw + pad);
            ([plane(noise, height, s0), plane(noise, ch, s1), vec![]], [s0, s1, 0])
        }
        PixelFormat::I420(_) => {
            let (s0, s1) = (width + pad, cw + pad);
            ([plane(noise, height, s0), plane(noise, ch, s1), plane(noise, ch, s1)], [s0, s1, s1])
        }
    };
    OwnedFrame { format, width, height, planes, strides }
}

/// Every format (RGB, BGRx, RGBA, NV12 BT.709, I420 BT.601 full range) at odd,
/// portrait, tiny and full-HD sizes.
pub fn random_frames() -> Vec<OwnedFrame> {
    let rgb = PixelFormat::Packed(PackedLayout::RGB);
    let bgrx = PixelFormat::Packed(PackedLayout::BGRA);
    let rgba = PixelFormat::Packed(PackedLayout::RGBA);
    let nv12 = PixelFormat::Nv12(YuvMatrix::BT709);
    let i420 = PixelFormat::I420(YuvMatrix { full_range: true, ..YuvMatrix::BT601 });
    let sizes = [(37, 21), (641, 359), (299, 1001), (5, 3), (1920, 1080)];
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut frames = Vec::new();
    for format in [rgb, bgrx, rgba, nv12, i420] {
        for (w, h) in sizes {
            frames.push(frame(&mut noise, format, w, h));
        }
    }
    frames
}

/// Frames `indices` of camera `cam` (1..=4, installed by `make setup`), decoded to NV12 as
/// a decoder hands them over.
pub fn camera_frames(cam: usize, indices: &[usize]) -> Vec<OwnedFrame> {
    use gst::prelude::*;
    gst::init().expect("GStreamer initialises");
    let video = crate::install_paths::data_dir().join(format!("media/pose2sim-multiperson/cam0{cam}.mp4"));
    assert!(video.is_file(), "{} missing: run `make setup`", video.display());
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=NV12 \
         ! appsink name=sink sync=false",
        video.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = Vec::new();
    for index in 0..=indices.iter().copied().max().unwrap_or(0) {
        let sample = sink.pull_sample().expect("enough frames");
        if !indices.contains(&index) {
            continue;
        }
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(sample.buffer().unwrap(), &info).unwrap();
        let view = crate::formats::view(&frame).unwrap();
        frames.push(OwnedFrame {
            format: view.format,
            width: view.width,
            height: view.height,
            planes: view.planes.map(|p| p.to_vec()),
            strides: view.strides,
        });
    }
    pipeline.set_state(gst::State::Null).unwrap();
    frames
}
