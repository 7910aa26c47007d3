//! Ed25519 keys in their W3C forms: `did:key` (multicodec `0xed01`) for public keys and
//! `privateKeyMultibase` (multicodec `0x1300`) for secret keys, both base58btc multibase.
//!
//! **Invariant:** secret key material lives only inside [`Signer`], which zeroizes on drop and never
//! prints it (its `Debug` shows the `did:key`). Whatever signs for the vault — a `Signer`, or a
//! key in a hardware module that never leaves it — does so through [`Sign`].

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ED25519_PUB: [u8; 2] = [0xed, 0x01];
const ED25519_PRIV: [u8; 2] = [0x80, 0x26];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a did:key: {0}")]
    NotDidKey(&'static str),
    #[error("multibase value must be base58btc ('z' prefix)")]
    NotBase58btc,
    #[error("base58 decoding failed")]
    Base58,
    #[error("multicodec prefix is not {0}")]
    Codec(&'static str),
    #[error("key must be 32 bytes")]
    Length,
    #[error("not a valid Ed25519 public key")]
    Point,
    #[error("weak Ed25519 public key (small-order or torsion component)")]
    Weak,
    /// The key could not sign now (a hardware module failed or refused); nothing was signed.
    #[error("the signing key is unavailable: {0}")]
    Unavailable(String),
}

/// An Ed25519 key that signs: in memory ([`Signer`]) or in a hardware security module.
pub trait Sign: Send + Sync {
    fn did_key(&self) -> &DidKey;
    /// Signs `message` (plain Ed25519, RFC 8032), or says why the key cannot sign now.
    fn try_sign(&self, message: &[u8]) -> Result<Signature, KeyError>;
}

impl Sign for Signer {
    fn did_key(&self) -> &DidKey {
        &self.did
    }
    fn try_sign(&self, message: &[u8]) -> Result<Signature, KeyError> {
        Ok(self.sign(message))
    }
}

/// Whether two secrets (or MACs) are equal, in time independent of where they differ.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decodes a base58btc multibase string (`z…`).
pub fn multibase_decode(s: &str) -> Result<Vec<u8>, KeyError> {
    let body = s.strip_prefix('z').ok_or(KeyError::NotBase58btc)?;
    base58_decode(body.as_bytes()).ok_or(KeyError::Base58)
}

/// Encodes bytes as base58btc multibase (`z…`).
pub fn multibase_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(1 + bytes.len() * 138 / 100 + 1);
    out.push('z');
    base58_into(bytes, &mut out);
    out
}

const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Base58btc (the Bitcoin alphabet), the same text as `bs58::encode`, worked in limbs of five
/// digits, four input bytes at a time: every proof the vault signs ends in one, and the byte-at-a-
/// time encoder was 2 % of a reuse pull.
fn base58_into(bytes: &[u8], out: &mut String) {
    const LIMB: u64 = 58u64.pow(5);
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    let rest = &bytes[zeros..];
    // The number in base 58^5, least significant limb first.
    let mut limbs: Vec<u64> = Vec::with_capacity(rest.len() / 3 + 1);
    for chunk in chunks_from_the_top(rest, 4) {
        let carry = chunk.iter().fold(0u64, |v, b| v << 8 | u64::from(*b));
        mul_add(&mut limbs, LIMB, 1 << (8 * chunk.len()), carry);
    }
    out.extend(std::iter::repeat_n('1', zeros));
    let mut digits = [0u8; 5];
    for (i, limb) in limbs.iter().rev().enumerate() {
        let mut v = *limb;
        for d in digits.iter_mut().rev() {
            *d = BASE58_ALPHABET[(v % 58) as usize];
            v /= 58;
        }
        // The most significant limb is written without its leading zero digits.
        let skip = if i == 0 {
            digits.iter().take_while(|d| **d == b'1').count()
        } else {
            0
        };
        out.extend(digits[skip..].iter().map(|d| char::from(*d)));
    }
}

