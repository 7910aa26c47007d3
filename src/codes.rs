//! National identifiers and codes, parsed at the edges: once you hold one, it is valid.
//!
//! - [`LicenceId`]: GB/T 36904 电子证照标识 with its ISO/IEC 7064 MOD 37,36 check character;
//! - [`Uscc`]: GB 32100 统一社会信用代码; [`CitizenId`]: GB 11643 公民身份号码;
//! - [`TypeCode`]: a licence type (defining authority's USCC + 3 digits);
//! - [`HolderCode`]: a holder's code type (GB/T 36903 Annex A) and code.
//!
//! **Invariant:** pure functions only; nothing here knows JSON paths or HTTP.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a code does not parse. The caller adds the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("must be {expected} characters, found {found}")]
    Length {
        expected: &'static str,
        found: usize,
    },
    #[error("character {found:?} at position {position} is not allowed")]
    Character { position: usize, found: char },
    #[error("check character is {found:?}, expected {expected:?}")]
    Check { expected: char, found: char },
    #[error("{0}")]
    Format(&'static str),
}

const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const MOD37_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const CITIZEN_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CITIZEN_CHECK: &[u8; 11] = b"10X98765432";

/// The fixed OID root of every GB/T 36904 licence identifier.
pub const LICENCE_ID_ROOT: &str = "1.2.156.3005.2";
/// The URN prefix under which identifiers appear in documents.
pub const LICENCE_URN_PREFIX: &str = "urn:gbt36904:";

fn check_chars(s: &str, alphabet: &[u8], first_pos: usize) -> Result<(), CodeError> {
    match s
        .char_indices()
        .find(|(_, c)| !c.is_ascii() || !alphabet.contains(&(*c as u8)))
    {
        Some((i, c)) => Err(CodeError::Character {
            position: first_pos + i + 1,
            found: c,
        }),
        None => Ok(()),
    }
}

/// `n` characters, all ASCII: every code is, and the byte slices taken after this check then fall
/// on character boundaries (an 18-character number with a multi-byte character once panicked).
fn check_len(s: &str, n: usize, expected: &'static str) -> Result<(), CodeError> {
    let found = s.chars().count();
    if found != n {
        return Err(CodeError::Length { expected, found });
    }
    match s.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
        Some((i, c)) => Err(CodeError::Character {
            position: i + 1,
            found: c,
        }),
        None => Ok(()),
    }
}

/// ISO/IEC 7064 MOD 37,36 check character over `data` (alphabet `0-9A-Z`).
pub fn mod37_36_check(data: &str) -> Result<char, CodeError> {
    check_chars(data, MOD37_ALPHABET, 0)?;
    let mut p: u32 = 36;
    for b in data.bytes() {
        let v = MOD37_ALPHABET.iter().position(|&a| a == b).unwrap_or(0) as u32;
        let mut s = (p + v) % 36;
        if s == 0 {
            s = 36;
        }
        p = (s * 2) % 37;
    }
    Ok(MOD37_ALPHABET[((37 - p) % 36) as usize] as char)
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// GB 32100-2015 unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc(String);
string_newtype!(Uscc);

impl Uscc {
    /// The check character for the first 17 characters of a code.
    pub fn check_char(first17: &str) -> Result<char, CodeError> {
        check_len(first17, 17, "17")?;
        check_chars(first17, USCC_ALPHABET, 0)?;
        let sum: u32 = first17
            .bytes()
            .zip(USCC_WEIGHTS)
            .map(|(b, w)| USCC_ALPHABET.iter().position(|&a| a == b).unwrap_or(0) as u32 * w)
            .sum();
        let c = (31 - sum % 31) % 31;
        Ok(USCC_ALPHABET[c as usize] as char)
    }
}

impl FromStr for Uscc {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        check_len(s, 18, "18")?;
        check_chars(s, USCC_ALPHABET, 0)?;
        let expected = Self::check_char(&s[..17])?;
        let found = s.as_bytes()[17] as char;
        if expected != found {
            return Err(CodeError::Check { expected, found });
        }
        Ok(Self(s.to_owned()))
    }
}

/// GB 11643 citizen identity number. Its `Display` masks the middle: full numbers are never logged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CitizenId(String);

