//! The one-page PDF of a print, written object by object, and read back: the signature's byte
//! ranges and CMS, the print id and the text the page shows.
//!
//! The writer lays out a [`Page`] on A4 in one embedded, subset CJK font (Type 0, Identity-H,
//! with a ToUnicode map so that text can be copied and searched), draws the QR code as vector
//! squares, and leaves a signature field whose `/Contents` is filled by [`Unsigned::sign_with`].
//! The reader knows only this layout: a PDF it was not written by is "not a print", never a
//! panic.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::font::{Font, MissingGlyph, Used};
use super::Page;

const WIDTH: f32 = 595.28;
const HEIGHT: f32 = 841.89;
const MARGIN: f32 = 56.0;
/// Room for the CMS signature, in bytes (written as twice as many hex digits).
const SIGNATURE_ROOM: usize = 8192;
/// The Info entry that names the print (an ASCII id).
const PRINT_KEY: &str = "/LicenceVaultPrint (";
/// Object numbers of this layout's objects the reader looks for.
const CONTENT_OBJ: usize = 4;
const TO_UNICODE_OBJ: usize = 9;

/// A PDF whose signature is still to be made: the bytes with a zeroed `/Contents` and where it
/// and `/ByteRange` are.
pub struct Unsigned {
    bytes: Vec<u8>,
    byte_range_at: usize,
    contents_at: usize,
}

/// One piece of text on the page.
struct Text {
    x: f32,
    y: f32,
    size: f32,
    rgb: (f32, f32, f32),
    text: String,
}

const BLACK: (f32, f32, f32) = (0.0, 0.0, 0.0);
const GREY: (f32, f32, f32) = (0.4, 0.4, 0.4);
const RED: (f32, f32, f32) = (0.66, 0.0, 0.0);

/// Splits `text` into lines no wider than `max` at `size` points: after a space or a full-width
/// comma, or before an opening full-width parenthesis, when the line has one; else between any
/// two characters. No character is dropped: the lines joined are `text`.
fn wrap(font: &Font, text: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut last = String::new();
    // The line's width, kept as characters are added (a width is a sum over characters).
    let mut width = 0.0;
    for c in text.chars() {
        last.push(c);
        width += font.width(c.encode_utf8(&mut [0; 4]), size);
        if width > max && last.chars().count() > 1 {
            let chars: Vec<char> = last.chars().collect();
            let at = (1..chars.len())
                .rev()
                .find(|&i| matches!(chars[i - 1], ' ' | '，') || chars[i] == '（')
                .unwrap_or(chars.len() - 1);
            let tail: String = chars[at..].iter().collect();
            last.truncate(chars[..at].iter().map(|c| c.len_utf8()).sum());
            width = font.width(&tail, size);
            lines.push(std::mem::replace(&mut last, tail));
        }
    }
    lines.push(last);
    lines
}

/// A filled rectangle: x, y, width, height and its colour.
type Rect = (f32, f32, f32, f32, (f32, f32, f32));

