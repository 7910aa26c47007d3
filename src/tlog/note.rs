//! Checkpoints and their signatures, as C2SP writes them: `signed-note` (Ed25519 lines, key
//! names and key ids, verifier keys), `tlog-checkpoint` (origin, size, root) and `tlog-proof`
//! (an index, an inclusion proof and the checkpoint it leads to). The example of
//! `fixtures/conformance/c2sp-signed-note/` is reproduced exactly.
//!
//! **Invariant:** a note is accepted only if a line by a key the caller trusts verifies
//! (`verify_strict`) over the note's text exactly; unknown lines are carried, never trusted.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{decimal, hash_lines, Hash, ProofError};
use crate::keys::{KeyError, Sign};

/// The signature type of an Ed25519 line.
const ED25519: u8 = 0x01;

/// One signature line: `— <name> <base64(key id ‖ signature)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    pub signature: Vec<u8>,
}

impl NoteSignature {
    pub fn line(&self) -> String {
        let mut b = self.key_id.to_vec();
        b.extend_from_slice(&self.signature);
        format!("\u{2014} {} {}\n", self.name, STANDARD.encode(b))
    }
}

/// A note: its text (ending in a newline) and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// The note as served: the text, an empty line, the signature lines.
    pub fn to_text(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.line());
        }
        s
    }

    /// Parses a signed note. Its text must be UTF-8 without control characters other than
    /// newlines, end with a newline, and be followed by one empty line and at least one
    /// well-formed signature line.
    pub fn parse(note: &str) -> Result<Self, ProofError> {
        if note.len() > 1 << 20 {
            return Err(ProofError("a note over 1 MiB"));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(ProofError("a note with control characters"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(ProofError("a note without signatures"))?;
        let text = &note[..split + 1];
        let sigs = &note[split + 2..];
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(ProofError("a note without signatures"));
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            let rest = line.strip_prefix("\u{2014} ").ok_or(ProofError(
                "a signature line that does not start with an em dash",
            ))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or(ProofError("a signature line without a signature"))?;
            if !valid_name(name) {
                return Err(ProofError("a signature line with a bad key name"));
            }
            let b = STANDARD
                .decode(b64)
                .map_err(|_| ProofError("a signature that is not base64"))?;
            if b.len() < 5 {
                return Err(ProofError("a signature too short for its key id"));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: [b[0], b[1], b[2], b[3]],
                signature: b[4..].to_vec(),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }
}

/// A key name: non-empty, no spaces, no `+`, no control characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// The key id of an Ed25519 key under `name`: the first 4 bytes of
/// `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, ED25519, key)
}

/// The key id of an Ed25519 key of signature type `ty` (0x01 a note's, 0x04 a cosignature's).
pub(crate) fn typed_key_id(name: &str, ty: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ty]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Parses a C2SP verifier key of signature type `ty`: `<name>+<hex key id>+<base64(ty ‖ key)>`,
/// whose id must be its key's.
pub(crate) fn parse_vkey(s: &str, ty: u8) -> Result<(String, [u8; 4], VerifyingKey), ProofError> {
    let bad = ProofError("not a verifier key: <name>+<hex key id>+<base64(type ‖ key)>");
    // The key's base64 may itself hold `+`: the name and the id hold none.
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad);
    };
    if id.len() != 8
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad);
    }
    let id = hex::decode(id).map_err(|_| bad.clone())?;
    let key = STANDARD.decode(key).map_err(|_| bad.clone())?;
    if key.len() != 33 || key[0] != ty || !valid_name(name) {
        return Err(bad);
    }
    let vk = VerifyingKey::from_bytes(key[1..].try_into().map_err(|_| bad.clone())?)
        .map_err(|_| ProofError("not an Ed25519 public key"))?;
    let key_id = typed_key_id(name, ty, &vk);
    if key_id[..] != id[..] {
        return Err(ProofError("a verifier key whose id is not its key's"));
    }
    Ok((name.to_owned(), key_id, vk))
}