impl CitizenId {
    pub fn check_char(first17: &str) -> Result<char, CodeError> {
        check_len(first17, 17, "17")?;
        check_chars(first17, b"0123456789", 0)?;
        let sum: u32 = first17
            .bytes()
            .zip(CITIZEN_WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        Ok(CITIZEN_CHECK[(sum % 11) as usize] as char)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CitizenId {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        check_len(s, 18, "18")?;
        let expected = Self::check_char(&s[..17])?;
        let found = s.as_bytes()[17] as char;
        if expected != found {
            return Err(CodeError::Check { expected, found });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CitizenId({})", mask(&self.0))
    }
}

/// Masks all but the first 3 and last 2 characters of a code, for logs and messages.
pub fn mask(code: &str) -> String {
    let n = code.chars().count();
    if n <= 5 {
        return "*".repeat(n);
    }
    code.chars()
        .enumerate()
        .map(|(i, c)| if i < 3 || i >= n - 2 { c } else { '*' })
        .collect()
}

/// A licence type code: the defining authority's USCC followed by three digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeCode(String);
string_newtype!(TypeCode);

impl FromStr for TypeCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        check_len(s, 21, "21")?;
        s[..18].parse::<Uscc>()?;
        check_chars(&s[18..], b"0123456789", 18)?;
        Ok(Self(s.to_owned()))
    }
}

impl TypeCode {
    /// The defining authority of the type.
    pub fn authority(&self) -> Uscc {
        Uscc(self.0[..18].to_owned())
    }
}

/// A GB/T 36904 licence identifier: `1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LicenceId(String);
string_newtype!(LicenceId);

impl LicenceId {
    /// Builds an identifier, computing its check character.
    pub fn new(
        type_code: &TypeCode,
        issuer: &Uscc,
        serial: &str,
        version: u16,
    ) -> Result<Self, CodeError> {
        if serial.is_empty() || serial.len() > 32 {
            return Err(CodeError::Format(
                "serial must be 1–32 characters of 0-9A-Z",
            ));
        }
        check_chars(serial, MOD37_ALPHABET, 0)?;
        if !(1..=999).contains(&version) {
            return Err(CodeError::Format("version must be 001–999"));
        }
        let version = format!("{version:03}");
        let check = mod37_36_check(&format!("{type_code}{issuer}{serial}{version}"))?;
        Ok(Self(format!(
            "{LICENCE_ID_ROOT}.{type_code}.{issuer}.{serial}.{version}.{check}"
        )))
    }

    fn parts(&self) -> [&str; 5] {
        let rest = &self.0[LICENCE_ID_ROOT.len() + 1..];
        let mut it = rest.split('.');
        // The constructor proved there are exactly five fields.
        [(); 5].map(|()| it.next().unwrap_or_default())
    }
    pub fn type_code(&self) -> TypeCode {
        TypeCode(self.parts()[0].to_owned())
    }
    pub fn issuer(&self) -> Uscc {
        Uscc(self.parts()[1].to_owned())
    }
    pub fn serial(&self) -> &str {
        self.parts()[2]
    }
    pub fn version(&self) -> u16 {
        self.parts()[3].parse().unwrap_or(0)
    }
    /// The type field of an identifier's text, not validated: for skipping identifiers of other
    /// types before parsing them.
    pub fn type_field(text: &str) -> Option<&str> {
        let rest = text.strip_prefix(LICENCE_ID_ROOT)?.strip_prefix('.')?;
        rest.split('.').next()
    }
    /// The identifier as it appears in a document's `id`.
    pub fn urn(&self) -> String {
        format!("{LICENCE_URN_PREFIX}{}", self.0)
    }
    /// Parses either the bare identifier or its `urn:gbt36904:` form.
    pub fn from_urn_or_bare(s: &str) -> Result<Self, CodeError> {
        s.strip_prefix(LICENCE_URN_PREFIX).unwrap_or(s).parse()
    }
    /// The same type, issuer and serial at another version.
    pub fn with_version(&self, version: u16) -> Result<Self, CodeError> {
        Self::new(&self.type_code(), &self.issuer(), self.serial(), version)
    }
}

impl FromStr for LicenceId {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        let rest = s
            .strip_prefix(LICENCE_ID_ROOT)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or(CodeError::Format("must start with the root 1.2.156.3005.2"))?;
        let fields: Vec<&str> = rest.split('.').collect();
        let [type_code, issuer, serial, version, check] = fields[..] else {
            return Err(CodeError::Format(
                "must have five fields after the root: type.issuer.serial.version.check",
            ));
        };
        let type_code: TypeCode = type_code.parse()?;
        let issuer: Uscc = issuer.parse()?;
        if version.len() != 3 || !version.bytes().all(|b| b.is_ascii_digit()) || version == "000" {
            return Err(CodeError::Format(
                "version must be three digits, 001 or above",
            ));
        }
        let id = Self::new(&type_code, &issuer, serial, version.parse().unwrap_or(0))?;
        let expected = id.0.chars().last().unwrap_or('0');
        let mut found = check.chars();
        match (found.next(), found.next()) {
            (Some(c), None) if c == expected => Ok(id),
            (Some(c), None) => Err(CodeError::Check { expected, found: c }),
            _ => Err(CodeError::Format("check must be one character")),
        }
    }
}

