//! CPU preprocessing: one pass from a raw frame (RGB family, NV12, I420) to the model's
//! letterboxed, normalised, planar RGB float input.
//!
//! The resize is bilinear with OpenCV's `INTER_LINEAR` pixel-centre convention and each
//! channel rounded to an 8-bit level, so the tensor matches what the usual
//! OpenCV letterbox (`cv2.resize` + grey 114 border) feeds the model.

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

/// How a frame was placed in the square model input; maps model coordinates back.
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
    /// The same placement as the Ultralytics/OpenCV letterbox: scale to fit, round the
    /// scaled size, centre it (split padding rounds the left/top side down).
    pub fn new(frame_width: usize, frame_height: usize, size: usize) -> Letterbox {
        let gain = (size as f32 / frame_width as f32).min(size as f32 / frame_height as f32);
        let scaled_width = ((frame_width as f32 * gain).round() as usize).clamp(1, size);
        let scaled_height = ((frame_height as f32 * gain).round() as usize).clamp(1, size);
        let pad_w = (size - scaled_width) as f32 / 2.0;
        let pad_h = (size - scaled_height) as f32 / 2.0;
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

/// Bilinear taps along one axis: for each output index, two source indices and the
/// weight of the second.
struct Taps {
    first: Vec<usize>,
    second: Vec<usize>,
    weight: Vec<f32>,
}

impl Taps {
    /// OpenCV INTER_LINEAR: source = (dst + 0.5) * scale - 0.5, clamped at the edges.
    fn new(src_len: usize, dst_len: usize, scale: f64) -> Taps {
        let mut taps = Taps {
            first: Vec::with_capacity(dst_len),
            second: Vec::with_capacity(dst_len),
            weight: Vec::with_capacity(dst_len),
        };
        for d in 0..dst_len {
            let pos = (d as f64 + 0.5) * scale - 0.5;
            let mut i = pos.floor();
            let mut w = pos - i;
            if i < 0.0 {
                i = 0.0;
                w = 0.0;
            }
            let mut i = i as usize;
            if i + 1 >= src_len {
                i = src_len - 1;
                w = 0.0;
            }
            taps.first.push(i);
            taps.second.push((i + 1).min(src_len - 1));
            taps.weight.push(w as f32);
        }
        taps
    }
}

#[inline(always)]
fn lerp(a: u8, b: u8, w: f32) -> f32 {
    a as f32 + (b as f32 - a as f32) * w
}

#[inline(always)]
fn bilinear(top: &[u8], bottom: &[u8], i0: usize, i1: usize, wx: f32, wy: f32) -> f32 {
    let t = lerp(top[i0], top[i1], wx);
    let b = lerp(bottom[i0], bottom[i1], wx);
    t + (b - t) * wy
}

/// Grey padding level of the Ultralytics letterbox.
const PAD_LEVEL: usize = 114;
/// The same, normalised.
#[cfg(test)]
pub const PAD_VALUE: f32 = PAD_LEVEL as f32 / 255.0;

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
    /// The value of each 8-bit level.
    fn levels() -> [Self; 256];
}

impl Level for f32 {
    fn levels() -> [f32; 256] {
        std::array::from_fn(|i| i as f32 / 255.0)
    }
}

impl Level for u8 {
    fn levels() -> [u8; 256] {
        std::array::from_fn(|i| i as u8)
    }
}

