//! Identifiers and codes: USCC, citizen ID, type code, licence id, holder code. Whatever parses
//! prints back as the same text and parses again to the same value; masking never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use licence_vault::codes::{self, CitizenId, HolderCode, LicenceId, TypeCode, Uscc};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = s.parse::<Uscc>() {
        assert_eq!(u.to_string(), s);
        assert_eq!(Uscc::check_char(&s[..17]).ok(), s.chars().nth(17));
    }
    if let Ok(c) = s.parse::<CitizenId>() {
        assert_eq!(c.as_str(), s);
    }
    if let Ok(t) = s.parse::<TypeCode>() {
        assert_eq!(t.to_string(), s);
        let _ = t.authority();
    }
    if let Ok(id) = s.parse::<LicenceId>() {
        assert_eq!(id.to_string().parse::<LicenceId>().ok(), Some(id.clone()));
        assert_eq!(
            LicenceId::from_urn_or_bare(&id.urn()).ok(),
            Some(id.clone())
        );
        let _ = (id.type_code(), id.issuer(), id.serial(), id.version());
        let _ = id.with_version(id.version().saturating_add(1));
    }
    let _ = LicenceId::from_urn_or_bare(s);
    if let Ok(h) = s.parse::<HolderCode>() {
        assert_eq!(h.key(), s);
        let _ = h.to_string();
    }
    let _ = codes::mask(s);
});