/// Holder code types of GB/T 36903 Annex A that the vault validates.
pub const CODE_TYPE_CITIZEN: &str = "111";
pub const CODE_TYPE_USCC: &str = "001";

/// A holder's identity: code type and code, validated for the types the vault knows.
/// `Display` masks the code; use [`HolderCode::key`] where the full value is needed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HolderCode {
    code_type: String,
    code: String,
}

impl HolderCode {
    pub fn new(code_type: &str, code: &str) -> Result<Self, CodeError> {
        if code_type.len() != 3 || !code_type.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::Format("codeType must be three digits"));
        }
        match code_type {
            CODE_TYPE_CITIZEN => {
                code.parse::<CitizenId>()?;
            }
            CODE_TYPE_USCC => {
                code.parse::<Uscc>()?;
            }
            _ if code.is_empty() || code.len() > 64 => {
                return Err(CodeError::Format("code must be 1–64 characters"))
            }
            _ => {}
        }
        Ok(Self {
            code_type: code_type.to_owned(),
            code: code.to_owned(),
        })
    }
    pub fn code_type(&self) -> &str {
        &self.code_type
    }
    pub fn code(&self) -> &str {
        &self.code
    }
    /// `codeType:code`, the form used in tokens and demo files. Contains the full code: never log it.
    pub fn key(&self) -> String {
        format!("{}:{}", self.code_type, self.code)
    }
}

impl FromStr for HolderCode {
    type Err = CodeError;
    /// Parses `codeType:code`.
    fn from_str(s: &str) -> Result<Self, CodeError> {
        let (t, c) = s
            .split_once(':')
            .ok_or(CodeError::Format("holder must be codeType:code"))?;
        Self::new(t, c)
    }
}

impl fmt::Display for HolderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.code_type, mask(&self.code))
    }
}

