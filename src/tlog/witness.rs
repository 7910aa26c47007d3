//! Witnesses (C2SP `tlog-witness`, `tlog-cosignature`): the `add-checkpoint` request a log sends,
//! the Ed25519 `cosignature/v1` a witness answers with, and the cosigner keys that check it.
//!
//! **Invariant:** a cosignature counts only if it is by a configured cosigner's key (its name
//! and key id) and verifies (`verify_strict`) over `cosignature/v1`, its time and the
//! checkpoint's text exactly.

use ed25519_dalek::{Signature, VerifyingKey};

use super::note::{push_proof_and_checkpoint, typed_key_id, NoteSignature, VerifierKey};
use super::{decimal, hash_lines, Hash, ProofError};
use crate::keys::{KeyError, Sign};

/// The signature type of an Ed25519 `cosignature/v1`.
const COSIGNATURE_V1: u8 = 0x04;

/// A witness's key: `<name>+<hex key id>+<base64(0x04 ‖ public key)>`.
pub type Cosigner = VerifierKey<COSIGNATURE_V1>;

fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    typed_key_id(name, COSIGNATURE_V1, key)
}

/// What a cosignature signs: `cosignature/v1`, its time, then the checkpoint's text.
pub fn cosigned_message(timestamp: u64, checkpoint_text: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}")
}

impl Cosigner {
    /// Whether `sig` is this cosigner's line; if so, the time it cosigned at, once it verifies
    /// over `checkpoint_text`.
    pub fn verify(
        &self,
        checkpoint_text: &str,
        sig: &NoteSignature,
    ) -> Option<Result<u64, ProofError>> {
        if sig.name != self.name || sig.key_id != self.key_id {
            return None;
        }
        Some((|| {
            if sig.signature.len() != 8 + 64 {
                return Err(ProofError(
                    "a cosignature that is not a time and an Ed25519 signature",
                ));
            }
            let t = u64::from_be_bytes(sig.signature[..8].try_into().unwrap_or_default());
            if t > i64::MAX as u64 {
                return Err(ProofError("a cosignature time beyond 2^63 - 1"));
            }
            let s = Signature::from_slice(&sig.signature[8..])
                .map_err(|_| ProofError("not an Ed25519 signature"))?;
            self.key
                .verify_strict(cosigned_message(t, checkpoint_text).as_bytes(), &s)
                .map_err(|_| ProofError("a cosignature that does not verify"))?;
            Ok(t)
        })())
    }
}

/// Cosigns `checkpoint_text` at `timestamp` as `name` (what a witness answers).
pub fn cosign(
    name: &str,
    key: &dyn Sign,
    timestamp: u64,
    checkpoint_text: &str,
) -> Result<NoteSignature, KeyError> {
    let s = key.try_sign(cosigned_message(timestamp, checkpoint_text).as_bytes())?;
    let mut signature = timestamp.to_be_bytes().to_vec();
    signature.extend_from_slice(&s.to_bytes());
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, key.did_key().verifying_key()),
        signature,
    })
}

/// The body of `POST <witness>/add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the last checkpoint the witness cosigned for this log (0: none).
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint.
    pub checkpoint: String,
}

impl AddCheckpoint {
    pub fn to_text(&self) -> String {
        let mut s = format!("old {}\n", self.old);
        push_proof_and_checkpoint(&mut s, &self.proof, &self.checkpoint);
        s
    }

    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(ProofError("a request without its checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(decimal)
            .ok_or(ProofError("the first line must be `old <size>`"))?;
        let proof = hash_lines(lines, 63)?;
        Ok(Self {
            old,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cosignature_verifies_over_its_message_and_nothing_else() {
        let w = crate::keys::Signer::from_seed(&[5u8; 32]);
        let c = Cosigner::new("witness.example/w1", *w.did_key().verifying_key()).unwrap();
        assert_eq!(Cosigner::parse(&c.to_text()).unwrap(), c);
        let text = "example.com/log\n3\nAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=\n";
        let sig = cosign(&c.name, &w, 1_679_315_147, text).unwrap();
        assert_eq!(sig.signature.len(), 72);
        assert_eq!(c.verify(text, &sig), Some(Ok(1_679_315_147)));
        assert!(matches!(
            c.verify("example.com/log\n4\n", &sig),
            Some(Err(_))
        ));
        let mut later = sig.clone();
        later.signature[7] ^= 1;
        assert!(matches!(c.verify(text, &later), Some(Err(_))));
        let other = Cosigner::new("witness.example/w2", *w.did_key().verifying_key()).unwrap();
        assert_eq!(other.verify(text, &sig), None);
        // The same key as a note key (0x01) is another key id: no confusion between the two.
        assert_ne!(c.key_id, crate::tlog::note::key_id(&c.name, &c.key));
    }

    #[test]
    fn add_checkpoint_requests_round_trip_and_refuse_bad_ones() {
        let r = AddCheckpoint {
            old: 20_852_014,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: "o\n1\nAQ==\n\n\u{2014} o AAAA\n".into(),
        };
        assert_eq!(AddCheckpoint::parse(&r.to_text()).unwrap(), r);
        for bad in [
            "old 01\n\nx",
            "old\n\nx",
            "new 1\n\nx",
            "old 1\nnothash\n\nx",
            "old 1\n",
        ] {
            assert!(AddCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!(
            "old 1\n{}\nx",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n".repeat(64)
        );
        assert!(AddCheckpoint::parse(&long).is_err());
    }
}
