//! CPU preprocessing: one pass from a raw frame (RGB family, NV12, I420) to the model's
//! letterboxed, normalised, planar RGB float input.
//!
//! The resize is bilinear with OpenCV's `INTER_LINEAR` pixel-centre convention and each
//! channel rounded to an 8-bit level, so the tensor matches what the usual
//! OpenCV letterbox (`cv2.resize` + grey 114 border) feeds the model.

use fast_image_resize::PixelTrait;
use fast_image_resize::pixels::{U8, U8x2, U8x3, U8x4};

use super::resize::{self, Plane};
pub use super::resize::Scratch;
pub use crate::pixels::PackedLayout;

/// YUV to RGB conversion constants (luma coefficients of R and B, and the value range).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct YuvMatrix {
    pub kr: f32,
    pub kb: f32,
    pub full_range: bool,
}

impl YuvMatrix {
    pub const BT601: YuvMatrix = YuvMatrix {
        kr: 0.299,
        kb: 0.114,
        full_range: false,
    };
    pub const BT709: YuvMatrix = YuvMatrix {
        kr: 0.2126,
        kb: 0.0722,
        full_range: false,
    };

    /// Precomputed coefficients: rgb = scale * (y - offset) + chroma terms.
    pub(crate) fn coefficients(self) -> YuvCoefficients {
        let (y_scale, y_offset, c_scale) =
            if self.full_range { (1.0, 0.0, 1.0) } else { (255.0 / 219.0, 16.0, 255.0 / 224.0) };
        let kg = 1.0 - self.kr - self.kb;
        YuvCoefficients {
            y_scale,
            y_offset,
            r_v: 2.0 * (1.0 - self.kr) * c_scale,
            g_u: 2.0 * (1.0 - self.kb) * self.kb / kg * c_scale,
            g_v: 2.0 * (1.0 - self.kr) * self.kr / kg * c_scale,
            b_u: 2.0 * (1.0 - self.kb) * c_scale,
        }
    }
}

/// repr(C): the GPU kernel takes it as is, in its parameters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct YuvCoefficients {
    pub y_scale: f32,
    pub y_offset: f32,
    pub r_v: f32,
    pub g_u: f32,
    pub g_v: f32,
    pub b_u: f32,
}

impl YuvCoefficients {
    #[inline(always)]
    fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let (y, u, v) = ((y - self.y_offset) * self.y_scale, u - 128.0, v - 128.0);
        [y + self.r_v * v, y - self.g_u * u - self.g_v * v, y + self.b_u * u]
    }
}

/// Pixel formats the preprocessor reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PixelFormat {
    Packed(PackedLayout),
    /// Y plane, then one interleaved U/V plane at half resolution.
    Nv12(YuvMatrix),
    /// Y, U and V planes, chroma at half resolution.
    I420(YuvMatrix),
}

/// A borrowed raw frame: planes and their strides in bytes.
#[derive(Clone, Copy, Debug)]
pub struct FrameView<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
}

/// The model input one batch's frames are letterboxed into: `width` x `height` pixels,
/// each a multiple of 32 (the model's stride).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Canvas {
    pub width: usize,
    pub height: usize,
}

impl Canvas {
    pub fn square(size: usize) -> Canvas {
        Canvas { width: size, height: size }
    }

    pub fn area(self) -> usize {
        self.width * self.height
    }
}

/// How a frame is fitted into the model input (the element's `input-shape`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InputShape {
    /// The smallest stride-32 rectangle that holds the frame scaled to `input-size` on its
    /// long side (Ultralytics' own predictor: 1920x1080 at 640 runs as 640x384).
    #[default]
    Fit,
    /// `input-size` x `input-size` whatever the frame (padding fills the rest).
    Square,
}

impl InputShape {
    /// The canvas a `frame_width` x `frame_height` frame is letterboxed into.
    pub fn canvas(self, frame_width: usize, frame_height: usize, size: usize) -> Canvas {
        match self {
            InputShape::Square => Canvas::square(size),
            InputShape::Fit => {
                let lb = Letterbox::new(frame_width, frame_height, size, Canvas::square(size));
                let up = |n: usize| n.div_ceil(32).max(1) * 32;
                Canvas { width: up(lb.scaled_width).min(size), height: up(lb.scaled_height).min(size) }
            }
        }
    }
}

/// How a frame was placed in the model input; maps model coordinates back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    /// Model pixels per frame pixel.
    pub gain: f32,
    pub pad_left: usize,
    pub pad_top: usize,
    pub scaled_width: usize,
    pub scaled_height: usize,
    pub frame_width: usize,
    pub frame_height: usize,
}

