//! The licence parser and verifier: any JSON document is parsed and judged without a panic; with no
//! registry to consult, a verdict that says valid has a proof that verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use licence_vault::licence::Licence;
use licence_vault::{jcs, proof, verify};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = jcs::parse(data) else { return };
    let parsed = Licence::parse(&doc);
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).expect("a fixed time");
    let (verdict, licence) = verify::licence(&doc, verify::Evidence::new(None, now));
    assert_eq!(licence.is_some(), parsed.is_ok());
    if verdict.valid {
        let signed = proof::prepare(&doc).is_ok_and(|p| p.verify());
        assert!(
            signed,
            "a valid licence verdict over a proof that does not verify"
        );
    }
    if let Some(l) = licence {
        let _ = l.face(&["name".to_string()]);
    }
});
