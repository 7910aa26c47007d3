//! The one JSON reader and the one canonicaliser.
//!
//! Everything that will be hashed or signed passes through here: [`parse`] accepts only I-JSON
//! (RFC 7493) — no duplicate member names, no lone surrogates, no integer literal beyond ±2^53, no
//! number that overflows a double — and [`canonicalize`] writes RFC 8785 (JCS) bytes: members
//! sorted by UTF-16 code units, ECMAScript number forms, minimal string escapes.
//!
//! **Invariant:** no other module serialises JSON that is hashed or signed; no I/O happens here.

use std::fmt;
use std::ops::Range;

use serde_json::{Map, Number, Value};

/// Largest integer a double holds exactly; integer literals beyond it are ambiguous across parsers.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Deep nesting is a denial-of-service vector and never occurs in a licence.
const MAX_DEPTH: usize = 64;

/// Why the input is not I-JSON. `path` is a JSON path to the offending place, when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {offset}")]
pub struct JsonError {
    pub message: String,
    pub offset: usize,
    pub path: Option<String>,
}

/// Parses `input` as one I-JSON value, rejecting everything RFC 7493 calls ambiguous.
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    let text = std::str::from_utf8(input).map_err(|e| JsonError {
        message: "input is not valid UTF-8".into(),
        offset: e.valid_up_to(),
        path: None,
    })?;
    let mut parser = Parser {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        path: Vec::new(),
    };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("trailing characters after the JSON value"));
    }
    Ok(value)
}

/// JSON text in canonical form, kept as text: a stored licence, a vault-signed copy. It is served
/// as it is, never parsed and serialised again on the way out.
#[derive(Clone)]
pub struct Canonical(Box<serde_json::value::RawValue>);

impl Canonical {
    /// Wraps bytes that are canonical JSON: stored bytes whose digest was checked, or the output of
    /// [`canonicalize`] or [`splice`]. They are checked to be one JSON value, not to be canonical.
    pub fn new(bytes: Vec<u8>) -> Result<Self, JsonError> {
        let text = String::from_utf8(bytes).map_err(|e| JsonError {
            message: "input is not valid UTF-8".into(),
            offset: e.utf8_error().valid_up_to(),
            path: None,
        })?;
        serde_json::value::RawValue::from_string(text)
            .map(Self)
            .map_err(|e| JsonError {
                message: e.to_string(),
                // Canonical text is one line.
                offset: e.column().saturating_sub(1),
                path: None,
            })
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.get().as_bytes()
    }
}

impl PartialEq for Canonical {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Canonical {}

impl fmt::Debug for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Canonical {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Why a JSON value does not fit a typed shape: the JSON path of the place, the last member name on
/// that path (which tells what kind of code it was), and serde's sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    pub path: String,
    pub member: String,
    pub message: String,
}

/// Deserialises `value` into `T`, naming the JSON path of whatever does not fit.
pub fn deserialize<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, ShapeError> {
    // Tracking the path costs as much as the deserialisation itself: track it only to explain a
    // failure (deserialising the same value again fails the same way).
    if let Ok(t) = <T as serde::Deserialize>::deserialize(value) {
        return Ok(t);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let member = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                _ => None,
            })
            .next_back()
            .unwrap_or_default();
        let path = if path == "." {
            "$".to_owned()
        } else {
            format!("$.{path}")
        };
        ShapeError {
            path,
            member,
            message: e.into_inner().to_string(),
        }
    })
}

/// Whether two values are equal as I-JSON means them: numbers by the double they denote (`1.0` is
/// `1`, `-0` is `0`), members in any order. What `parse(canonicalize(v))` preserves.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// RFC 8785 canonical bytes of `value`.
pub fn canonicalize(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_value(value, &mut out);
    out
}