impl Letterbox {
    /// The same placement as the Ultralytics/OpenCV letterbox: scale so the frame fits
    /// `size` x `size`, round the scaled size, centre it on `canvas` (split padding rounds
    /// the left/top side down).
    pub fn new(frame_width: usize, frame_height: usize, size: usize, canvas: Canvas) -> Letterbox {
        let gain = (size as f32 / frame_width as f32).min(size as f32 / frame_height as f32);
        let scaled_width = ((frame_width as f32 * gain).round() as usize).clamp(1, canvas.width);
        let scaled_height = ((frame_height as f32 * gain).round() as usize).clamp(1, canvas.height);
        let pad_w = (canvas.width - scaled_width) as f32 / 2.0;
        let pad_h = (canvas.height - scaled_height) as f32 / 2.0;
        Letterbox {
            gain,
            pad_left: (pad_w - 0.1).round() as usize,
            pad_top: (pad_h - 0.1).round() as usize,
            scaled_width,
            scaled_height,
            frame_width,
            frame_height,
        }
    }

    /// Model input pixel -> frame pixel, clamped to the frame.
    pub fn to_frame(self, x: f32, y: f32) -> (f32, f32) {
        let fx = (x - self.pad_left as f32) / self.gain;
        let fy = (y - self.pad_top as f32) / self.gain;
        (
            fx.clamp(0.0, self.frame_width as f32),
            fy.clamp(0.0, self.frame_height as f32),
        )
    }
}

/// Grey padding level of the Ultralytics letterbox.
const PAD_LEVEL: f32 = 114.0;
/// The same, normalised.
#[cfg(test)]
pub const PAD_VALUE: f32 = PAD_LEVEL / 255.0;

/// Why a frame cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreprocessError(pub String);

impl std::fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_plane(name: &str, plane: &[u8], stride: usize, rows: usize, row_bytes: usize) -> Result<usize, PreprocessError> {
    let needed = if rows == 0 { 0 } else { stride * (rows - 1) + row_bytes };
    if stride < row_bytes || plane.len() < needed {
        return Err(PreprocessError(format!(
            "{name} plane has {} bytes with stride {stride}, {needed} needed",
            plane.len()
        )));
    }
    Ok(needed)
}

