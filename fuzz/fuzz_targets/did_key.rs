//! did:key and multibase: decoding never panics, what decodes re-encodes to the same text, and a
//! verification method is accepted only with the key's own fragment.
#![no_main]
use libfuzzer_sys::fuzz_target;
use licence_vault::keys::{self, DidKey};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = keys::multibase_decode(s) {
        assert_eq!(
            keys::multibase_decode(&keys::multibase_encode(&bytes)).ok(),
            Some(bytes)
        );
    }
    if let Ok(key) = s.parse::<DidKey>() {
        assert_eq!(key.as_str(), s);
        let vm = key.verification_method();
        assert!(DidKey::from_verification_method(&vm).ok() == Some(key));
    }
    let _ = DidKey::from_verification_method(s);
});