/// `digits` in chunks of `n`, most significant first: the short chunk, if any, leads.
fn chunks_from_the_top(digits: &[u8], n: usize) -> impl Iterator<Item = &[u8]> {
    let (head, tail) = digits.split_at(digits.len() % n);
    std::iter::once(head)
        .filter(|c| !c.is_empty())
        .chain(tail.chunks_exact(n))
}

/// `limbs` (a number in base `base`, least significant limb first) × `scale` + `carry`. Both
/// callers keep base × scale ≤ 2^62 and carry < 2^32 (58^5 < 2^30 against 2^32 either way), so a
/// limb × scale + carry fits a u64.
#[inline]
fn mul_add(limbs: &mut Vec<u64>, base: u64, scale: u64, mut carry: u64) {
    for limb in limbs.iter_mut() {
        let x = *limb * scale + carry;
        *limb = x % base;
        carry = x / base;
    }
    while carry > 0 {
        limbs.push(carry % base);
        carry /= base;
    }
}

/// The value of each base58btc digit by ASCII code, 0xff for the characters that are none.
const BASE58_DIGITS: [u8; 128] = {
    let mut t = [0xff; 128];
    let mut i = 0;
    while i < 58 {
        t[BASE58_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The inverse of [`base58_into`], five digits at a time into limbs of 32 bits (every proof the
/// vault verifies carries one); `None` for a character outside the alphabet.
fn base58_decode(text: &[u8]) -> Option<Vec<u8>> {
    let ones = text.iter().take_while(|c| **c == b'1').count();
    let rest = &text[ones..];
    // The number in base 2^32, least significant limb first.
    let mut limbs: Vec<u64> = Vec::with_capacity(rest.len() / 5 + 1);
    for chunk in chunks_from_the_top(rest, 5) {
        let (mut carry, mut scale) = (0u64, 1u64);
        for c in chunk {
            let d = *BASE58_DIGITS.get(usize::from(*c))?;
            if d == 0xff {
                return None;
            }
            carry = carry * 58 + u64::from(d);
            scale *= 58;
        }
        mul_add(&mut limbs, 1 << 32, scale, carry);
    }
    let mut out = vec![0u8; ones];
    let number: Vec<u8> = limbs
        .iter()
        .rev()
        .flat_map(|l| (*l as u32).to_be_bytes())
        .skip_while(|b| *b == 0)
        .collect();
    out.extend_from_slice(&number);
    Some(out)
}

/// An Ed25519 public key named by `did:key`. Parsing rejects weak keys, so holding one means it is
/// safe to verify against.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DidKey {
    did: String,
    key: VerifyingKey,
}

impl DidKey {
    pub fn from_verifying_key(key: VerifyingKey) -> Self {
        let mut bytes = ED25519_PUB.to_vec();
        bytes.extend_from_slice(key.as_bytes());
        Self {
            did: format!("did:key:{}", multibase_encode(&bytes)),
            key,
        }
    }
    /// `did:key:z6Mk…`
    pub fn as_str(&self) -> &str {
        &self.did
    }
    /// The multibase part, which is also the verification method fragment.
    pub fn fingerprint(&self) -> &str {
        &self.did["did:key:".len()..]
    }
    /// `did:key:z6Mk…#z6Mk…`, the verification method of a proof made with this key.
    pub fn verification_method(&self) -> String {
        format!("{}#{}", self.did, self.fingerprint())
    }
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
    /// Parses a verification method `did:key:X#X`; the fragment must repeat the key.
    pub fn from_verification_method(vm: &str) -> Result<Self, KeyError> {
        let (did, fragment) = vm
            .split_once('#')
            .ok_or(KeyError::NotDidKey("verification method needs a #fragment"))?;
        let key: DidKey = did.parse()?;
        if fragment != key.fingerprint() {
            return Err(KeyError::NotDidKey("fragment does not match the key"));
        }
        Ok(key)
    }
}

impl FromStr for DidKey {
    type Err = KeyError;
    /// Parsing a did:key costs a base58 decode, a point decompression and a torsion check (a
    /// full scalar multiplication), and every proof names its key: results are remembered, as a
    /// vault sees few distinct keys.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        use std::collections::HashMap;
        use std::sync::{OnceLock, RwLock};
        const MAX_REMEMBERED: usize = 65_536;
        // `None` remembers a key refused as weak (the expensive refusal).
        static PARSED: OnceLock<RwLock<HashMap<Box<str>, Option<DidKey>>>> = OnceLock::new();
        let parsed = PARSED.get_or_init(Default::default);
        if let Some(known) = parsed.read().unwrap_or_else(|p| p.into_inner()).get(s) {
            return known.clone().ok_or(KeyError::Weak);
        }
        let result = parse_did_key(s);
        if matches!(result, Ok(_) | Err(KeyError::Weak)) {
            let mut map = parsed.write().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_REMEMBERED {
                // Someone is presenting many distinct keys; forget rather than grow without bound.
                map.clear();
            }
            map.insert(s.into(), result.as_ref().ok().cloned());
        }
        result
    }
}

fn parse_did_key(s: &str) -> Result<DidKey, KeyError> {
    let mb = s
        .strip_prefix("did:key:")
        .ok_or(KeyError::NotDidKey("must start with did:key:"))?;
    let bytes = multibase_decode(mb)?;
    let raw = bytes
        .strip_prefix(&ED25519_PUB[..])
        .ok_or(KeyError::Codec("ed25519-pub (0xed01)"))?;
    let raw: [u8; 32] = raw.try_into().map_err(|_| KeyError::Length)?;
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| KeyError::Point)?;
    // Honest keys are multiples of the base point. Refusing any torsion component (which
    // includes every weak key) also makes batch verification agree with verify_strict.
    let torsion_free = curve25519_dalek::edwards::CompressedEdwardsY(raw)
        .decompress()
        .is_some_and(|p| p.is_torsion_free());
    if key.is_weak() || !torsion_free {
        return Err(KeyError::Weak);
    }
    Ok(DidKey::from_verifying_key(key))
}

impl fmt::Display for DidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.did)
    }
}
impl fmt::Debug for DidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DidKey({})", self.did)
    }
}
impl Serialize for DidKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.did)
    }
}
impl<'de> Deserialize<'de> for DidKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signing key together with its `did:key`. Zeroized on drop.
pub struct Signer {
    key: SigningKey,
    did: DidKey,
}

