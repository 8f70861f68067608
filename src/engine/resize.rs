//! Bilinear resizing of one image plane with `fast_image_resize` (SIMD: SSE4.1, AVX2):
//! OpenCV INTER_LINEAR's sampling (pixel centres aligned, two taps, edges clamped) in fixed
//! point, without the antialiasing a convolution resize adds when it shrinks. This file is
//! only the glue: a strided plane of a video frame seen as the crate's image.

use std::marker::PhantomData;

use fast_image_resize::images::TypedImage;
use fast_image_resize::pixels::InnerPixel;
use fast_image_resize::{FilterType, ImageView, PixelTrait, ResizeAlg, ResizeOptions, Resizer};

/// One plane of a frame: `height` rows of `width` pixels, rows `stride` bytes apart.
pub struct Plane<'a, P> {
    bytes: &'a [u8],
    stride: usize,
    width: u32,
    height: u32,
    pixel: PhantomData<P>,
}

impl<'a, P: InnerPixel> Plane<'a, P> {
    /// None when `bytes` does not hold the rows.
    pub fn new(bytes: &'a [u8], stride: usize, width: usize, height: usize) -> Option<Self> {
        let row_bytes = width * P::size();
        let needed = if height == 0 { 0 } else { stride * (height - 1) + row_bytes };
        (stride >= row_bytes && bytes.len() >= needed).then_some(Plane {
            bytes,
            stride,
            width: width as u32,
            height: height as u32,
            pixel: PhantomData,
        })
    }
}

// SAFETY: every row `iter_rows` yields is exactly `width` pixels long (checked in `new`).
unsafe impl<P: InnerPixel + bytemuck::Pod> ImageView for Plane<'_, P> {
    type Pixel = P;

    fn width(&self) -> u32 {
        self.width
    }

    fn height(&self) -> u32 {
        self.height
    }

    fn iter_rows(&self, start_row: u32) -> impl Iterator<Item = &[P]> {
        let row_bytes = self.width as usize * P::size();
        (start_row..self.height).map(move |y| bytemuck::cast_slice(&self.bytes[y as usize * self.stride..][..row_bytes]))
    }
}

/// What one worker keeps from frame to frame: the resizer (with its working memory) and
/// the scaled planes. Fresh buffers for every frame cost more than the resize itself here:
/// each is megabytes the kernel maps and zeroes page by page.
#[derive(Default)]
pub struct Scratch {
    pub resizer: Resizer,
    pub planes: [Vec<u8>; 3],
}

/// The top-left `covers` (width, height, in pixels, fractions allowed) of `plane`, resized
/// to `width` x `height` by OpenCV's INTER_LINEAR rule into `out`; returns the pixels' bytes,
/// rows back to back.
///
/// `covers` is the plane's size for a full plane; a 4:2:0 chroma plane of an odd-sized
/// frame covers half the luma size (18.5 of its 19 columns for 37 luma columns), so each
/// chroma sample stays at the centre of its 2x2 luma block.
pub fn bilinear<'o, P>(
    plane: &Plane<P>,
    covers: (f64, f64),
    (width, height): (usize, usize),
    resizer: &mut Resizer,
    out: &'o mut Vec<u8>,
) -> Result<&'o [u8], String>
where
    P: PixelTrait + bytemuck::Pod,
{
    out.resize(width * height * P::size(), 0);
    let pixels: &mut [P] = bytemuck::cast_slice_mut(out.as_mut_slice());
    let mut image =
        TypedImage::<P>::from_pixels_slice(width as u32, height as u32, pixels).map_err(|e| format!("resize: {e}"))?;
    // Colour only: a fourth byte (RGBx, BGRA) is not an alpha to premultiply by.
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear))
        .use_alpha(false)
        .crop(0.0, 0.0, covers.0, covers.1);
    resizer.resize_typed(plane, &mut image, &options).map_err(|e| format!("resize: {e}"))?;
    Ok(out.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fast_image_resize::pixels::{U8, U8x3};
    use fast_image_resize::Resizer;

    /// OpenCV INTER_LINEAR of one channel in floats: the rule the resize must follow.
    fn opencv_linear(src: &[u8], w: usize, h: usize, dw: usize, dh: usize) -> Vec<f32> {
        let tap = |d: usize, len: usize, scale: f64| {
            let pos = ((d as f64 + 0.5) * scale - 0.5).max(0.0);
            let i = (pos.floor() as usize).min(len - 1);
            let w = if i + 1 >= len { 0.0 } else { pos - i as f64 };
            (i, (i + 1).min(len - 1), w as f32)
        };
        let (sx, sy) = (w as f64 / dw as f64, h as f64 / dh as f64);
        let mut out = Vec::with_capacity(dw * dh);
        for y in 0..dh {
            let (y0, y1, wy) = tap(y, h, sy);
            for x in 0..dw {
                let (x0, x1, wx) = tap(x, w, sx);
                let at = |x: usize, y: usize| src[y * w + x] as f32;
                let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * wx;
                let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * wx;
                out.push(top + (bottom - top) * wy);
            }
        }
        out
    }

    #[test]
    fn shrinking_follows_opencv_within_one_level() {
        let (w, h) = (197, 111);
        let src: Vec<u8> = (0..w * h).map(|i| ((i * 7919) % 251) as u8).collect();
        for (dw, dh) in [(64, 36), (130, 73), (197, 111), (300, 160)] {
            let plane = Plane::<U8>::new(&src, w, w, h).unwrap();
            let mut out = Vec::new();
            let out = bilinear(&plane, (w as f64, h as f64), (dw, dh), &mut Resizer::new(), &mut out).unwrap();
            let want = opencv_linear(&src, w, h, dw, dh);
            let got: Vec<f32> = out.iter().map(|&p| p as f32).collect();
            let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 1.0, "{dw}x{dh}: {worst} levels from OpenCV's rule");
        }
    }

    #[test]
    fn strided_rows_are_read_without_their_padding() {
        let (w, h, stride) = (5, 3, 5 * 3 + 7);
        let mut bytes = vec![255u8; stride * h];
        for y in 0..h {
            bytes[y * stride..y * stride + w * 3].fill(10);
        }
        let plane = Plane::<U8x3>::new(&bytes, stride, w, h).unwrap();
        let mut out = Vec::new();
        let out = bilinear(&plane, (w as f64, h as f64), (2, 2), &mut Resizer::new(), &mut out).unwrap();
        assert_eq!(out, [10u8; 12], "{out:?}");
        assert!(Plane::<U8x3>::new(&bytes[..stride * 2], stride, w, h).is_none(), "a short plane is refused");
    }
}