#[derive(Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    path: Vec<Segment>,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            message: message.into(),
            offset: self.pos,
            path: Some(self.path_string()),
        }
    }

    fn path_string(&self) -> String {
        let mut s = String::from("$");
        for seg in &self.path {
            s.push_str(&seg.to_string());
        }
        s
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect_literal(&mut self, lit: &str, value: Value) -> Result<Value, JsonError> {
        if self.bytes[self.pos..].starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(value)
        } else {
            Err(self.error("unexpected character"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.expect_literal("true", Value::Bool(true)),
            Some(b'f') => self.expect_literal("false", Value::Bool(false)),
            Some(b'n') => self.expect_literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            if map.contains_key(&key) {
                self.path.push(Segment::Key(key.clone()));
                let err = self.error(format!("duplicate member name {key:?}"));
                return Err(err);
            }
            self.path.push(Segment::Key(key.clone()));
            let v = self.value(depth + 1)?;
            self.path.pop();
            map.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            self.path.push(Segment::Index(items.len()));
            let v = self.value(depth + 1)?;
            self.path.pop();
            items.push(v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("bad \\u escape"))?;
        self.pos += 4;
        u16::from_str_radix(digits, 16).map_err(|_| self.error("bad \\u escape"))
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated escape"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if !self.bytes[self.pos..].starts_with(b"\\u") {
                                    return Err(self.error("lone surrogate in \\u escape"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.error("lone surrogate in \\u escape"));
                                }
                                let cp = 0x10000
                                    + ((u32::from(hi) - 0xD800) << 10)
                                    + (u32::from(lo) - 0xDC00);
                                char::from_u32(cp)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                None
                            } else {
                                char::from_u32(u32::from(hi))
                            };
                            out.push(c.ok_or_else(|| self.error("lone surrogate in \\u escape"))?);
                        }
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 || (n > 1 && self.bytes[int_start] == b'0') {
            return Err(self.error("invalid number"));
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        let lexeme = &self.text[start..self.pos];
        if integer {
            let magnitude = lexeme.trim_start_matches('-');
            let ok = magnitude.len() <= 16
                && magnitude
                    .parse::<u64>()
                    .is_ok_and(|m| m <= MAX_SAFE_INTEGER);
            if !ok {
                self.pos = start;
                return Err(self.error("integer beyond ±2^53 is not I-JSON"));
            }
            // Both fit exactly: keep integers as integers so typed DTOs read them as such.
            return Ok(match lexeme.parse::<i64>() {
                Ok(i) => Value::Number(i.into()),
                Err(_) => return Err(self.error("invalid number")),
            });
        }
        let f: f64 = lexeme.parse().map_err(|_| self.error("invalid number"))?;
        // Every double beyond 2^53 is an integer, and JCS writes those below 1e21 as integer
        // literals, which this parser would then refuse: refuse them here so canonical bytes
        // always parse again.
        let in_range = f.is_finite() && f.abs() <= MAX_SAFE_INTEGER as f64;
        match Number::from_f64(f) {
            Some(n) if in_range => Ok(Value::Number(n)),
            _ => {
                self.pos = start;
                Err(self.error("number beyond ±2^53 is not I-JSON"))
            }
        }
    }
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, None, None, out),
    }
}

