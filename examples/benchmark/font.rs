//! The font plotters draws text with (ab_glyph needs one registered); shared by the
//! benchmark's and the soak run's plots.

use std::path::Path;

/// Registers DejaVu Sans, from the system's fonts, as "sans-serif".
pub fn register_font() -> Result<(), String> {
    let candidates = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];
    let path = candidates.iter().find(|p| Path::new(p).is_file()).ok_or("no DejaVuSans.ttf (apt install fonts-dejavu-core)")?;
    let bytes: &'static [u8] = Box::leak(std::fs::read(path).map_err(|e| e.to_string())?.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes).map_err(|_| "bad font".to_string())
}