impl fmt::Debug for HolderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HolderCode({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_parse() {
        let id: LicenceId = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
            .parse()
            .unwrap();
        assert_eq!(id.type_code().as_str(), "11100000000013338W032");
        assert_eq!(id.issuer().as_str(), "11220000013544541J");
        assert_eq!(id.serial(), "2430599");
        assert_eq!(id.version(), 1);
        assert_eq!(
            LicenceId::type_field(id.as_str()),
            Some("11100000000013338W032")
        );
        assert_eq!(LicenceId::type_field("1.2.156.3005.3.x.y"), None);
        assert_eq!(
            id.urn(),
            "urn:gbt36904:1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
        );
        assert_eq!(
            "91350100M000100Y43".parse::<Uscc>().unwrap().as_str(),
            "91350100M000100Y43"
        );
        assert_eq!(
            "11010519491231002X".parse::<CitizenId>().unwrap().as_str(),
            "11010519491231002X"
        );
    }

    /// Found by the `codes` fuzz target: the right number of characters, one of them multi-byte,
    /// made the byte slice that follows the length check panic.
    #[test]
    fn multi_byte_characters_are_refused_not_sliced() {
        assert_eq!(
            "35010219850312013\u{36d}".parse::<CitizenId>(),
            Err(CodeError::Character {
                position: 18,
                found: '\u{36d}'
            })
        );
        assert_eq!(
            "11100000000013338\u{e9}032".parse::<TypeCode>(),
            Err(CodeError::Character {
                position: 18,
                found: '\u{e9}'
            })
        );
        assert_eq!(
            "111:35010219850312013\u{36d}".parse::<HolderCode>(),
            Err(CodeError::Character {
                position: 18,
                found: '\u{36d}'
            })
        );
    }

    #[test]
    fn wrong_check_characters_are_named() {
        assert_eq!(
            "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.G"
                .parse::<LicenceId>(),
            Err(CodeError::Check {
                expected: 'F',
                found: 'G'
            })
        );
        assert_eq!(
            "91350100M000100Y44".parse::<Uscc>(),
            Err(CodeError::Check {
                expected: '3',
                found: '4'
            })
        );
        assert_eq!(
            "110105194912310021".parse::<CitizenId>(),
            Err(CodeError::Check {
                expected: 'X',
                found: '1'
            })
        );
        assert_eq!(
            "91350100I000100Y43".parse::<Uscc>(),
            Err(CodeError::Character {
                position: 9,
                found: 'I'
            })
        );
        assert_eq!(
            "9135".parse::<Uscc>(),
            Err(CodeError::Length {
                expected: "18",
                found: 4
            })
        );
    }

    #[test]
    fn malformed_identifiers_are_rejected() {
        for bad in [
            "",
            "1.2.156.3005.3.11100000000013338W032.11220000013544541J.2430599.001.F",
            "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001",
            "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.01.F",
            "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.000.F",
            "1.2.156.3005.2.11100000000013338W032.11220000013544541J.abc.001.F",
            "1.2.156.3005.2.11100000000013338W032.11220000013544541J..001.F",
            "1.2.156.3005.2.11100000000013338W03.11220000013544541J.2430599.001.F",
        ] {
            assert!(bad.parse::<LicenceId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn new_computes_the_check_and_versions_chain() {
        let t: TypeCode = "11100000000013338W032".parse().unwrap();
        let i: Uscc = "11220000013544541J".parse().unwrap();
        let id = LicenceId::new(&t, &i, "2430599", 1).unwrap();
        assert_eq!(
            id.as_str(),
            "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
        );
        let v2 = id.with_version(2).unwrap();
        assert_eq!(v2.version(), 2);
        assert_eq!(v2.as_str().parse::<LicenceId>().unwrap(), v2);
        assert_eq!(LicenceId::from_urn_or_bare(&id.urn()).unwrap(), id);
    }

    #[test]
    fn holder_codes_validate_known_types_and_mask() {
        let h = HolderCode::new("111", "11010519491231002X").unwrap();
        assert_eq!(h.to_string(), "111:110*************2X");
        assert_eq!(format!("{h:?}"), "HolderCode(111:110*************2X)");
        assert!(HolderCode::new("111", "110105194912310021").is_err());
        assert!(HolderCode::new("001", "91350100M000100Y43").is_ok());
        assert!(HolderCode::new("999", "anything").is_ok());
        assert!(HolderCode::new("11", "x").is_err());
    }

    proptest::proptest! {
        #[test]
        fn built_identifiers_round_trip(serial in "[0-9A-Z]{1,32}", version in 1u16..=999) {
            let t: TypeCode = "11100000000013338W032".parse().unwrap();
            let i: Uscc = "91350100M000100Y43".parse().unwrap();
            let id = LicenceId::new(&t, &i, &serial, version).unwrap();
            proptest::prop_assert_eq!(id.as_str().parse::<LicenceId>().unwrap(), id);
        }

        #[test]
        fn any_single_substitution_breaks_the_uscc_check(pos in 0usize..17, c in 0usize..31) {
            let good = "91350100M000100Y43";
            let mut b = good.as_bytes().to_vec();
            proptest::prop_assume!(b[pos] != USCC_ALPHABET[c]);
            b[pos] = USCC_ALPHABET[c];
            proptest::prop_assert!(String::from_utf8(b).unwrap().parse::<Uscc>().is_err());
        }
    }
}