/// Where everything goes: the texts in reading order and the rectangles (x, y, w, h, rgb).
fn layout(page: &Page, font: &Font) -> (Vec<Text>, Vec<Rect>) {
    let mut texts = Vec::new();
    let mut rects = Vec::new();
    let centred = |text: &str, size: f32, y: f32, rgb, texts: &mut Vec<Text>| {
        for (i, line) in wrap(font, text, size, WIDTH - 2.0 * MARGIN)
            .into_iter()
            .enumerate()
        {
            let w = font.width(&line, size);
            texts.push(Text {
                x: (WIDTH - w) / 2.0,
                y: y - i as f32 * size * 1.3,
                size,
                rgb,
                text: line,
            });
        }
    };
    centred(&page.title, 20.0, HEIGHT - 90.0, BLACK, &mut texts);
    centred(&page.subtitle, 11.0, HEIGHT - 115.0, GREY, &mut texts);
    let mut y = HEIGHT - 140.0;
    rects.push((MARGIN, y, WIDTH - 2.0 * MARGIN, 0.8, GREY));
    y -= 28.0;
    if let Some(band) = &page.band {
        let lines = wrap(font, band, 11.0, WIDTH - 2.0 * MARGIN - 20.0);
        let h = lines.len() as f32 * 16.0 + 12.0;
        rects.push((
            MARGIN,
            y - h + 16.0,
            WIDTH - 2.0 * MARGIN,
            h,
            (1.0, 0.92, 0.92),
        ));
        for line in lines {
            texts.push(Text {
                x: MARGIN + 10.0,
                y,
                size: 11.0,
                rgb: RED,
                text: line,
            });
            y -= 16.0;
        }
        y -= 18.0;
    }
    let value_x = 190.0;
    for (label, value) in &page.rows {
        for (i, line) in wrap(font, label, 10.5, value_x - MARGIN - 8.0)
            .into_iter()
            .enumerate()
        {
            texts.push(Text {
                x: MARGIN,
                y: y - i as f32 * 15.0,
                size: 10.5,
                rgb: GREY,
                text: line,
            });
        }
        let lines = wrap(font, value, 11.5, WIDTH - MARGIN - value_x);
        let n = lines.len();
        for line in lines {
            texts.push(Text {
                x: value_x,
                y,
                size: 11.5,
                rgb: BLACK,
                text: line,
            });
            y -= 16.0;
        }
        y -= if n > 0 { 6.0 } else { 22.0 };
    }
    rects.push((MARGIN, 215.0, WIDTH - 2.0 * MARGIN, 0.8, GREY));
    let mut fy = 195.0;
    for (label, value) in &page.footer {
        texts.push(Text {
            x: MARGIN,
            y: fy,
            size: 8.0,
            rgb: GREY,
            text: label.clone(),
        });
        for line in wrap(font, value, 8.0, 340.0 - 60.0) {
            texts.push(Text {
                x: MARGIN + 60.0,
                y: fy,
                size: 8.0,
                rgb: BLACK,
                text: line,
            });
            fy -= 11.0;
        }
        fy -= 3.0;
    }
    // The QR code: 110 pt square at the bottom right, its quiet zone included.
    if let Ok(code) = qrcode::QrCode::with_error_correction_level(&page.qr_url, qrcode::EcLevel::M)
    {
        let n = code.width();
        let side = 110.0;
        let module = side / (n as f32 + 8.0);
        let (x0, y0) = (WIDTH - MARGIN - side, 80.0);
        for (i, c) in code.to_colors().into_iter().enumerate() {
            if c == qrcode::Color::Dark {
                let (col, row) = ((i % n) as f32, (i / n) as f32);
                rects.push((
                    x0 + (col + 4.0) * module,
                    y0 + side - (row + 5.0) * module,
                    module,
                    module,
                    BLACK,
                ));
            }
        }
        let w = font.width(&page.qr_caption, 8.0);
        texts.push(Text {
            x: x0 + (side - w) / 2.0,
            y: y0 - 4.0,
            size: 8.0,
            rgb: GREY,
            text: page.qr_caption.clone(),
        });
    }
    (texts, rects)
}

fn num(v: f32) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A PDF text string: ASCII as a literal, anything else as UTF-16BE with its byte order mark.
fn text_string(s: &str) -> String {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !b"()\\".contains(&b))
    {
        format!("({s})")
    } else {
        let mut hex = String::from("<FEFF");
        for u in s.encode_utf16() {
            let _ = write!(hex, "{u:04X}");
        }
        hex.push('>');
        hex
    }
}

/// `D:YYYYMMDDHHmmSS+00'00'`.
fn pdf_date(t: DateTime<Utc>) -> String {
    t.format("D:%Y%m%d%H%M%S+00'00'").to_string()
}

