//! Drawing skeletons on packed RGB-family pixels, with no GStreamer types: a small
//! anti-aliased rasteriser (capsule lines and discs by distance to the shape, one pass per
//! covered row span) and the per-person colour tracker.
//!
//! Coordinates are frame pixels with pixel (i, j) covering [i, i+1) x [j, j+1), so its
//! centre is (i + 0.5, j + 0.5). Coverage is 1 inside the shape and falls linearly to 0
//! over the one pixel across its edge.

use crate::geometry::iou;
use crate::meta::SKELETON;
pub use crate::pixels::PackedLayout as Layout;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Person colours, in the order new people get them: bright, well apart, readable on video.
pub const PALETTE: [Rgb; 12] = [
    [255, 56, 56],   // red
    [56, 200, 255],  // sky blue
    [72, 230, 72],   // green
    [255, 200, 30],  // amber
    [200, 80, 255],  // violet
    [255, 128, 200], // pink
    [0, 240, 200],   // turquoise
    [255, 140, 30],  // orange
    [120, 120, 255], // periwinkle
    [200, 255, 60],  // lime
    [255, 255, 255], // white
    [180, 110, 60],  // brown
];

/// Outline around keypoints, so they read on any background.
const OUTLINE: Rgb = [16, 16, 16];

/// A frame's pixels to draw on: `height` rows of `stride` bytes, each starting with
/// `width` pixels of `layout`.
pub struct Canvas<'a> {
    data: &'a mut [u8],
    width: usize,
    height: usize,
    stride: usize,
    layout: Layout,
}

