//! Authorised reuse (SPEC §7, issue "Authorised reuse"): consents, pulls by approval systems,
//! the access log written before anything leaves, purpose-stamped copies, reuse statistics.