/// Lays out `page` and writes the PDF, its signature still to make.
pub fn render(page: &Page, font: &Font, at: DateTime<Utc>) -> Result<Unsigned, MissingGlyph> {
    let (texts, rects) = layout(page, font);
    let mut used = Used::default();
    let glyphs: Vec<Vec<u16>> = texts
        .iter()
        .map(|t| font.glyphs(&t.text, &mut used))
        .collect::<Result<_, _>>()?;
    let (subset, cids) = font.subset(&used).map_err(|_| MissingGlyph('\u{fffd}'))?;

    let mut content = String::new();
    for (x, y, w, h, (r, g, b)) in &rects {
        let _ = writeln!(
            content,
            "{} {} {} rg {} {} {} {} re f",
            num(*r),
            num(*g),
            num(*b),
            num(*x),
            num(*y),
            num(*w),
            num(*h)
        );
    }
    for (t, gs) in texts.iter().zip(&glyphs) {
        let mut hex = String::with_capacity(gs.len() * 4);
        for g in gs {
            let _ = write!(hex, "{:04X}", cids.get(g).copied().unwrap_or(0));
        }
        let (r, g, b) = t.rgb;
        let _ = writeln!(
            content,
            "BT /F1 {} Tf {} {} {} rg {} {} Td <{hex}> Tj ET",
            num(t.size),
            num(r),
            num(g),
            num(b),
            num(t.x),
            num(t.y)
        );
    }

    let mut to_unicode = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let pairs: Vec<(u16, char)> = used
        .glyphs
        .iter()
        .filter_map(|(g, c)| cids.get(g).map(|cid| (*cid, *c)))
        .collect();
    for chunk in pairs.chunks(100) {
        let _ = writeln!(to_unicode, "{} beginbfchar", chunk.len());
        for (cid, c) in chunk {
            let mut utf16 = String::new();
            for u in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(utf16, "{u:04X}");
            }
            let _ = writeln!(to_unicode, "<{cid:04X}> <{utf16}>");
        }
        to_unicode.push_str("endbfchar\n");
    }
    to_unicode
        .push_str("endcmap\nCMapName currentdict /CMapResource defineresource pop\nend\nend\n");

    let mut widths = String::new();
    for (old, cid) in &cids {
        let _ = write!(widths, "{cid} [{}] ", font.advance(*old));
    }
    // The subset's tag: six capitals from the glyphs it holds, so the same page gets the same.
    let tag: String = Sha256::digest(subset.as_slice())[..6]
        .iter()
        .map(|b| char::from(b'A' + b % 26))
        .collect();
    let base_font = format!("{tag}+{}", font.name());
    let [ascent, descent, cap, x0, y0, x1, y1] = font.metrics();
    let font_file = {
        use std::io::Write as _;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&subset)
            .and_then(|()| z.finish())
            .map_err(|_| MissingGlyph('\u{fffd}'))?
    };

    let mut w = Writer::default();
    w.object(
        1,
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [7 0 R] /SigFlags 3 >> >>",
    );
    w.object(2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    w.object(
        3,
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 5 0 R >> >> /Contents {CONTENT_OBJ} 0 R /Annots [7 0 R] >>",
            num(WIDTH),
            num(HEIGHT)
        )
        .as_bytes(),
    );
    w.stream(CONTENT_OBJ, "", content.as_bytes());
    w.object(
        5,
        format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{base_font} /Encoding /Identity-H /DescendantFonts [6 0 R] /ToUnicode {TO_UNICODE_OBJ} 0 R >>"
        )
        .as_bytes(),
    );
    w.object(
        6,
        format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{base_font} /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor 10 0 R /DW 1000 /W [{widths}] /CIDToGIDMap /Identity >>"
        )
        .as_bytes(),
    );
    w.object(
        7,
        b"<< /Type /Annot /Subtype /Widget /FT /Sig /T (LicenceVaultSeal) /Rect [0 0 0 0] /F 132 /P 3 0 R /V 8 0 R >>",
    );
    // The signature dictionary: the byte ranges are written once the file's length is known.
    let sig_head = format!(
        "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /Name (licence-vault) /M ({}) /ByteRange ",
        pdf_date(at)
    );
    let byte_range_placeholder = format!("[{}]", " ".repeat(40));
    let contents_placeholder = format!("<{}>", "0".repeat(2 * SIGNATURE_ROOM));
    let mut sig = sig_head.clone().into_bytes();
    sig.extend_from_slice(byte_range_placeholder.as_bytes());
    sig.extend_from_slice(b" /Contents ");
    sig.extend_from_slice(contents_placeholder.as_bytes());
    sig.extend_from_slice(b" >>");
    let sig_at = w.object(8, &sig);
    let byte_range_at = sig_at + format!("8 0 obj\n{sig_head}").len();
    let contents_at = byte_range_at + byte_range_placeholder.len() + b" /Contents ".len();
    w.stream(TO_UNICODE_OBJ, "", to_unicode.as_bytes());
    w.object(
        10,
        format!(
            "<< /Type /FontDescriptor /FontName /{base_font} /Flags 4 /FontBBox [{x0} {y0} {x1} {y1}] /ItalicAngle 0 /Ascent {ascent} /Descent {descent} /CapHeight {cap} /StemV 80 /FontFile2 11 0 R >>"
        )
        .as_bytes(),
    );
    w.stream(
        11,
        &format!("/Filter /FlateDecode /Length1 {} ", subset.len()),
        &font_file,
    );
    w.object(
        12,
        format!(
            "<< /Title {} /Producer (licence-vault) /CreationDate ({}) {PRINT_KEY}{}) >>",
            text_string(&page.title),
            pdf_date(at),
            page.print_id
        )
        .as_bytes(),
    );
    let id = hex::encode(&Sha256::digest(content.as_bytes())[..16]);
    let bytes = w.finish(12, &id);
    Ok(Unsigned {
        bytes,
        byte_range_at,
        contents_at,
    })
}

