//! The transparency logs' parsers (SPEC §14): signed notes, checkpoints, C2SP tlog-proofs, tile
//! paths, entry bundles, witness requests and verifier keys. Whatever parses writes back to the
//! same text and parses again to the same value; proofs read from anything never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use licence_vault::tlog::note::{Checkpoint, Note, NoteVerifier, TlogProof};
use licence_vault::tlog::tiles::{bundle, unbundle, TilePath};
use licence_vault::tlog::witness::{AddCheckpoint, Cosigner};
use licence_vault::tlog::{verify_consistency, verify_inclusion};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = unbundle(data) {
        assert_eq!(bundle(&entries).ok().as_deref(), Some(data));
    }
    if data.len() >= 80 {
        let (a, b) = data.split_at(64);
        let n = u64::from_le_bytes(b[..8].try_into().unwrap());
        let m = u64::from_le_bytes(b[8..16].try_into().unwrap());
        let proof: Vec<Vec<u8>> = b[16..].chunks(32).map(<[u8]>::to_vec).collect();
        let _ = verify_inclusion(n % 1024, m % 1024, &a[..32], &proof, &a[32..]);
        let _ = verify_consistency(n % 1024, m % 1024, &a[..32], &a[32..], &proof);
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = Note::parse(s) {
        assert_eq!(Note::parse(&n.to_text()).ok(), Some(n.clone()));
        let _ = licence_vault::tlog::note::verify(&n, &[]);
    }
    if let Ok(c) = Checkpoint::parse(s) {
        assert_eq!(c.to_text(), s);
    }
    if let Ok(p) = TlogProof::parse(s) {
        assert_eq!(TlogProof::parse(&p.to_text()).ok(), Some(p));
    }
    if let Ok(t) = TilePath::parse(s) {
        assert_eq!(t.to_path(), s);
        let _ = t.exists_at(u64::MAX);
    }
    if let Ok(r) = AddCheckpoint::parse(s) {
        assert_eq!(AddCheckpoint::parse(&r.to_text()).ok(), Some(r));
    }
    if let Ok(k) = NoteVerifier::parse(s) {
        assert_eq!(NoteVerifier::parse(&k.to_text()).ok(), Some(k));
    }
    if let Ok(k) = Cosigner::parse(s) {
        assert_eq!(Cosigner::parse(&k.to_text()).ok(), Some(k));
    }
});