/// A C2SP verifier key's text.
pub(crate) fn vkey_text(name: &str, key_id: &[u8; 4], ty: u8, key: &VerifyingKey) -> String {
    let mut k = vec![ty];
    k.extend_from_slice(key.as_bytes());
    format!("{name}+{}+{}", hex::encode(key_id), STANDARD.encode(k))
}

/// A C2SP verifier key of signature type `TY`: `<name>+<hex key id>+<base64(TY ‖ key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey<const TY: u8> {
    pub name: String,
    pub key_id: [u8; 4],
    pub key: VerifyingKey,
}

/// A key that verifies notes (signature type 0x01).
pub type NoteVerifier = VerifierKey<ED25519>;

impl<const TY: u8> VerifierKey<TY> {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, ProofError> {
        if !valid_name(name) {
            return Err(ProofError("a bad key name"));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: typed_key_id(name, TY, &key),
            key,
        })
    }

    pub fn parse(s: &str) -> Result<Self, ProofError> {
        let (name, key_id, key) = parse_vkey(s, TY)?;
        Ok(Self { name, key_id, key })
    }

    pub fn to_text(&self) -> String {
        vkey_text(&self.name, &self.key_id, TY, &self.key)
    }
}

impl NoteVerifier {
    /// Whether `sig` is this key's line and verifies over `text`.
    fn verifies(&self, text: &str, sig: &NoteSignature) -> bool {
        if sig.name != self.name || sig.key_id != self.key_id {
            return false;
        }
        let Ok(s) = Signature::from_slice(&sig.signature) else {
            return false;
        };
        self.key.verify_strict(text.as_bytes(), &s).is_ok()
    }
}

/// The trusted keys whose lines verify the note (at least one, else an error).
pub fn verify<'k>(
    note: &Note,
    trusted: &'k [NoteVerifier],
) -> Result<Vec<&'k NoteVerifier>, ProofError> {
    let mut by = Vec::new();
    for sig in &note.signatures {
        for k in trusted {
            if sig.name == k.name && sig.key_id == k.key_id {
                if !k.verifies(&note.text, sig) {
                    return Err(ProofError("a signature by a trusted key does not verify"));
                }
                if !by.contains(&k) {
                    by.push(k);
                }
            }
        }
    }
    if by.is_empty() {
        return Err(ProofError("no signature by a trusted key"));
    }
    Ok(by)
}

/// Signs `text` (ending in a newline) as `name` with `key`: the note with one line.
pub fn sign(text: &str, name: &str, key: &dyn Sign) -> Result<Note, KeyError> {
    let vk = key.did_key().verifying_key();
    let signature = key.try_sign(text.as_bytes())?;
    Ok(Note {
        text: text.to_owned(),
        signatures: vec![NoteSignature {
            name: name.to_owned(),
            key_id: key_id(name, vk),
            signature: signature.to_bytes().to_vec(),
        }],
    })
}

/// A tree head as C2SP `tlog-checkpoint` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a checkpoint's text (extension lines are refused: this vault writes none).
    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let lines: Vec<&str> = text
            .strip_suffix('\n')
            .ok_or(ProofError("a checkpoint that does not end in a newline"))?
            .split('\n')
            .collect();
        let [origin, size, root] = lines[..] else {
            return Err(ProofError("a checkpoint that is not three lines"));
        };
        if origin.is_empty() {
            return Err(ProofError("a checkpoint without an origin"));
        }
        let size = decimal(size).ok_or(ProofError("a checkpoint size that is not a decimal"))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or(ProofError(
                "a checkpoint root that is not 32 bytes of base64",
            ))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// Appends proof lines (base64), the empty line and the checkpoint: the tail of a tlog-proof and