/// Objects in order, with their offsets for the cross-reference table.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    offsets: BTreeMap<usize, usize>,
}

impl Writer {
    /// Writes object `n`; returns its offset.
    fn object(&mut self, n: usize, body: &[u8]) -> usize {
        if self.out.is_empty() {
            self.out.extend_from_slice(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n");
        }
        let at = self.out.len();
        self.offsets.insert(n, at);
        self.out
            .extend_from_slice(format!("{n} 0 obj\n").as_bytes());
        self.out.extend_from_slice(body);
        self.out.extend_from_slice(b"\nendobj\n");
        at
    }

    fn stream(&mut self, n: usize, dict: &str, data: &[u8]) {
        let mut body = format!("<< {dict}/Length {} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.object(n, &body);
    }

    fn finish(mut self, info: usize, id: &str) -> Vec<u8> {
        let xref = self.out.len();
        let size = self.offsets.len() + 1;
        let mut table = format!("xref\n0 {size}\n0000000000 65535 f \n");
        for at in self.offsets.values() {
            let _ = writeln!(table, "{at:010} 00000 n ");
        }
        let _ = write!(
            table,
            "trailer\n<< /Size {size} /Root 1 0 R /Info {info} 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref}\n%%EOF\n"
        );
        self.out.extend_from_slice(table.as_bytes());
        self.out
    }
}

impl Unsigned {
    /// Fills in the byte ranges, asks `sign` for the CMS signature of the SHA-256 of the bytes
    /// they cover, and writes it into `/Contents`.
    pub fn sign_with(
        mut self,
        sign: impl FnOnce(&[u8; 32]) -> Result<Vec<u8>, String>,
    ) -> Result<Vec<u8>, String> {
        let len = self.bytes.len();
        let after = self.contents_at + 2 + 2 * SIGNATURE_ROOM;
        let ranges = format!("[0 {} {after} {}]", self.contents_at, len - after);
        let room = 42;
        if ranges.len() > room {
            return Err("the byte ranges do not fit their placeholder".into());
        }
        let padded = format!("{ranges:<room$}");
        self.bytes[self.byte_range_at..self.byte_range_at + room]
            .copy_from_slice(padded.as_bytes());
        let mut h = Sha256::new();
        h.update(&self.bytes[..self.contents_at]);
        h.update(&self.bytes[after..]);
        let cms = sign(&h.finalize().into())?;
        if cms.len() > SIGNATURE_ROOM {
            return Err(format!(
                "the signature ({} bytes) is larger than its room",
                cms.len()
            ));
        }
        let hex = hex::encode_upper(&cms);
        self.bytes[self.contents_at + 1..self.contents_at + 1 + hex.len()]
            .copy_from_slice(hex.as_bytes());
        Ok(self.bytes)
    }
}

/// What a sealed PDF says about itself, as read by [`read`].
#[derive(Debug)]
pub struct Read {
    /// SHA-256 of the bytes the signature's ranges cover.
    pub digest: [u8; 32],
    /// Whether the ranges cover the whole file but the signature itself (nothing appended).
    pub whole: bool,
    /// The CMS `ContentInfo` (DER, its zero padding removed).
    pub cms: Vec<u8>,
    /// The print the Info dictionary names.
    pub print_id: Option<String>,
    /// The text the page shows, every string in drawing order, when the page is laid out as
    /// this writer lays pages out.
    pub text: Option<String>,
}

/// Why a PDF cannot be read as a sealed print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSealed(pub String);

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn int(s: &[u8]) -> Option<usize> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Reads the last signature of `pdf`: its ranges, its CMS, and what the signed page says.
pub fn read(pdf: &[u8]) -> Result<Read, NotSealed> {
    let no = |m: &str| NotSealed(m.to_owned());
    if !pdf.starts_with(b"%PDF-") {
        return Err(no("not a PDF"));
    }
    let at = rfind(pdf, b"/ByteRange").ok_or_else(|| no("the PDF carries no signature"))?;
    let open = at + find(&pdf[at..], b"[").ok_or_else(|| no("malformed /ByteRange"))?;
    let close = open + find(&pdf[open..], b"]").ok_or_else(|| no("malformed /ByteRange"))?;
    let nums: Vec<usize> = pdf[open + 1..close]
        .split(|b| b.is_ascii_whitespace())
        .filter(|s| !s.is_empty())
        .map(int)
        .collect::<Option<_>>()
        .ok_or_else(|| no("malformed /ByteRange"))?;
    let [a, b, c, d] = nums[..] else {
        return Err(no("/ByteRange must have four numbers"));
    };
    let (Some(end1), Some(end2)) = (a.checked_add(b), c.checked_add(d)) else {
        return Err(no("/ByteRange out of the file"));
    };
    if a != 0 || end1 >= c || end2 > pdf.len() || c < 2 {
        return Err(no("/ByteRange out of the file"));
    }
    if pdf[end1] != b'<' || pdf[c - 1] != b'>' {
        return Err(no("/ByteRange does not leave out exactly the signature"));
    }
    let hex_digits = &pdf[end1 + 1..c - 1];
    let raw = hex::decode(hex_digits).map_err(|_| no("/Contents is not hex"))?;
    let cms = der_prefix(&raw).ok_or_else(|| no("/Contents holds no DER value"))?;
    if raw[cms.len()..].iter().any(|b| *b != 0) {
        return Err(no("/Contents holds more than its signature"));
    }
    let mut h = Sha256::new();
    h.update(&pdf[..end1]);
    h.update(&pdf[c..end2]);
    // What the page says is read from the signed bytes only.
    let signed = [&pdf[..end1], &pdf[c..end2]].concat();
    let print_id = (|| {
        let i = find(&signed, PRINT_KEY.as_bytes())? + PRINT_KEY.len();
        let j = i + find(&signed[i..], b")")?;
        String::from_utf8(signed[i..j].to_vec()).ok()
    })();
    Ok(Read {
        digest: h.finalize().into(),
        whole: end2 == pdf.len(),
        cms: cms.to_vec(),
        print_id,
        text: page_text(&signed),
    })
}

/// The first DER value of `raw` (its tag, length and content).
fn der_prefix(raw: &[u8]) -> Option<&[u8]> {
    let first = *raw.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in raw.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    raw.get(..head.checked_add(len)?)
}

/// The data of stream object `n`, uncompressed, as this writer writes it.
fn stream_of(pdf: &[u8], n: usize) -> Option<&[u8]> {
    let head = format!("\n{n} 0 obj\n<< /Length ");
    let i = find(pdf, head.as_bytes())? + head.len();
    let j = i + find(&pdf[i..], b" >>\nstream\n")?;
    let len = int(&pdf[i..j])?;
    let start = j + b" >>\nstream\n".len();
    pdf.get(start..start.checked_add(len)?)
}

/// The page's text: every `<…> Tj` of the content stream, decoded through the ToUnicode map.
fn page_text(pdf: &[u8]) -> Option<String> {
    let content = std::str::from_utf8(stream_of(pdf, CONTENT_OBJ)?).ok()?;
    let cmap = std::str::from_utf8(stream_of(pdf, TO_UNICODE_OBJ)?).ok()?;
    let mut map: BTreeMap<u16, String> = BTreeMap::new();
    for line in cmap.lines() {
        let Some((cid, uni)) = line.strip_prefix('<').and_then(|l| l.split_once("> <")) else {
            continue;
        };
        let Some(uni) = uni.strip_suffix('>') else {
            continue;
        };
        let cid = u16::from_str_radix(cid, 16).ok()?;
        let units: Vec<u16> = hex::decode(uni)
            .ok()?
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)]))
            .collect();
        map.insert(cid, String::from_utf16(&units).ok()?);
    }
    let mut text = String::new();
    for line in content.lines() {
        let Some(i) = line.find("> Tj") else { continue };
        let j = line[..i].rfind('<')?;
        let hex = &line[j + 1..i];
        if hex.len() % 4 != 0 {
            return None;
        }
        for k in (0..hex.len()).step_by(4) {
            let cid = u16::from_str_radix(hex.get(k..k + 4)?, 16).ok()?;
            text.push_str(map.get(&cid)?);
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_prefix_reads_short_and_long_lengths() {
        assert_eq!(
            der_prefix(&[0x30, 0x01, 0x05, 0, 0]),
            Some(&[0x30, 0x01, 0x05][..])
        );
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        long.extend([0, 0]);
        assert_eq!(der_prefix(&long).map(<[u8]>::len), Some(260));
        assert_eq!(der_prefix(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(der_prefix(&[0x30, 0x05, 1]), None);
    }

    #[test]
    fn read_refuses_what_is_not_a_sealed_pdf() {
        assert_eq!(read(b"hello").unwrap_err().0, "not a PDF");
        assert_eq!(
            read(b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n").unwrap_err().0,
            "the PDF carries no signature"
        );
        assert_eq!(
            read(b"%PDF-1.7 /ByteRange [0 99999999999999999999 1 1]")
                .unwrap_err()
                .0,
            "malformed /ByteRange"
        );
        assert_eq!(
            read(b"%PDF-1.7 /ByteRange [0 10 5 1]").unwrap_err().0,
            "/ByteRange out of the file"
        );
    }

    #[test]
    fn lines_break_at_spaces_and_full_width_punctuation_and_keep_every_character() {
        let Ok(font) = Font::find(None) else {
            panic!("the CJK font (scripts/install-deps.sh)")
        };
        let band = "本件仅供 福州市市场监督管理局行政许可审批系统 办理 食品经营许可证延续（受理食品经营许可证延续申请）使用，2027-01-06T19:43:06Z 前有效";
        let lines = wrap(&font, band, 11.0, 463.0);
        assert_eq!(lines.concat(), band);
        assert!(lines.len() > 1);
        assert!(lines[1].starts_with('（'), "{lines:?}");
        let long = "一".repeat(100);
        let lines = wrap(&font, &long, 11.0, 100.0);
        assert_eq!(lines.concat(), long);
        assert!(lines.iter().all(|l| font.width(l, 11.0) <= 100.0));
    }

    #[test]
    fn text_strings_are_literal_when_ascii_and_utf16_otherwise() {
        assert_eq!(text_string("abc"), "(abc)");
        assert_eq!(text_string("营业"), "<FEFF84254E1A>");
        assert_eq!(text_string("a(b"), "<FEFF006100280062>");
    }
}