impl Signer {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let did = DidKey::from_verifying_key(key.verifying_key());
        Self { key, did }
    }
    pub fn generate() -> Self {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let did = DidKey::from_verifying_key(key.verifying_key());
        Self { key, did }
    }
    /// Parses a W3C `privateKeyMultibase` (multicodec `0x1300` + 32-byte seed).
    pub fn from_private_multibase(s: &str) -> Result<Self, KeyError> {
        let bytes = zeroize::Zeroizing::new(multibase_decode(s.trim())?);
        let raw = bytes
            .strip_prefix(&ED25519_PRIV[..])
            .ok_or(KeyError::Codec("ed25519-priv (0x1300)"))?;
        let seed: zeroize::Zeroizing<[u8; 32]> =
            zeroize::Zeroizing::new(raw.try_into().map_err(|_| KeyError::Length)?);
        Ok(Self::from_seed(&seed))
    }
    /// The W3C `privateKeyMultibase` form. Handle with care: this is the secret.
    pub fn to_private_multibase(&self) -> zeroize::Zeroizing<String> {
        let mut bytes = zeroize::Zeroizing::new(ED25519_PRIV.to_vec());
        bytes.extend_from_slice(self.key.as_bytes());
        zeroize::Zeroizing::new(multibase_encode(&bytes))
    }
    pub fn did_key(&self) -> &DidKey {
        &self.did
    }
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.did)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUB: &str = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";
    const PRIV: &str = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq";

    proptest::proptest! {
        /// The limb encoder writes what the reference base58 encoder writes, leading zeros too.
        #[test]
        fn base58_matches_bs58(zeros in 0usize..4, bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let input = [vec![0u8; zeros], bytes].concat();
            proptest::prop_assert_eq!(
                multibase_encode(&input),
                format!("z{}", bs58::encode(&input).into_string())
            );
        }
    }

    proptest::proptest! {
        /// The limb decoder reads what the reference decoder reads, and refuses what it refuses.
        #[test]
        fn base58_decodes_like_bs58(text in "1{0,3}[1-9A-HJ-NP-Za-km-z]{0,100}", bad in "[0OIl+/ä]?") {
            let text = format!("{text}{bad}");
            proptest::prop_assert_eq!(
                base58_decode(text.as_bytes()),
                bs58::decode(&text).into_vec().ok()
            );
        }

        #[test]
        fn base58_round_trips(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            proptest::prop_assert_eq!(multibase_decode(&multibase_encode(&bytes)).ok(), Some(bytes));
        }
    }

    #[test]
    fn base58_edges() {
        assert_eq!(multibase_encode(&[]), "z");
        assert_eq!(multibase_encode(&[0, 0]), "z11");
        assert_eq!(multibase_encode(&[57]), "zz");
        assert_eq!(multibase_encode(&[58]), "z21");
        assert_eq!(
            multibase_encode(&[0xff; 64]),
            format!("z{}", bs58::encode([0xff; 64]).into_string())
        );
        assert_eq!(
            multibase_decode(&multibase_encode(&[0, 1, 2, 255])).unwrap(),
            [0, 1, 2, 255]
        );
        assert_eq!(multibase_decode("z"), Ok(vec![]));
        assert_eq!(multibase_decode("z11"), Ok(vec![0, 0]));
        assert_eq!(multibase_decode("z21"), Ok(vec![58]));
        assert_eq!(multibase_decode("z0"), Err(KeyError::Base58));
        assert_eq!(multibase_decode("z\u{7f}"), Err(KeyError::Base58));
        assert_eq!(multibase_decode("21"), Err(KeyError::NotBase58btc));
    }

    #[test]
    fn conformance_key_pair_round_trips() {
        let signer = Signer::from_private_multibase(PRIV).unwrap();
        assert_eq!(signer.did_key().as_str(), format!("did:key:{PUB}"));
        assert_eq!(signer.to_private_multibase().as_str(), PRIV);
        assert_eq!(
            signer.did_key().verification_method(),
            format!("did:key:{PUB}#{PUB}")
        );
        assert_eq!(format!("{signer:?}"), format!("Signer(did:key:{PUB})"));
    }

    #[test]
    fn bad_keys_are_rejected_with_reasons() {
        assert_eq!(
            "did:web:example.com".parse::<DidKey>(),
            Err(KeyError::NotDidKey("must start with did:key:"))
        );
        assert_eq!(
            "did:key:m6Mk".parse::<DidKey>(),
            Err(KeyError::NotBase58btc)
        );
        assert_eq!("did:key:z0OIl".parse::<DidKey>(), Err(KeyError::Base58));
        // A secret key where a public key belongs.
        assert_eq!(
            format!("did:key:{PRIV}").parse::<DidKey>(),
            Err(KeyError::Codec("ed25519-pub (0xed01)"))
        );
        // The identity point is a small-order (weak) key.
        let mut weak = ED25519_PUB.to_vec();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        weak.extend_from_slice(&identity);
        assert_eq!(
            format!("did:key:{}", multibase_encode(&weak)).parse::<DidKey>(),
            Err(KeyError::Weak)
        );
        assert_eq!(
            DidKey::from_verification_method(&format!("did:key:{PUB}#other")),
            Err(KeyError::NotDidKey("fragment does not match the key"))
        );
    }
}