/// RFC 8785 §3.2.3 order: by UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    // UTF-8 byte order equals UTF-16 order unless a supplementary-plane character meets one in
    // U+E000..U+FFFF; both start with a lead byte of 0xEE or above.
    if a.bytes().chain(b.bytes()).any(|x| x >= 0xEE) {
        a.encode_utf16().cmp(b.encode_utf16())
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

/// Writes an object's members in JCS order, leaving out member `skip` and writing `replace`'s
/// value instead of the member of its name.
fn write_object(
    map: &Map<String, Value>,
    skip: Option<&str>,
    replace: Option<(&str, &Value)>,
    out: &mut Vec<u8>,
) {
    let member = |k: &str, v: &Value, out: &mut Vec<u8>, first: &mut bool| {
        if skip == Some(k) {
            return;
        }
        if !std::mem::take(first) {
            out.push(b',');
        }
        write_string(k, out);
        out.push(b':');
        match replace {
            Some((name, value)) if name == k => write_value(value, out),
            _ => write_value(v, out),
        }
    };
    let mut first = true;
    out.push(b'{');
    // Maps usually iterate in byte order already (serde_json's default map is a BTreeMap): check
    // cheaply and sort only when needed.
    let mut keys = map.keys();
    let sorted = keys.next().is_none_or(|mut prev| {
        keys.all(|k| {
            let ok = utf16_cmp(prev, k).is_lt();
            prev = k;
            ok
        })
    });
    if sorted {
        for (k, v) in map {
            member(k, v, out, &mut first);
        }
    } else {
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
        for (k, v) in entries {
            member(k, v, out, &mut first);
        }
    }
    out.push(b'}');
}

/// JCS bytes of an object without member `skip`, with `replace` substituted: the document a Data
/// Integrity proof covers, without copying it.
pub fn canonicalize_object(
    map: &Map<String, Value>,
    skip: &str,
    replace: Option<(&str, &Value)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write_object(map, Some(skip), replace, &mut out);
    out
}

/// In the canonical bytes of an object, the span to cut so that what remains is the canonical
/// bytes of the object without member `name`: the member with the comma that separates it from a
/// neighbour. `None` if the object has no such member or `canonical` is not a canonical object.
/// Cutting costs nothing, where canonicalising the object again costs a full serialisation.
pub fn member_span(canonical: &[u8], name: &str) -> Option<Range<usize>> {
    let m = find_member(canonical, name)?;
    Some(match (m.first, m.last) {
        (_, false) => m.start..m.end + 1, // the member and the comma after it
        (false, true) => m.start - 1..m.end, // the comma before it and the member
        (true, true) => m.start..m.end,   // the only member
    })
}

/// Replaces the value at `path` (member names from the top-level object down) in canonical bytes
/// with `value`, which must itself be canonical: an object's canonical form is made of its
/// members' canonical forms, so the result is the canonical form of the changed document, without
/// parsing or serialising `value`. `None` if a member on the path is missing.
pub fn splice(canonical: &[u8], path: &[&str], value: &[u8]) -> Option<Vec<u8>> {
    let mut slot = 0..canonical.len();
    for name in path {
        let m = find_member(&canonical[slot.clone()], name)?;
        slot = slot.start + m.value..slot.start + m.end;
    }
    let mut out = Vec::with_capacity(canonical.len() - slot.len() + value.len());
    out.extend_from_slice(&canonical[..slot.start]);
    out.extend_from_slice(value);
    out.extend_from_slice(&canonical[slot.end..]);
    Some(out)
}

/// A top-level member of a canonical object: `start..end` is `"name":value`, `value..end` the
/// value; `first` and `last` tell whether a comma precedes or follows it.
struct Member {
    start: usize,
    value: usize,
    end: usize,
    first: bool,
    last: bool,
}

fn find_member(canonical: &[u8], name: &str) -> Option<Member> {
    let key = {
        let mut k = Vec::with_capacity(name.len() + 3);
        write_string(name, &mut k);
        k.push(b':');
        k
    };
    if canonical.first() != Some(&b'{') || canonical.last() != Some(&b'}') {
        return None;
    }
    // Walk the top-level members: `start` is where the current member begins.
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start = 1;
    let mut first = true;
    for (i, &b) in canonical.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b',' if depth == 1 => {
                // The member [start, i) ends here.
                if canonical[start..i].starts_with(&key) {
                    return Some(Member {
                        start,
                        value: start + key.len(),
                        end: i,
                        first,
                        last: b == b'}',
                    });
                }
                if b == b'}' {
                    return None;
                }
                start = i + 1;
                first = false;
            }
            b'}' | b']' => depth = depth.checked_sub(1)?,
            _ => {}
        }
    }
    None
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = n.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
    } else {
        // Finite by construction: serde_json never holds NaN or infinities.
        let f = n.as_f64().unwrap_or(0.0);
        let mut buf = ryu_js::Buffer::new();
        out.extend_from_slice(buf.format_finite(f).as_bytes());
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(k) => write!(f, ".{k}"),
            Segment::Index(i) => write!(f, "[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        String::from_utf8(canonicalize(&parse(s.as_bytes()).unwrap())).unwrap()
    }

    #[test]
    fn numbers_use_ecmascript_forms() {
        assert_eq!(
            canon("[1e-7, -0, -0.0, 0.0, 123456789012345, 0.000001, 4.5, -1e-7, 1E3, 5e-324]"),
            "[1e-7,0,0,0,123456789012345,0.000001,4.5,-1e-7,1000,5e-324]"
        );
        // RFC 8785 appendix B samples within the I-JSON range.
        assert_eq!(
            canon("[333333333.33333329, 4.50, 2e-3, 0.000000000000000000000000001]"),
            "[333333333.3333333,4.5,0.002,1e-27]"
        );
        // Beyond ±2^53 the parser refuses (see rejects_what_ijson_forbids); the serialiser still
        // writes the ECMAScript forms for values built in code.
        let big = |f: f64| Value::Number(Number::from_f64(f).unwrap());
        let v = Value::Array(vec![
            big(1e21),
            big(1e20),
            big(1.5e300),
            big(-1e30),
            big(f64::MAX),
        ]);
        assert_eq!(
            String::from_utf8(canonicalize(&v)).unwrap(),
            "[1e+21,100000000000000000000,1.5e+300,-1e+30,1.7976931348623157e+308]"
        );
        assert_eq!(
            canon("[9007199254740991, -9007199254740991]"),
            "[9007199254740991,-9007199254740991]"
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // RFC 8785 §3.2.3 example: U+1F600 (surrogates D83D DE00) sorts before U+FB33.
        let s = canon(
            r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        );
        assert_eq!(s, "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}");
    }

    #[test]
    fn strings_escape_minimally() {
        assert_eq!(
            canon(r#""\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/""#),
            "\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\""
        );
        assert_eq!(
            canon(r#""\b\f\t\r\u001f\u007f""#),
            "\"\\b\\f\\t\\r\\u001f\u{7f}\""
        );
    }

    #[test]
    fn rejects_what_ijson_forbids() {
        let cases: &[(&str, &str)] = &[
            (r#"{"a":1,"a":2}"#, "duplicate member name"),
            (
                r#"{"x":{"a":1,"b":{"c":1,"c":1}}}"#,
                "duplicate member name",
            ),
            (r#""\ud800""#, "lone surrogate"),
            (r#""\udc00\ud800""#, "lone surrogate"),
            (r#""\ud800\u0041""#, "lone surrogate"),
            ("9007199254740992", "integer beyond"),
            ("-9007199254740992", "integer beyond"),
            ("123456789012345678901234567890", "integer beyond"),
            ("1e400", "beyond ±2^53"),
            ("1e21", "beyond ±2^53"),
            ("9007199254740993.0", "beyond ±2^53"),
            ("01", "invalid number"),
            ("[1,]", "unexpected character"),
            ("{} x", "trailing characters"),
            ("\"a\u{1}\"", "control character"),
            ("NaN", "unexpected character"),
        ];
        for (input, want) in cases {
            let err = parse(input.as_bytes()).unwrap_err();
            assert!(
                err.message.contains(want),
                "{input}: got {:?}, want {want}",
                err.message
            );
        }
        assert_eq!(
            parse(b"\xff").unwrap_err().message,
            "input is not valid UTF-8"
        );
    }

    #[test]
    fn duplicate_error_names_the_path() {
        let err =
            parse(br#"{"credentialSubject":{"holder":{"code":"1","code":"2"}}}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("$.credentialSubject.holder.code"));
        let err = parse(br#"{"a":[1,{"b":1e999}]}"#).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("$.a[1].b"));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(
            parse(deep.as_bytes()).unwrap_err().message,
            "nesting too deep"
        );
    }

    proptest::proptest! {
        /// Whatever text the parser accepts, parsing its canonical form gives the same value back:
        /// texts written by another serialiser (compact or pretty, with surrounding whitespace),
        /// and arbitrary bytes.
        #[test]
        fn parse_canonicalise_parse_is_the_identity(
            v in arb_json(),
            pretty in proptest::prelude::any::<bool>(),
            pad in "[ \t\n\r]{0,3}",
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                serde_json::to_string(&v).unwrap()
            };
            let first = parse(format!("{pad}{text}{pad}").as_bytes()).unwrap();
            proptest::prop_assert!(same_value(&first, &v));
            let again = parse(&canonicalize(&first)).unwrap();
            proptest::prop_assert!(same_value(&again, &first), "{first} became {again}");
        }

        #[test]
        fn parse_canonicalise_parse_is_the_identity_on_any_bytes_accepted(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
        ) {
            if let Ok(first) = parse(&bytes) {
                let again = parse(&canonicalize(&first)).unwrap();
                proptest::prop_assert!(same_value(&again, &first));
            }
        }

        #[test]
        fn canonical_form_is_a_fixed_point(v in arb_json()) {
            let once = canonicalize(&v);
            let again = canonicalize(&parse(&once).unwrap());
            proptest::prop_assert_eq!(once, again);
        }

        /// Cutting a member's span out of the canonical bytes gives the canonical bytes without it.
        #[test]
        fn member_span_cuts_exactly_the_member(
            members in proptest::collection::btree_map("[a-z\"\\\\{},:]{0,6}", arb_json(), 0..6),
            value in arb_json(),
            pick in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let mut map: Map<String, Value> = members.into_iter().collect();
            let name = match map.keys().nth(pick.index(map.len() + 1)) {
                Some(k) => k.clone(),
                None => {
                    map.insert("proof".into(), value);
                    "proof".to_owned()
                }
            };
            let bytes = canonicalize(&Value::Object(map.clone()));
            let span = member_span(&bytes, &name).unwrap();
            let cut = [&bytes[..span.start], &bytes[span.end..]].concat();
            proptest::prop_assert_eq!(cut, canonicalize_object(&map, &name, None));
            proptest::prop_assert_eq!(member_span(&bytes, "absent\u{1}"), None);
        }
    }

    proptest::proptest! {
        /// Splicing a value's canonical bytes into a document's gives the canonical bytes of the
        /// document with that value put in.
        #[test]
        fn splice_is_canonicalising_the_changed_document(
            members in proptest::collection::btree_map("[a-z\"\\\\{},:]{0,6}", arb_json(), 0..6),
            inner in proptest::collection::btree_map("[a-z\"\\\\{},:]{0,6}", arb_json(), 0..6),
            value in arb_json(),
        ) {
            let mut doc: Map<String, Value> = members.into_iter().collect();
            let mut sub: Map<String, Value> = inner.into_iter().collect();
            sub.insert("slot".into(), Value::Null);
            doc.insert("outer".into(), Value::Object(sub));
            let bytes = canonicalize(&Value::Object(doc.clone()));
            let spliced = splice(&bytes, &["outer", "slot"], &canonicalize(&value)).unwrap();
            doc["outer"]["slot"] = value;
            proptest::prop_assert_eq!(spliced, canonicalize(&Value::Object(doc)));
            proptest::prop_assert_eq!(splice(&bytes, &["outer", "absent"], b"1"), None);
        }
    }

    #[test]
    fn splice_replaces_nested_values_and_refuses_missing_paths() {
        let doc = br#"{"a":{"b":null,"c":"}"},"d":[1]}"#;
        let out =
            |path: &[&str], v: &[u8]| splice(doc, path, v).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(
            out(&["a", "b"], br#"{"x":1}"#).as_deref(),
            Some(r#"{"a":{"b":{"x":1},"c":"}"},"d":[1]}"#)
        );
        assert_eq!(
            out(&["d"], b"2").as_deref(),
            Some(r#"{"a":{"b":null,"c":"}"},"d":2}"#)
        );
        assert_eq!(out(&[], b"3").as_deref(), Some("3"));
        assert_eq!(out(&["d", "x"], b"4"), None);
        assert_eq!(out(&["b"], b"4"), None);
    }

    #[test]
    fn canonical_text_is_served_as_is_and_must_be_json() {
        let c = Canonical::new(br#"{"a":"\u00e9","b":[1,2]}"#.to_vec()).unwrap();
        #[derive(serde::Serialize)]
        struct Wrapper {
            x: Canonical,
        }
        let text = serde_json::to_string(&Wrapper { x: c }).unwrap();
        assert_eq!(text, r#"{"x":{"a":"\u00e9","b":[1,2]}}"#);
        assert_eq!(
            Canonical::new(b"{\"a\":".to_vec()).unwrap_err().message,
            "EOF while parsing a value at line 1 column 5"
        );
        assert_eq!(
            Canonical::new(vec![b'"', 0xff, b'"']).unwrap_err().offset,
            1
        );
    }

    #[test]
    fn member_span_handles_first_middle_last_and_only_members() {
        let cut = |s: &str, name: &str| {
            let span = member_span(s.as_bytes(), name)?;
            Some(format!("{}{}", &s[..span.start], &s[span.end..]))
        };
        let doc = r#"{"a":{"proof":1},"proof":[{"x":"}\"],{"}],"z":2}"#;
        assert_eq!(
            cut(doc, "proof").as_deref(),
            Some(r#"{"a":{"proof":1},"z":2}"#)
        );
        assert_eq!(
            cut(doc, "a").as_deref(),
            Some(r#"{"proof":[{"x":"}\"],{"}],"z":2}"#)
        );
        assert_eq!(
            cut(doc, "z").as_deref(),
            Some(r#"{"a":{"proof":1},"proof":[{"x":"}\"],{"}]}"#)
        );
        assert_eq!(cut(r#"{"proof":true}"#, "proof").as_deref(), Some("{}"));
        assert_eq!(cut(r#"{"proofs":1}"#, "proof"), None);
        assert_eq!(cut("[1]", "proof"), None);
        assert_eq!(cut("{}", "proof"), None);
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(|i| Value::Number(i.into())),
            any::<f64>()
                .prop_filter("I-JSON range", |f| f.abs() <= MAX_SAFE_INTEGER as f64)
                .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(".*", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
