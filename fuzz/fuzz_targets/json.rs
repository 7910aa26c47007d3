//! The I-JSON parser and the JCS canonicaliser: whatever the parser accepts canonicalises to bytes
//! it accepts again, to the same value, and canonicalising those is a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;
use licence_vault::jcs;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = jcs::parse(data) else { return };
    let canonical = jcs::canonicalize(&value);
    let again = jcs::parse(&canonical).expect("canonical output must parse");
    assert!(
        jcs::same_value(&again, &value),
        "parse ∘ canonicalise is not the identity"
    );
    assert_eq!(
        jcs::canonicalize(&again),
        canonical,
        "canonicalising is not idempotent"
    );
    let stored = jcs::Canonical::new(canonical.clone()).expect("canonical bytes are stored as is");
    assert_eq!(stored.as_bytes(), &canonical[..]);
});