/// Letterboxes `frame` into `out`, a planar RGB tensor of `3 * size * size` levels (0..1
/// floats, or 0..255 bytes).
pub fn letterbox_into<T: Level>(frame: &FrameView, size: usize, out: &mut [T]) -> Result<Letterbox, PreprocessError> {
    let (w, h) = (frame.width, frame.height);
    plane_extents(frame)?;
    if size == 0 {
        return Err(PreprocessError("model input size 0".into()));
    }
    let area = size * size;
    if out.len() != 3 * area {
        return Err(PreprocessError(format!("output holds {} values, {} needed", out.len(), 3 * area)));
    }
    let lb = Letterbox::new(w, h, size);
    let scale_x = w as f64 / lb.scaled_width as f64;
    let scale_y = h as f64 / lb.scaled_height as f64;
    let xs = Taps::new(w, lb.scaled_width, scale_x);
    let ys = Taps::new(h, lb.scaled_height, scale_y);
    let (r_out, rest) = out.split_at_mut(area);
    let (g_out, b_out) = rest.split_at_mut(area);
    // Round to an 8-bit level as OpenCV does, then store it through a table: a cast and a
    // lookup are much cheaper than floor() and a division per channel.
    let levels = T::levels();
    let level = |v: f32| levels[((v + 0.5) as i32).clamp(0, 255) as usize];
    let pad = levels[PAD_LEVEL];
    r_out.fill(pad);
    g_out.fill(pad);
    b_out.fill(pad);

    match frame.format {
        PixelFormat::Packed(layout) => {
            let bpp = layout.bytes_per_pixel;
            let [red, green, blue] = layout.rgb;
            // Byte offsets of each tap, per channel, so the inner loop only indexes.
            let (x0, x1): (Vec<usize>, Vec<usize>) =
                xs.first.iter().zip(&xs.second).map(|(&a, &b)| (a * bpp, b * bpp)).unzip();
            for dy in 0..lb.scaled_height {
                let stride = frame.strides[0];
                let top = &frame.planes[0][ys.first[dy] * stride..][..w * bpp];
                let bottom = &frame.planes[0][ys.second[dy] * stride..][..w * bpp];
                let wy = ys.weight[dy];
                let row = (lb.pad_top + dy) * size + lb.pad_left;
                let (r_row, g_row, b_row) = (
                    &mut r_out[row..row + lb.scaled_width],
                    &mut g_out[row..row + lb.scaled_width],
                    &mut b_out[row..row + lb.scaled_width],
                );
                for dx in 0..lb.scaled_width {
                    let (t0, t1, wx) = (x0[dx], x1[dx], xs.weight[dx]);
                    r_row[dx] = level(bilinear(top, bottom, t0 + red, t1 + red, wx, wy));
                    g_row[dx] = level(bilinear(top, bottom, t0 + green, t1 + green, wx, wy));
                    b_row[dx] = level(bilinear(top, bottom, t0 + blue, t1 + blue, wx, wy));
                }
            }
        }
        PixelFormat::Nv12(matrix) | PixelFormat::I420(matrix) => {
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let nv12 = matches!(frame.format, PixelFormat::Nv12(_));
            // Chroma samples sit at the centre of each 2x2 luma block.
            let cxs = Taps::new(cw, lb.scaled_width, scale_x / 2.0);
            let cys = Taps::new(ch, lb.scaled_height, scale_y / 2.0);
            let coefficients = matrix.coefficients();
            let row_of = |plane: usize, y: usize| &frame.planes[plane][y * frame.strides[plane]..];
            for dy in 0..lb.scaled_height {
                let (y_top, y_bottom, wy) = (row_of(0, ys.first[dy]), row_of(0, ys.second[dy]), ys.weight[dy]);
                let (cy0, cy1, cwy) = (cys.first[dy], cys.second[dy], cys.weight[dy]);
                // NV12: U and V interleaved in plane 1; I420: U in plane 1, V in plane 2.
                let (u_top, u_bottom) = (row_of(1, cy0), row_of(1, cy1));
                let (v_top, v_bottom) = if nv12 { (u_top, u_bottom) } else { (row_of(2, cy0), row_of(2, cy1)) };
                let (step, v_offset) = if nv12 { (2, 1) } else { (1, 0) };
                let row = (lb.pad_top + dy) * size + lb.pad_left;
                for dx in 0..lb.scaled_width {
                    let luma = bilinear(y_top, y_bottom, xs.first[dx], xs.second[dx], xs.weight[dx], wy);
                    let (c0, c1, cwx) = (step * cxs.first[dx], step * cxs.second[dx], cxs.weight[dx]);
                    let u = bilinear(u_top, u_bottom, c0, c1, cwx, cwy);
                    let v = bilinear(v_top, v_bottom, c0 + v_offset, c1 + v_offset, cwx, cwy);
                    let [r, g, b] = coefficients.to_rgb(luma, u, v);
                    r_out[row + dx] = level(r);
                    g_out[row + dx] = level(g);
                    b_out[row + dx] = level(b);
                }
            }
        }
    }
    Ok(lb)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RGB: PixelFormat = PixelFormat::Packed(PackedLayout::RGB);
    const BGRX: PixelFormat = PixelFormat::Packed(PackedLayout::BGRA);

    #[test]
    fn letterbox_matches_ultralytics_placement() {
        // 1088x1920 portrait into 640: gain 1/3, scaled 363x640, 277 columns of padding.
        let lb = Letterbox::new(1088, 1920, 640);
        assert_eq!((lb.scaled_width, lb.scaled_height), (363, 640));
        assert_eq!((lb.pad_left, lb.pad_top), (138, 0));
        let (x, y) = lb.to_frame(138.0 + 363.0 / 2.0, 320.0);
        assert!((x - 544.0).abs() < 2.0 && (y - 960.0).abs() < 1.0, "{x},{y}");
    }

    #[test]
    fn uniform_colour_survives_every_packed_layout() {
        let (w, h) = (37, 21);
        let rgb: Vec<u8> = (0..w * h).flat_map(|_| [200u8, 100, 50]).collect();
        let bgrx: Vec<u8> = (0..w * h).flat_map(|_| [50u8, 100, 200, 255]).collect();
        for (format, data, bpp) in [(RGB, &rgb, 3), (BGRX, &bgrx, 4)] {
            let frame = FrameView { format, width: w, height: h, planes: [data, &[], &[]], strides: [w * bpp, 0, 0] };
            let mut out = vec![0.0; 3 * 64 * 64];
            let lb = letterbox_into(&frame, 64, &mut out).unwrap();
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
        letterbox_into(&frame, 32, &mut out).unwrap();
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
        assert_eq!(letterbox_into(&frame, 64, &mut floats).unwrap(), letterbox_into(&frame, 64, &mut bytes).unwrap());
        assert!(floats.iter().zip(&bytes).all(|(f, b)| *f == *b as f32 / 255.0), "a served model's x / 255 gives the same input");
        assert_eq!(bytes[0], 114, "padding");
    }

    #[test]
    fn short_plane_is_an_error() {
        let data = vec![0u8; 10];
        let frame = FrameView { format: RGB, width: 8, height: 8, planes: [&data, &[], &[]], strides: [24, 0, 0] };
        let mut out = vec![0.0; 3 * 32 * 32];
        assert!(letterbox_into(&frame, 32, &mut out).is_err());
    }
}
