//! Packed pixel layouts, shared by the engine (which reads frames) and the overlay (which
//! draws on them). No GStreamer here: `formats` maps GStreamer's video formats onto these.

/// Where R, G and B sit in one pixel of a packed format, and its size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedLayout {
    pub bytes_per_pixel: usize,
    /// Byte offsets of red, green and blue within a pixel.
    pub rgb: [usize; 3],
}

impl PackedLayout {
    pub const RGB: PackedLayout = PackedLayout { bytes_per_pixel: 3, rgb: [0, 1, 2] };
    pub const BGR: PackedLayout = PackedLayout { bytes_per_pixel: 3, rgb: [2, 1, 0] };
    /// RGBA and RGBx (the fourth byte is not colour).
    pub const RGBA: PackedLayout = PackedLayout { bytes_per_pixel: 4, rgb: [0, 1, 2] };
    /// BGRA and BGRx.
    pub const BGRA: PackedLayout = PackedLayout { bytes_per_pixel: 4, rgb: [2, 1, 0] };
    /// ARGB and xRGB.
    pub const ARGB: PackedLayout = PackedLayout { bytes_per_pixel: 4, rgb: [1, 2, 3] };
    /// ABGR and xBGR.
    pub const ABGR: PackedLayout = PackedLayout { bytes_per_pixel: 4, rgb: [3, 2, 1] };
}
