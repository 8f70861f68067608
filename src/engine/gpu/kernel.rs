//! The letterbox kernel's source and its parameters: what one launch needs to know about
//! a frame (where its planes are, its format) and its place in the model input.

use crate::engine::preprocess::{Canvas, FrameView, Letterbox, PixelFormat, YuvCoefficients};

/// The CUDA C source of the `letterbox` kernel.
pub const SOURCE: &str = include_str!("letterbox.cu");
pub const FUNCTION: &str = "letterbox";
/// Threads per block along x and y.
pub const BLOCK: u32 = 16;

const FORMAT_PACKED: i32 = 0;
const FORMAT_NV12: i32 = 1;
const FORMAT_I420: i32 = 2;

/// The kernel's only argument, passed by value. Same layout as `LetterboxParams` in
/// letterbox.cu: 64-bit fields first, then 32-bit ones, no implicit padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LetterboxParams {
    pub src: u64,
    pub dst: u64,
    pub plane_offset: [u64; 3],
    pub scale_x: f64,
    pub scale_y: f64,
    pub stride: [i32; 3],
    pub format: i32,
    pub bytes_per_pixel: i32,
    pub r: i32,
    pub g: i32,
    pub b: i32,
    pub width: i32,
    pub height: i32,
    pub out_width: i32,
    pub scaled_width: i32,
    pub scaled_height: i32,
    pub pad_left: i32,
    pub pad_top: i32,
    pub out_height: i32,
    pub yuv: YuvCoefficients,
}

// SAFETY: plain old data with the C layout the kernel declares.
unsafe impl cudarc::driver::DeviceRepr for LetterboxParams {}

impl LetterboxParams {
    /// Parameters for `frame`, whose planes were uploaded to `src + plane_offset[i]`,
    /// scaled to fit `size` x `size` and letterboxed into the `canvas` slot at `dst`.
    pub fn new(frame: &FrameView, src: u64, plane_offset: [u64; 3], dst: u64, size: usize, canvas: Canvas) -> (LetterboxParams, Letterbox) {
        let lb = Letterbox::new(frame.width, frame.height, size, canvas);
        let mut p = LetterboxParams {
            src,
            dst,
            plane_offset,
            scale_x: frame.width as f64 / lb.scaled_width as f64,
            scale_y: frame.height as f64 / lb.scaled_height as f64,
            stride: frame.strides.map(|s| s as i32),
            width: frame.width as i32,
            height: frame.height as i32,
            out_width: canvas.width as i32,
            out_height: canvas.height as i32,
            scaled_width: lb.scaled_width as i32,
            scaled_height: lb.scaled_height as i32,
            pad_left: lb.pad_left as i32,
            pad_top: lb.pad_top as i32,
            ..Default::default()
        };
        match frame.format {
            PixelFormat::Packed(layout) => {
                p.format = FORMAT_PACKED;
                p.bytes_per_pixel = layout.bytes_per_pixel as i32;
                (p.r, p.g, p.b) = (layout.rgb[0] as i32, layout.rgb[1] as i32, layout.rgb[2] as i32);
            }
            PixelFormat::Nv12(matrix) | PixelFormat::I420(matrix) => {
                p.format = if matches!(frame.format, PixelFormat::Nv12(_)) { FORMAT_NV12 } else { FORMAT_I420 };
                p.yuv = matrix.coefficients();
            }
        }
        (p, lb)
    }

    /// Blocks along x and y covering the output canvas.
    pub fn grid(&self) -> (u32, u32) {
        ((self.out_width as u32).div_ceil(BLOCK), (self.out_height as u32).div_ceil(BLOCK))
    }
}

/// Copies the frame's planes back to back into `out` (the upload's staging memory);
/// `extents` are the bytes each plane spans (`preprocess::plane_extents`). Returns each
/// plane's offset in `out`.
pub fn pack_planes(frame: &FrameView, extents: [usize; 3], out: &mut [u8]) -> [u64; 3] {
    let mut offsets = [0u64; 3];
    let mut at = 0;
    for i in 0..3 {
        offsets[i] = at as u64;
        out[at..at + extents[i]].copy_from_slice(&frame.planes[i][..extents[i]]);
        at += extents[i];
    }
    offsets
}

#[cfg(test)]
mod tests;
