//! Proofs: any JSON document goes through proof preparation and the generic verifier without a
//! panic, and a verdict that says valid has a proof that verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use licence_vault::{jcs, proof, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = jcs::parse(data) else { return };
    let prepared = proof::prepare(&doc);
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("a fixed time");
    let verdict = verify::document(&doc, None, now);
    if let Ok(p) = &prepared {
        let signed = p.verify();
        if verdict.valid {
            assert!(signed, "a valid verdict over a proof that does not verify");
        }
    } else {
        assert!(!verdict.valid, "a valid verdict without a usable proof");
    }
});