/// Checks the frame's planes hold its pixels; returns the bytes each plane spans (its
/// last row ends there), which is what an upload must copy.
pub fn plane_extents(frame: &FrameView) -> Result<[usize; 3], PreprocessError> {
    let (w, h) = (frame.width, frame.height);
    if w == 0 || h == 0 {
        return Err(PreprocessError(format!("empty frame {w}x{h}")));
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let plane = |i: usize, name: &str, rows: usize, row_bytes: usize| {
        check_plane(name, frame.planes[i], frame.strides[i], rows, row_bytes)
    };
    Ok(match frame.format {
        PixelFormat::Packed(layout) => [plane(0, "RGB", h, w * layout.bytes_per_pixel)?, 0, 0],
        PixelFormat::Nv12(_) => [plane(0, "Y", h, w)?, plane(1, "UV", ch, cw * 2)?, 0],
        PixelFormat::I420(_) => [plane(0, "Y", h, w)?, plane(1, "U", ch, cw)?, plane(2, "V", ch, cw)?],
    })
}

/// What a letterboxed channel value is stored as: the model's 0..1 float, or the 0..255
/// level itself (for a served model that normalises its input: a quarter of the bytes).
pub trait Level: Copy + Send + Sync {
    /// The value of 8-bit level `level` (a whole number, 0..=255). Arithmetic in floats
    /// rather than a table, so the loops that store levels vectorise.
    fn of(level: f32) -> Self;
}

impl Level for f32 {
    #[inline(always)]
    fn of(level: f32) -> f32 {
        level / 255.0
    }
}

impl Level for u8 {
    #[inline(always)]
    fn of(level: f32) -> u8 {
        level as u8
    }
}

/// A colour rounded to the nearest 8-bit level (as OpenCV stores its resized image).
///
/// Adding and taking away 2^23 rounds a float in 0..256 to a whole number with SSE2's
/// plain additions: `floor` is a libm call on the baseline x86-64 target and a saturating
/// `as i32` does not vectorise, either of which made the colour conversion several times
/// slower. (An exact tie rounds to even rather than up: a level apart, now and then.)
#[inline(always)]
fn round_to_level(v: f32) -> f32 {
    const TWO_TO_23: f32 = 8_388_608.0;
    (v.clamp(0.0, 255.0) + TWO_TO_23) - TWO_TO_23
}

/// One row of packed pixels (`BPP` bytes each, R, G and B at `rgb`) into the three planes'
/// rows. `BPP` is a constant so that the compiler vectorises the strided reads.
#[inline(always)]
fn split_packed_row<const BPP: usize, T: Level>(pixels: &[u8], [red, green, blue]: [usize; 3], r: &mut [T], g: &mut [T], b: &mut [T]) {
    for (((p, r), g), b) in pixels.chunks_exact(BPP).zip(r).zip(g).zip(b) {
        *r = T::of(p[red] as f32);
        *g = T::of(p[green] as f32);
        *b = T::of(p[blue] as f32);
    }
}

/// One row of luma levels and their chroma (U, V) levels converted to RGB levels in the
/// three planes' rows. Generic over how chroma is laid out (interleaved or planar), so each
/// layout gets a loop the compiler vectorises.
#[inline(always)]
fn convert_yuv_row<T: Level>(
    coefficients: YuvCoefficients,
    luma: &[u8],
    chroma: impl Iterator<Item = (u8, u8)>,
    r: &mut [T],
    g: &mut [T],
    b: &mut [T],
) {
    for ((((y, (u, v)), r), g), b) in luma.iter().zip(chroma).zip(r).zip(g).zip(b) {
        let [red, green, blue] = coefficients.to_rgb(*y as f32, u as f32, v as f32);
        *r = T::of(round_to_level(red));
        *g = T::of(round_to_level(green));
        *b = T::of(round_to_level(blue));
    }
}

/// A frame's chroma levels at the model's resolution.
#[derive(Clone, Copy)]
enum Chroma<'a> {
    /// U and V alternating (NV12).
    Interleaved(&'a [u8]),
    /// U, then V (I420).
    Planar(&'a [u8], &'a [u8]),
}

/// Letterboxes `frame` into `out`, a planar RGB tensor of `3 * canvas.area()` levels (0..1
/// floats, or 0..255 bytes), scaled to fit `size` x `size`.
///
/// The frame is resized first, plane by plane in its own format (SIMD, `resize`), and its
/// colours are converted at the model's resolution, a ninth of a 1080p frame's pixels at
/// 640: each channel rounded to an 8-bit level, as the OpenCV letterbox stores its image.
pub fn letterbox_into<T: Level>(frame: &FrameView, size: usize, canvas: Canvas, out: &mut [T]) -> Result<Letterbox, PreprocessError> {
    letterbox_with(frame, size, canvas, out, &mut Scratch::default())
}

/// `letterbox_into` with a worker's buffers, kept from frame to frame.
pub fn letterbox_with<T: Level>(
    frame: &FrameView,
    size: usize,
    canvas: Canvas,
    out: &mut [T],
    scratch: &mut Scratch,
) -> Result<Letterbox, PreprocessError> {
    let (w, h) = (frame.width, frame.height);
    plane_extents(frame)?;
    if size == 0 || canvas.area() == 0 {
        return Err(PreprocessError("model input size 0".into()));
    }
    let area = canvas.area();
    if out.len() != 3 * area {
        return Err(PreprocessError(format!("output holds {} values, {} needed", out.len(), 3 * area)));
    }
    let lb = Letterbox::new(w, h, size, canvas);
    let (sw, sh) = (lb.scaled_width, lb.scaled_height);
    // What of a plane maps onto the frame: all of it, or for chroma half the frame's size.
    let (whole, half) = ((w as f64, h as f64), (w as f64 / 2.0, h as f64 / 2.0));
    let Scratch { resizer, planes: [first, second, third] } = scratch;
    fill_padding(out, canvas, &lb, T::of(PAD_LEVEL));
    let (r_out, rest) = out.split_at_mut(area);
    let (g_out, b_out) = rest.split_at_mut(area);
    // Row `dy` of the scaled frame in each output plane.
    let row = |dy: usize| (lb.pad_top + dy) * canvas.width + lb.pad_left;

    match frame.format {
        PixelFormat::Packed(layout) => {
            let scaled = match layout.bytes_per_pixel {
                3 => scaled_plane::<U8x3>(frame, 0, (w, h), whole, &lb, resizer, first)?,
                _ => scaled_plane::<U8x4>(frame, 0, (w, h), whole, &lb, resizer, first)?,
            };
            let bpp = layout.bytes_per_pixel;
            for (dy, pixels) in scaled.chunks_exact(sw * bpp).enumerate() {
                let at = row(dy);
                let (r, g, b) = (&mut r_out[at..at + sw], &mut g_out[at..at + sw], &mut b_out[at..at + sw]);
                match bpp {
                    3 => split_packed_row::<3, T>(pixels, layout.rgb, r, g, b),
                    _ => split_packed_row::<4, T>(pixels, layout.rgb, r, g, b),
                }
            }
        }
        PixelFormat::Nv12(matrix) | PixelFormat::I420(matrix) => {
            let chroma_size = (w.div_ceil(2), h.div_ceil(2));
            let luma = scaled_plane::<U8>(frame, 0, (w, h), whole, &lb, resizer, first)?;
            // Chroma planes are resized to the luma's scaled size, each sample at the centre
            // of its 2x2 luma block.
            let chroma = match frame.format {
                PixelFormat::Nv12(_) => Chroma::Interleaved(scaled_plane::<U8x2>(frame, 1, chroma_size, half, &lb, resizer, second)?),
                _ => Chroma::Planar(
                    scaled_plane::<U8>(frame, 1, chroma_size, half, &lb, resizer, second)?,
                    scaled_plane::<U8>(frame, 2, chroma_size, half, &lb, resizer, third)?,
                ),
            };
            let coefficients = matrix.coefficients();
            for dy in 0..sh {
                let at = row(dy);
                let (r, g, b) = (&mut r_out[at..at + sw], &mut g_out[at..at + sw], &mut b_out[at..at + sw]);
                let (ys, pixels) = (&luma[dy * sw..(dy + 1) * sw], dy * sw..(dy + 1) * sw);
                match chroma {
                    Chroma::Interleaved(uv) => {
                        let pairs = uv[2 * pixels.start..2 * pixels.end].chunks_exact(2).map(|p| (p[0], p[1]));
                        convert_yuv_row(coefficients, ys, pairs, r, g, b)
                    }
                    Chroma::Planar(u, v) => {
                        let pairs = u[pixels.clone()].iter().copied().zip(v[pixels].iter().copied());
                        convert_yuv_row(coefficients, ys, pairs, r, g, b)
                    }
                }
            }
        }
    }
    Ok(lb)
}

/// Plane `index` of `frame` (`width` x `height` pixels of type P, of which `covers` maps
/// onto the frame) resized to the frame's scaled size in `out`; its bytes.
fn scaled_plane<'o, P>(
    frame: &FrameView,
    index: usize,
    (width, height): (usize, usize),
    covers: (f64, f64),
    lb: &Letterbox,
    resizer: &mut fast_image_resize::Resizer,
    out: &'o mut Vec<u8>,
) -> Result<&'o [u8], PreprocessError>
where
    P: PixelTrait + bytemuck::Pod,
{
    let plane = Plane::<P>::new(frame.planes[index], frame.strides[index], width, height)
        .ok_or_else(|| PreprocessError(format!("plane {index} too short for {width}x{height}")))?;
    resize::bilinear(&plane, covers, (lb.scaled_width, lb.scaled_height), resizer, out).map_err(PreprocessError)
}