impl<'a> Canvas<'a> {
    /// None when the buffer is too small for the size, or the stride too short for a row.
    pub fn new(data: &'a mut [u8], width: usize, height: usize, stride: usize, layout: Layout) -> Option<Canvas<'a>> {
        let row = width.checked_mul(layout.bytes_per_pixel)?;
        if stride < row || layout.rgb.iter().any(|&o| o >= layout.bytes_per_pixel) {
            return None;
        }
        if height > 0 && data.len() < stride.checked_mul(height - 1)?.checked_add(row)? {
            return None;
        }
        Some(Canvas { data, width, height, stride, layout })
    }

    /// The colour of pixel (x, y).
    #[cfg(test)]
    pub fn pixel(&self, x: usize, y: usize) -> Rgb {
        let at = y * self.stride + x * self.layout.bytes_per_pixel;
        self.layout.rgb.map(|o| self.data[at + o])
    }

    /// Blends `colour` over the pixels `x0..x1` of row `y`, `coverage(x)` in 0..=1 each.
    fn blend_span(&mut self, y: usize, x0: usize, x1: usize, colour: Rgb, mut coverage: impl FnMut(usize) -> f32) {
        let bpp = self.layout.bytes_per_pixel;
        let rgb = self.layout.rgb;
        let row = &mut self.data[y * self.stride..];
        for x in x0..x1 {
            let a = coverage(x);
            if a.is_nan() || a <= 0.0 {
                continue;
            }
            let a = (a.min(1.0) * 256.0) as u32;
            let px = &mut row[x * bpp..x * bpp + bpp];
            for (c, &o) in colour.iter().zip(&rgb) {
                px[o] = ((px[o] as u32 * (256 - a) + *c as u32 * a) >> 8) as u8;
            }
        }
    }

    /// Rows and columns a shape within `[x0, x1] x [y0, y1]` (frame pixels) can touch,
    /// clipped to the canvas; None when it is off the canvas or not finite.
    fn clip(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> Option<(usize, usize, usize, usize)> {
        // (min and max skip a NaN, so callers check their points; this catches overflow.)
        if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
            return None;
        }
        let cx0 = x0.floor().max(0.0);
        let cy0 = y0.floor().max(0.0);
        let cx1 = x1.ceil().min(self.width as f32);
        let cy1 = y1.ceil().min(self.height as f32);
        if cx0 >= cx1 || cy0 >= cy1 {
            return None;
        }
        Some((cx0 as usize, cy0 as usize, cx1 as usize, cy1 as usize))
    }

    /// A line from `a` to `b`, `width` pixels wide, with round ends (a capsule).
    pub fn line(&mut self, a: [f32; 2], b: [f32; 2], width: f32, colour: Rgb) {
        let r = width / 2.0;
        if r.is_nan() || r <= 0.0 || !a.iter().chain(&b).all(|v| v.is_finite()) {
            return;
        }
        let reach = r + 0.5; // coverage reaches 0 half a pixel outside the edge
        let Some((bx0, by0, bx1, by1)) = self.clip(
            a[0].min(b[0]) - reach,
            a[1].min(b[1]) - reach,
            a[0].max(b[0]) + reach,
            a[1].max(b[1]) + reach,
        ) else {
            return;
        };
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len2 = dx * dx + dy * dy;
        let (ymin, ymax) = (a[1].min(b[1]), a[1].max(b[1]));
        // Half the span of the thick line along a row, when the line is not near horizontal.
        let half_span = if dy.abs() > 1e-3 { reach * len2.sqrt() / dy.abs() + reach } else { f32::INFINITY };
        for y in by0..by1 {
            let py = y as f32 + 0.5;
            // Columns this row can touch: around where the centre line crosses it.
            let (x0, x1) = if half_span.is_finite() {
                let yc = py.clamp(ymin, ymax);
                let xc = a[0] + (yc - a[1]) * dx / dy;
                (((xc - half_span).floor().max(bx0 as f32)) as usize, ((xc + half_span).ceil().min(bx1 as f32)) as usize)
            } else {
                (bx0, bx1)
            };
            if x0 >= x1 {
                continue;
            }
            self.blend_span(y, x0, x1, colour, |x| {
                let (px, py) = (x as f32 + 0.5 - a[0], py - a[1]);
                let t = if len2 > 0.0 { ((px * dx + py * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
                let (ex, ey) = (px - t * dx, py - t * dy);
                reach - (ex * ex + ey * ey).sqrt()
            });
        }
    }

    /// A filled disc of `radius` pixels around `c`.
    pub fn disc(&mut self, c: [f32; 2], radius: f32, colour: Rgb) {
        if radius.is_nan() || radius <= 0.0 || !c.iter().all(|v| v.is_finite()) {
            return;
        }
        let reach = radius + 0.5;
        let Some((bx0, by0, bx1, by1)) = self.clip(c[0] - reach, c[1] - reach, c[0] + reach, c[1] + reach) else {
            return;
        };
        for y in by0..by1 {
            let py = y as f32 + 0.5 - c[1];
            let half = (reach * reach - py * py).max(0.0).sqrt();
            let x0 = ((c[0] - half).floor().max(bx0 as f32)) as usize;
            let x1 = ((c[0] + half).ceil().min(bx1 as f32)) as usize;
            if x0 >= x1 {
                continue;
            }
            self.blend_span(y, x0, x1, colour, |x| {
                let px = x as f32 + 0.5 - c[0];
                reach - (px * px + py * py).sqrt()
            });
        }
    }

    /// The outline of the box x1, y1, x2, y2.
    pub fn rect(&mut self, b: [f32; 4], width: f32, colour: Rgb) {
        let [x1, y1, x2, y2] = b;
        self.line([x1, y1], [x2, y1], width, colour);
        self.line([x2, y1], [x2, y2], width, colour);
        self.line([x2, y2], [x1, y2], width, colour);
        self.line([x1, y2], [x1, y1], width, colour);
    }
}

/// How people are drawn (the element's properties).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    pub line_width: f32,
    pub point_radius: f32,
    pub keypoint_threshold: f32,
    pub draw_boxes: bool,
}

impl Default for Style {
    fn default() -> Self {
        Style { line_width: 3.0, point_radius: 4.0, keypoint_threshold: 0.5, draw_boxes: true }
    }
}

/// Draws one person: the box (if asked), the limbs whose two ends are both above the
/// threshold, then those keypoints as discs with a dark rim. `keypoints` are x, y,
/// confidence in COCO order; `scale` maps their coordinates onto the canvas.
pub fn draw_person(canvas: &mut Canvas, bbox: [f32; 4], keypoints: &[[f32; 3]], colour: Rgb, style: &Style, scale: [f32; 2]) {
    let at = |k: &[f32; 3]| [k[0] * scale[0], k[1] * scale[1]];
    if style.draw_boxes {
        let b = [bbox[0] * scale[0], bbox[1] * scale[1], bbox[2] * scale[0], bbox[3] * scale[1]];
        canvas.rect(b, style.line_width, colour);
    }
    let visible = |i: usize| keypoints.get(i).filter(|k| k[2] >= style.keypoint_threshold);
    for &(i, j) in SKELETON.iter() {
        if let (Some(a), Some(b)) = (visible(i), visible(j)) {
            canvas.line(at(a), at(b), style.line_width, colour);
        }
    }
    if style.point_radius > 0.0 {
        for k in keypoints.iter().filter(|k| k[2] >= style.keypoint_threshold) {
            canvas.disc(at(k), style.point_radius + 1.0, OUTLINE);
            canvas.disc(at(k), style.point_radius, colour);
        }
    }
}

/// The palette colour of track `id` (> 0): the same person keeps it for as long as
/// posebatch tracks them.
pub fn track_colour(id: u64) -> usize {
    ((id.max(1) - 1) % PALETTE.len() as u64) as usize
}

/// Minimum overlap with a previous frame's box to inherit its colour.
pub const TRACK_IOU: f32 = 0.3;

/// Keeps each person's colour from frame to frame: a person gets the colour of the previous
/// frame's box it overlaps most (IoU above [`TRACK_IOU`], each previous box given once, best
/// overlaps first), else the next palette colour not in use in this frame.
#[derive(Debug, Default)]
pub struct ColourTracker {
    previous: Vec<([f32; 4], usize)>,
    next: usize,
}

impl ColourTracker {
    /// Palette indices for this frame's boxes; remembers them for the next frame.
    pub fn assign(&mut self, boxes: &[[f32; 4]]) -> Vec<usize> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (i, b) in boxes.iter().enumerate() {
            for (j, (p, _)) in self.previous.iter().enumerate() {
                let o = iou(b, p);
                if o > TRACK_IOU {
                    pairs.push((o, i, j));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut colours: Vec<Option<usize>> = vec![None; boxes.len()];
        let mut taken = vec![false; self.previous.len()];
        for (_, i, j) in pairs {
            if colours[i].is_none() && !taken[j] {
                colours[i] = Some(self.previous[j].1);
                taken[j] = true;
            }
        }
        let mut in_use: Vec<usize> = colours.iter().flatten().copied().collect();
        let colours: Vec<usize> = colours
            .into_iter()
            .map(|c| {
                c.unwrap_or_else(|| {
                    // The next colour not in use in this frame (any, once all are).
                    let mut id = self.next % PALETTE.len();
                    for step in 0..PALETTE.len() {
                        let candidate = (self.next + step) % PALETTE.len();
                        if !in_use.contains(&candidate) {
                            id = candidate;
                            break;
                        }
                    }
                    self.next = (id + 1) % PALETTE.len();
                    in_use.push(id);
                    id
                })
            })
            .collect();
        self.previous = boxes.iter().copied().zip(colours.iter().copied()).collect();
        colours
    }

    /// Forgets the previous frame (new stream, flush).
    pub fn reset(&mut self) {
        *self = ColourTracker::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLACK: Rgb = [0, 0, 0];
    const RED: Rgb = [255, 0, 0];

    fn buffer(w: usize, h: usize, layout: Layout, stride: usize) -> Vec<u8> {
        let _ = w;
        vec![0u8; stride * h + layout.bytes_per_pixel] // a little slack after the last row
    }

    #[test]
    fn canvas_refuses_short_buffers_and_strides() {
        let mut small = vec![0u8; 10];
        assert!(Canvas::new(&mut small, 4, 1, 12, Layout::RGB).is_none());
        let mut ok = vec![0u8; 12 * 3];
        assert!(Canvas::new(&mut ok, 4, 3, 11, Layout::RGB).is_none(), "stride shorter than a row");
        assert!(Canvas::new(&mut ok, 4, 3, 12, Layout::RGB).is_some());
        assert!(Canvas::new(&mut ok, 0, 0, 0, Layout::RGB).is_some());
    }

    #[test]
    fn horizontal_line_covers_its_width_and_nothing_else() {
        let (w, h) = (20, 10);
        let mut data = buffer(w, h, Layout::RGB, w * 3);
        let mut c = Canvas::new(&mut data, w, h, w * 3, Layout::RGB).unwrap();
        c.line([4.0, 5.0], [15.0, 5.0], 3.0, RED);
        // Rows 4 and 5 (centres 4.5 and 5.5) are inside the 3-pixel band around y = 5,
        // rows 3 and 6 half covered (anti-aliased edge), rows 2 and 7 untouched.
        for x in 5..15 {
            assert_eq!(c.pixel(x, 4), RED, "x {x}");
            assert_eq!(c.pixel(x, 5), RED, "x {x}");
            assert_eq!(c.pixel(x, 3), [127, 0, 0]);
            assert_eq!(c.pixel(x, 6), [127, 0, 0]);
            assert_eq!(c.pixel(x, 2), BLACK);
            assert_eq!(c.pixel(x, 7), BLACK);
        }
        // Round ends: nothing left of 2 or right of 17.
        for y in 0..h {
            assert_eq!(c.pixel(1, y), BLACK);
            assert_eq!(c.pixel(18, y), BLACK);
        }
    }

    #[test]
    fn diagonal_line_is_symmetric_and_continuous() {
        let (w, h) = (32, 32);
        let mut data = buffer(w, h, Layout::RGB, w * 3);
        let mut c = Canvas::new(&mut data, w, h, w * 3, Layout::RGB).unwrap();
        c.line([4.0, 4.0], [28.0, 28.0], 3.0, RED);
        for i in 5..27 {
            assert_eq!(c.pixel(i, i), RED, "on the line at {i}");
            // Mirror symmetry about the diagonal.
            assert_eq!(c.pixel(i, i + 2), c.pixel(i + 2, i));
            // Far off the line stays untouched.
            if i + 8 < w {
                assert_eq!(c.pixel(i, i + 8), BLACK);
            }
        }
    }

    #[test]
    fn steep_and_shallow_lines_match_the_brute_force_coverage() {
        // The row-span shortcut must not miss pixels the plain distance test would colour.
        for (a, b) in [([3.2, 1.1], [9.7, 30.4]), ([1.0, 9.0], [30.0, 11.5]), ([5.0, 5.0], [5.0, 5.0]), ([2.0, 20.0], [29.0, 3.0])] {
            let (w, h) = (32, 32);
            let mut data = buffer(w, h, Layout::RGB, w * 3);
            let mut c = Canvas::new(&mut data, w, h, w * 3, Layout::RGB).unwrap();
            c.line(a, b, 3.0, RED);
            for y in 0..h {
                for x in 0..w {
                    let (px, py) = (x as f32 + 0.5 - a[0], y as f32 + 0.5 - a[1]);
                    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                    let len2 = dx * dx + dy * dy;
                    let t = if len2 > 0.0 { ((px * dx + py * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
                    let d = ((px - t * dx).powi(2) + (py - t * dy).powi(2)).sqrt();
                    let expect = ((2.0 - d).clamp(0.0, 1.0) * 256.0) as u32;
                    let expect = ((255 * expect) >> 8) as u8;
                    assert_eq!(c.pixel(x, y)[0], expect, "{a:?}->{b:?} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn disc_is_round_and_centred() {
        let (w, h) = (21, 21);
        let mut data = buffer(w, h, Layout::RGB, w * 3);
        let mut c = Canvas::new(&mut data, w, h, w * 3, Layout::RGB).unwrap();
        c.disc([10.5, 10.5], 4.0, RED);
        assert_eq!(c.pixel(10, 10), RED);
        for d in 0..=3 {
            assert_eq!(c.pixel(10 + d, 10), RED);
            assert_eq!(c.pixel(10 - d, 10), RED);
            assert_eq!(c.pixel(10, 10 + d), RED);
        }
        assert_eq!(c.pixel(15, 10), BLACK);
        assert_eq!(c.pixel(14, 14), BLACK, "corner of the square around it");
        // Four-fold symmetry.
        for y in 0..h {
            for x in 0..w {
                assert_eq!(c.pixel(x, y), c.pixel(w - 1 - x, y));
                assert_eq!(c.pixel(x, y), c.pixel(x, h - 1 - y));
            }
        }
    }

    #[test]
    fn layouts_write_the_right_bytes_and_keep_the_fourth() {
        for (layout, red_at) in [(Layout::RGB, 0), (Layout::BGR, 2), (Layout::RGBA, 0), (Layout::BGRA, 2), (Layout::ARGB, 1), (Layout::ABGR, 3)] {
            let bpp = layout.bytes_per_pixel;
            let mut data = vec![7u8; 4 * bpp * 4];
            let mut c = Canvas::new(&mut data, 4, 4, 4 * bpp, layout).unwrap();
            c.disc([1.5, 1.5], 0.7, RED); // covers pixel (1, 1) fully
            assert_eq!(c.pixel(1, 1), RED);
            let px = &data[(4 + 1) * bpp..(4 + 2) * bpp];
            for (i, &v) in px.iter().enumerate() {
                let expect = if i == red_at {
                    255
                } else if layout.rgb.contains(&i) {
                    0
                } else {
                    7 // alpha / padding untouched
                };
                assert_eq!(v, expect, "{layout:?} byte {i}");
            }
        }
    }

    #[test]
    fn stride_padding_is_never_written() {
        let (w, h, stride) = (5, 6, 20); // 15 bytes of pixels, 5 of padding per row
        let mut data = vec![9u8; stride * h];
        let mut c = Canvas::new(&mut data, w, h, stride, Layout::RGB).unwrap();
        c.line([-10.0, -10.0], [30.0, 30.0], 40.0, RED); // covers everything
        c.disc([2.5, 3.0], 100.0, RED);
        for y in 0..h {
            assert!(data[y * stride..y * stride + 15].iter().zip([255u8, 0, 0].iter().cycle()).all(|(a, b)| a == b));
            assert!(data[y * stride + 15..(y + 1) * stride].iter().all(|&v| v == 9), "row {y} padding");
        }
    }

    #[test]
    fn shapes_off_the_canvas_or_not_finite_draw_nothing() {
        let (w, h) = (8, 8);
        let mut data = buffer(w, h, Layout::RGB, w * 3);
        let before = data.clone();
        let mut c = Canvas::new(&mut data, w, h, w * 3, Layout::RGB).unwrap();
        c.line([-100.0, -100.0], [-50.0, -20.0], 3.0, RED);
        c.line([f32::NAN, 1.0], [3.0, 3.0], 3.0, RED);
        c.line([1.0, 1.0], [f32::INFINITY, 3.0], 3.0, RED);
        c.line([1.0, 1.0], [3.0, 3.0], 0.0, RED);
        c.disc([1e30, 1e30], 3.0, RED);
        c.disc([4.0, 4.0], f32::NAN, RED);
        c.rect([100.0, 100.0, 200.0, 200.0], 2.0, RED);
        assert_eq!(data, before);
    }

    #[test]
    fn huge_coordinates_are_clipped_not_panicking() {
        let (w, h) = (8, 8);
        let mut data = buffer(w, h, Layout::RGB, w * 3);
        let mut c = Canvas::new(&mut data, w, h, w * 3, Layout::RGB).unwrap();
        c.line([-1e9, 4.0], [1e9, 4.0], 2.0, RED);
        assert_eq!(c.pixel(0, 3), RED);
        assert_eq!(c.pixel(7, 4), RED);
        c.line([4.0, -1e9], [4.5, 1e9], 2.0, RED);
        assert_eq!(c.pixel(4, 0), RED);
    }

    fn person(points: &[(usize, f32, f32, f32)]) -> Vec<[f32; 3]> {
        let mut k = vec![[0.0f32; 3]; 17];
        for &(i, x, y, c) in points {
            k[i] = [x, y, c];
        }
        k
    }

    #[test]
    fn person_draws_limbs_and_keypoints_above_threshold_only() {
        let (w, h) = (64, 64);
        const GREY: Rgb = [128, 128, 128];
        let mut data = vec![128u8; w * h * 3];
        let mut c = Canvas::new(&mut data, w, h, w * 3, Layout::RGB).unwrap();
        // Shoulders 5-6 both sure; elbow 7 sure, wrist 9 not: limb 7-9 must not appear.
        let kp = person(&[(5, 20.0, 20.0, 0.9), (6, 44.0, 20.0, 0.9), (7, 20.0, 40.0, 0.8), (9, 20.0, 60.0, 0.3)]);
        let style = Style { draw_boxes: false, ..Style::default() };
        draw_person(&mut c, [0.0; 4], &kp, PALETTE[0], &style, [1.0, 1.0]);
        assert_eq!(c.pixel(32, 19), PALETTE[0], "limb 5-6 midpoint");
        assert_eq!(c.pixel(19, 30), PALETTE[0], "limb 5-7 midpoint");
        assert_eq!(c.pixel(19, 52), GREY, "limb 7-9 has an unsure end");
        assert_eq!(c.pixel(20, 60), GREY, "unsure keypoint not drawn");
        assert_eq!(c.pixel(19, 39), PALETTE[0], "keypoint disc centre");
        assert!(c.pixel(24, 40).iter().all(|&v| v < 40), "dark rim around the keypoint: {:?}", c.pixel(24, 40));
        assert_eq!(c.pixel(2, 2), GREY, "no box");
    }

    #[test]
    fn boxes_are_drawn_when_asked_and_scaled() {
        let (w, h) = (64, 64);
        let mut data = buffer(w, h, Layout::RGB, w * 3);
        let mut c = Canvas::new(&mut data, w, h, w * 3, Layout::RGB).unwrap();
        let style = Style { line_width: 1.0, point_radius: 0.0, ..Style::default() };
        // A box in 128x128 coordinates drawn on a 64x64 canvas.
        draw_person(&mut c, [20.0, 20.0, 100.0, 100.0], &person(&[]), RED, &style, [0.5, 0.5]);
        assert_eq!(c.pixel(30, 10), [127, 0, 0], "top edge at y = 10 covers half of rows 9 and 10");
        assert_eq!(c.pixel(30, 9), [127, 0, 0]);
        assert_eq!(c.pixel(30, 30), BLACK, "inside");
        assert_eq!(c.pixel(49, 30), [127, 0, 0], "right edge at x = 50");
        assert_eq!(c.pixel(55, 30), BLACK, "outside");
    }

    #[test]
    fn colours_follow_people_across_frames() {
        let mut t = ColourTracker::default();
        let a = [0.0, 0.0, 100.0, 200.0];
        let b = [300.0, 0.0, 400.0, 200.0];
        let first = t.assign(&[a, b]);
        assert_eq!(first, vec![0, 1]);
        // Same people, listed in the other order and moved a little: same colours.
        let moved = |r: [f32; 4], d: f32| [r[0] + d, r[1], r[2] + d, r[3]];
        assert_eq!(t.assign(&[moved(b, 10.0), moved(a, 5.0)]), vec![1, 0]);
        // A third person appears: a new colour, not one in use.
        let c = [600.0, 0.0, 700.0, 200.0];
        assert_eq!(t.assign(&[moved(a, 10.0), c, moved(b, 20.0)]), vec![0, 2, 1]);
        // Person a leaves; a new person far away gets a fresh colour, not a's.
        let d = [900.0, 0.0, 1000.0, 200.0];
        assert_eq!(t.assign(&[c, moved(b, 20.0), d]), vec![2, 1, 3]);
        // Empty frame forgets everyone.
        assert_eq!(t.assign(&[]), Vec::<usize>::new());
        assert_eq!(t.assign(&[c]), vec![4]);
    }

    #[test]
    fn each_previous_box_gives_its_colour_once() {
        let mut t = ColourTracker::default();
        let a = [0.0, 0.0, 100.0, 200.0];
        assert_eq!(t.assign(&[a]), vec![0]);
        // Two boxes both overlap a; the closer one keeps its colour, the other gets a new one.
        let near = [2.0, 0.0, 102.0, 200.0];
        let far = [40.0, 0.0, 140.0, 200.0];
        assert_eq!(t.assign(&[far, near]), vec![1, 0]);
    }

    #[test]
    fn many_people_wrap_the_palette_without_panicking() {
        let mut t = ColourTracker::default();
        let boxes: Vec<[f32; 4]> = (0..30).map(|i| [i as f32 * 50.0, 0.0, i as f32 * 50.0 + 40.0, 100.0]).collect();
        let ids = t.assign(&boxes);
        assert_eq!(ids.len(), 30);
        assert!(ids.iter().all(|&i| i < PALETTE.len()));
        let distinct: std::collections::HashSet<_> = ids[..PALETTE.len()].iter().collect();
        assert_eq!(distinct.len(), PALETTE.len(), "the first twelve people get twelve colours");
        assert_eq!(t.assign(&boxes), ids, "and keep them");
    }
}
