//! The CJK font a page is set in: a TrueType font (or one face of a collection) read once, its
//! glyphs looked up by character, and the subset of the glyphs a page uses, embedded in the PDF.
//!
//! A character the font has no glyph for is an error ([`MissingGlyph`]), never a blank box.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where Debian puts the fonts the scripts install, tried in this order when none is configured.
pub const DEFAULT_FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
];

/// A character the font cannot draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingGlyph(pub char);

impl std::fmt::Display for MissingGlyph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the font has no glyph for {:?} (U+{:04X})",
            self.0, self.0 as u32
        )
    }
}

/// A TrueType face, kept as the file's bytes and parsed again on use (parsing reads only the
/// table directory).
pub struct Font {
    data: Vec<u8>,
    index: u32,
    path: PathBuf,
    /// The PostScript name, reduced to what a PDF name may hold.
    name: String,
    units_per_em: f32,
}

/// The glyphs one page uses: the font's glyph id of each character, and the text each glyph
/// stands for (the PDF's ToUnicode map).
#[derive(Debug, Default)]
pub struct Used {
    pub glyphs: BTreeMap<u16, char>,
}

impl Font {
    /// Reads face 0 of `path` (a `.ttf` or a `.ttc`); refuses a font without TrueType outlines.
    pub fn open(path: &Path) -> Result<Self, String> {
        let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let face = ttf_parser::Face::parse(&data, 0)
            .map_err(|e| format!("{} is not a TrueType font: {e}", path.display()))?;
        if face.tables().glyf.is_none() {
            return Err(format!(
                "{} has no TrueType outlines (glyf); a CFF font such as Noto CJK's OTF is not supported",
                path.display()
            ));
        }
        let name = face
            .names()
            .into_iter()
            .filter(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|n| n.to_string())
            .unwrap_or_else(|| "LicenceVaultFont".to_owned())
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let units_per_em = f32::from(face.units_per_em());
        Ok(Self {
            index: 0,
            path: path.to_owned(),
            name,
            units_per_em,
            data,
        })
    }

    /// The configured font, else the first of [`DEFAULT_FONTS`] present.
    pub fn find(configured: Option<&Path>) -> Result<Self, String> {
        if let Some(p) = configured {
            return Self::open(p);
        }
        DEFAULT_FONTS
            .iter()
            .map(Path::new)
            .find(|p| p.exists())
            .ok_or_else(|| {
                format!(
                    "no CJK font found (tried {}); install fonts-wqy-microhei or give --font",
                    DEFAULT_FONTS.join(", ")
                )
            })
            .and_then(Self::open)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The face, parsed again from the bytes `open` parsed (so never `None` in practice).
    fn face(&self) -> Option<ttf_parser::Face<'_>> {
        ttf_parser::Face::parse(&self.data, self.index).ok()
    }

    /// The glyph of each character of `text`, recorded in `used`.
    pub fn glyphs(&self, text: &str, used: &mut Used) -> Result<Vec<u16>, MissingGlyph> {
        let face = self.face();
        text.chars()
            .map(|c| {
                let g = face
                    .as_ref()
                    .and_then(|f| f.glyph_index(c))
                    .filter(|g| g.0 != 0)
                    .ok_or(MissingGlyph(c))?;
                used.glyphs.entry(g.0).or_insert(c);
                Ok(g.0)
            })
            .collect()
    }

    /// The width of `text` at `size` points; unknown characters count as one em.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let face = self.face();
        text.chars()
            .map(|c| {
                face.as_ref()
                    .and_then(|f| f.glyph_hor_advance(f.glyph_index(c)?))
                    .map_or(self.units_per_em, f32::from)
            })
            .sum::<f32>()
            * size
            / self.units_per_em
    }

    /// A glyph's advance in thousandths of an em (the PDF's `/W`).
    pub fn advance(&self, glyph: u16) -> u32 {
        let adv = self
            .face()
            .and_then(|f| f.glyph_hor_advance(ttf_parser::GlyphId(glyph)))
            .map_or(self.units_per_em, f32::from);
        (adv * 1000.0 / self.units_per_em).round() as u32
    }

    /// Ascent, descent, cap height and bounding box in thousandths of an em.
    pub fn metrics(&self) -> [i32; 7] {
        let Some(face) = self.face() else {
            return [1000, 0, 1000, 0, 0, 1000, 1000];
        };
        let s = |v: i16| (f32::from(v) * 1000.0 / self.units_per_em).round() as i32;
        let b = face.global_bounding_box();
        [
            s(face.ascender()),
            s(face.descender()),
            s(face.capital_height().unwrap_or(face.ascender())),
            s(b.x_min),
            s(b.y_min),
            s(b.x_max),
            s(b.y_max),
        ]
    }

    /// The subset holding `used` glyphs, and each old glyph id's new one (the PDF's CID).
    pub fn subset(&self, used: &Used) -> Result<(Vec<u8>, BTreeMap<u16, u16>), String> {
        let mut remapper = subsetter::GlyphRemapper::new();
        for g in used.glyphs.keys() {
            remapper.remap(*g);
        }
        let data = subsetter::subset(&self.data, self.index, &remapper)
            .map_err(|e| format!("subsetting {}: {e:?}", self.path.display()))?;
        let map = used
            .glyphs
            .keys()
            .filter_map(|g| remapper.get(*g).map(|n| (*g, n)))
            .collect();
        Ok((data, map))
    }
}