/// Writes `pad` in each plane wherever the scaled frame does not cover the canvas.
fn fill_padding<T: Copy>(out: &mut [T], canvas: Canvas, lb: &Letterbox, pad: T) {
    for plane in out.chunks_exact_mut(canvas.area()) {
        for (y, row) in plane.chunks_exact_mut(canvas.width).enumerate() {
            if y < lb.pad_top || y >= lb.pad_top + lb.scaled_height {
                row.fill(pad);
            } else {
                row[..lb.pad_left].fill(pad);
                row[lb.pad_left + lb.scaled_width..].fill(pad);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RGB: PixelFormat = PixelFormat::Packed(PackedLayout::RGB);
    const BGRX: PixelFormat = PixelFormat::Packed(PackedLayout::BGRA);

    #[test]
    fn letterbox_matches_ultralytics_placement() {
        // 1088x1920 portrait into 640: gain 1/3, scaled 363x640, 277 columns of padding.
        let lb = Letterbox::new(1088, 1920, 640, Canvas::square(640));
        assert_eq!((lb.scaled_width, lb.scaled_height), (363, 640));
        assert_eq!((lb.pad_left, lb.pad_top), (138, 0));
        let (x, y) = lb.to_frame(138.0 + 363.0 / 2.0, 320.0);
        assert!((x - 544.0).abs() < 2.0 && (y - 960.0).abs() < 1.0, "{x},{y}");
        // Fitted (Ultralytics' auto=True): the smallest stride-32 canvas, padding split.
        let canvas = InputShape::Fit.canvas(1088, 1920, 640);
        assert_eq!(canvas, Canvas { width: 384, height: 640 });
        let lb = Letterbox::new(1088, 1920, 640, canvas);
        assert_eq!((lb.scaled_width, lb.pad_left, lb.pad_top), (363, 10, 0));
        let (x, _) = lb.to_frame(10.0 + 363.0 / 2.0, 320.0);
        assert!((x - 544.0).abs() < 2.0, "{x}");
    }

    #[test]
    fn fitted_canvases_are_the_smallest_stride_32_rectangle() {
        let fit = |w, h, size| InputShape::Fit.canvas(w, h, size);
        assert_eq!(fit(1920, 1080, 640), Canvas { width: 640, height: 384 });
        assert_eq!(fit(1080, 1920, 640), Canvas { width: 384, height: 640 });
        assert_eq!(fit(1920, 1080, 320), Canvas { width: 320, height: 192 });
        assert_eq!(fit(640, 640, 640), Canvas::square(640));
        assert_eq!(fit(4000, 10, 640), Canvas { width: 640, height: 32 });
        assert_eq!(InputShape::Square.canvas(1920, 1080, 640), Canvas::square(640));
    }

    #[test]
    fn uniform_colour_survives_every_packed_layout() {
        let (w, h) = (37, 21);
        let rgb: Vec<u8> = (0..w * h).flat_map(|_| [200u8, 100, 50]).collect();
        let bgrx: Vec<u8> = (0..w * h).flat_map(|_| [50u8, 100, 200, 255]).collect();
        for (format, data, bpp) in [(RGB, &rgb, 3), (BGRX, &bgrx, 4)] {
            let frame = FrameView { format, width: w, height: h, planes: [data, &[], &[]], strides: [w * bpp, 0, 0] };
            let mut out = vec![0.0; 3 * 64 * 64];
            let lb = letterbox_into(&frame, 64, Canvas::square(64), &mut out).unwrap();
            let centre = 32 * 64 + 32;
            assert_eq!(out[centre], 200.0 / 255.0);
            assert_eq!(out[64 * 64 + centre], 100.0 / 255.0);
            assert_eq!(out[2 * 64 * 64 + centre], 50.0 / 255.0);
            assert_eq!(out[0], PAD_VALUE, "top-left is padding ({lb:?})");
        }
    }

    #[test]
    fn grey_yuv_gives_grey_rgb() {
        let (w, h) = (16, 10);
        let y = vec![126u8; w * h];
        let uv = vec![128u8; w * h / 2];
        let frame = FrameView {
            format: PixelFormat::Nv12(YuvMatrix::BT709),
            width: w,
            height: h,
            planes: [&y, &uv, &[]],
            strides: [w, w, 0],
        };
        let mut out = vec![0.0; 3 * 32 * 32];
        letterbox_into(&frame, 32, Canvas::square(32), &mut out).unwrap();
        let centre = 16 * 32 + 16;
        let expected = ((126.0 - 16.0) * 255.0 / 219.0f32 + 0.5).floor() / 255.0;
        for c in 0..3 {
            assert!((out[c * 1024 + centre] - expected).abs() < 1e-6);
        }
    }

    #[test]
    fn bytes_are_the_levels_the_floats_are_made_of() {
        let (w, h) = (41, 23);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 256) as u8).collect();
        let frame = FrameView { format: RGB, width: w, height: h, planes: [&rgb, &[], &[]], strides: [w * 3, 0, 0] };
        let (mut floats, mut bytes) = (vec![0.0f32; 3 * 64 * 64], vec![0u8; 3 * 64 * 64]);
        let canvas = Canvas::square(64);
        assert_eq!(letterbox_into(&frame, 64, canvas, &mut floats).unwrap(), letterbox_into(&frame, 64, canvas, &mut bytes).unwrap());
        assert!(floats.iter().zip(&bytes).all(|(f, b)| *f == *b as f32 / 255.0), "a served model's x / 255 gives the same input");
        assert_eq!(bytes[0], 114, "padding");
    }

    #[test]
    fn short_plane_is_an_error() {
        let data = vec![0u8; 10];
        let frame = FrameView { format: RGB, width: 8, height: 8, planes: [&data, &[], &[]], strides: [24, 0, 0] };
        let mut out = vec![0.0; 3 * 32 * 32];
        assert!(letterbox_into(&frame, 32, Canvas::square(32), &mut out).is_err());
    }
}