/// of a witness's `add-checkpoint` request.
pub(crate) fn push_proof_and_checkpoint(s: &mut String, proof: &[Hash], checkpoint: &str) {
    for h in proof {
        s.push_str(&STANDARD.encode(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(checkpoint);
}

/// A C2SP `tlog-proof`: an entry's index, its inclusion proof and the signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: String,
}

const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

impl TlogProof {
    pub fn to_text(&self) -> String {
        let mut s = format!("{PROOF_HEADER}\n");
        if let Some(e) = &self.extra {
            s.push_str(&format!("extra {}\n", STANDARD.encode(e)));
        }
        s.push_str(&format!("index {}\n", self.index));
        push_proof_and_checkpoint(&mut s, &self.proof, &self.checkpoint);
        s
    }

    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(ProofError("a proof without its checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(PROOF_HEADER) {
            return Err(ProofError("not a c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or(ProofError("a proof without an index"))?;
        let mut extra = None;
        if let Some(e) = line.strip_prefix("extra ") {
            extra = Some(
                STANDARD
                    .decode(e)
                    .map_err(|_| ProofError("extra data that is not base64"))?,
            );
            line = lines.next().ok_or(ProofError("a proof without an index"))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(decimal)
            .ok_or(ProofError("a proof index that is not a decimal"))?;
        let proof = hash_lines(lines, 64)?;
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> serde_json::Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/conformance/c2sp-signed-note/example.json");
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    #[test]
    fn the_c2sp_example_verifies_and_no_changed_byte_does() {
        let v = example();
        let key = NoteVerifier::parse(v["verifierKey"].as_str().unwrap()).unwrap();
        assert_eq!(key.to_text(), v["verifierKey"].as_str().unwrap());
        let text = v["note"].as_str().unwrap();
        let note = Note::parse(text).unwrap();
        assert_eq!(note.to_text(), text);
        assert_eq!(note.text, "This is an example message.\n");
        assert_eq!(
            verify(&note, std::slice::from_ref(&key)).unwrap(),
            vec![&key]
        );
        // One changed byte of the text, then of the signature.
        let mut t = note.clone();
        t.text = "This is an example messagf.\n".into();
        assert!(verify(&t, std::slice::from_ref(&key)).is_err());
        let mut s = note.clone();
        s.signatures[0].signature[10] ^= 1;
        assert!(verify(&s, std::slice::from_ref(&key)).is_err());
        // An untrusted key verifies nothing.
        let other = NoteVerifier::new("example.com/bar", key.key).unwrap();
        assert!(verify(&note, &[other]).is_err());
    }

    #[test]
    fn notes_sign_and_checkpoints_round_trip() {
        let signer = crate::keys::Signer::from_seed(&[9u8; 32]);
        let c = Checkpoint {
            origin: "vault.example/log/public".into(),
            size: 12,
            root: [3u8; 32],
        };
        let note = sign(&c.to_text(), &c.origin, &signer).unwrap();
        let v = NoteVerifier::new(&c.origin, *signer.did_key().verifying_key()).unwrap();
        let parsed = Note::parse(&note.to_text()).unwrap();
        verify(&parsed, &[v]).unwrap();
        assert_eq!(Checkpoint::parse(&parsed.text).unwrap(), c);
        for bad in [
            "o\n012\nAAAA\n",
            "o\n1\nAAAA\n",
            "o\n1\n",
            "\n1\nAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n",
            "o\n1\nAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
        let p = TlogProof {
            extra: Some(b"x".to_vec()),
            index: 5,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: note.to_text(),
        };
        assert_eq!(TlogProof::parse(&p.to_text()).unwrap(), p);
        assert!(TlogProof::parse("c2sp.org/tlog-proof@v1\nindex 01\n\nx").is_err());
        assert!(Note::parse("text\n\n\u{2014} name AAAA\n").is_err());
        assert!(Note::parse("text\n\n- name AAAAAAAA\n").is_err());
        assert!(Note::parse("text\n").is_err());
    }
}
