//! Page sessions (SPEC §12): a signed-in page holds only an opaque session cookie (HttpOnly,
//! SameSite=Strict, Secure behind TLS); the bearer token it stands for stays in this process's
//! memory and is added to the API call by [`super::pages`]. Each session has its own CSRF token,
//! which every call from the page repeats in `X-CSRF-Token`.
//!
//! Sessions live in the memory of the node that signed them in: a restart or another node signs
//! the person out (they sign in again). Nothing here is ever logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use super::realm::Realm;

/// A session ends after this long without a call…
pub const IDLE: Duration = Duration::from_secs(15 * 60);
/// …and in any case this long after sign-in.
pub const ABSOLUTE: Duration = Duration::from_secs(8 * 60 * 60);
/// Sessions kept at most; beyond it, sign-in answers 503 until some end.
pub const MAX_SESSIONS: usize = 100_000;
/// Sessions one token may hold at once; a further sign-in ends the oldest, so one token cannot
/// fill the table.
pub const MAX_PER_TOKEN: usize = 5;

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A pre-sign-in value the vault mints: 128 random bits and the first 128 bits of the vault's
/// MAC of them (`mac`), URL-safe (43 characters). Any node of the vault recognises it
/// ([`minted`]); a value a client chose is not one.
pub fn mint(mac: impl Fn(&[u8]) -> [u8; 32]) -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b[..16]);
    let m = mac(&b[..16]);
    b[16..].copy_from_slice(&m[..16]);
    URL_SAFE_NO_PAD.encode(b)
}

/// Whether `value` is one [`mint`] made with the same `mac`.
pub fn minted(value: &str, mac: impl Fn(&[u8]) -> [u8; 32]) -> bool {
    let Ok(b) = URL_SAFE_NO_PAD.decode(value) else {
        return false;
    };
    if b.len() != 32 {
        return false;
    }
    crate::keys::same_bytes(&b[16..], &mac(&b[..16])[..16])
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    crate::keys::same_bytes(a.as_bytes(), b.as_bytes())
}

#[derive(Clone)]
pub struct Session {
    pub realm: Realm,
    /// The bearer token the session stands for. Never leaves this process.
    pub token: String,
    pub csrf: String,
    /// What the page shows as "signed in as" (masked codes only).
    pub label: String,
    started: Instant,
    last: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("realm", &self.realm)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Session cookie digest → session. The cookie value itself is not kept.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn digest(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

impl Sessions {
    /// Starts a session; returns the cookie value, or `None` when the table is full. Ended
    /// sessions are swept here (sign-ins are rare next to calls), so an expired session's token
    /// does not stay in memory past the next sign-in.
    pub fn start(&self, realm: Realm, token: String, label: String) -> Option<(String, Session)> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| live(s, now));
        let mut same: Vec<([u8; 32], Instant)> = map
            .iter()
            .filter(|(_, s)| same_secret(&s.token, &token))
            .map(|(k, s)| (*k, s.started))
            .collect();
        if same.len() >= MAX_PER_TOKEN {
            same.sort_by_key(|(_, started)| *started);
            for (k, _) in &same[..=same.len() - MAX_PER_TOKEN] {
                map.remove(k);
            }
        }
        if map.len() >= MAX_SESSIONS {
            return None;
        }
        let cookie = random_token();
        let session = Session {
            realm,
            token,
            csrf: random_token(),
            label,
            started: now,
            last: now,
        };
        map.insert(digest(&cookie), session.clone());
        Some((cookie, session))
    }

    /// The live session of `realm` the cookie names, its idle clock restarted.
    pub fn get(&self, realm: Realm, cookie: &str) -> Option<Session> {
        let now = Instant::now();
        let key = digest(cookie);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&key) {
            Some(s) if s.realm == realm && live(s, now) => {
                s.last = now;
                Some(s.clone())
            }
            Some(s) if !live(s, now) => {
                map.remove(&key);
                None
            }
            _ => None,
        }
    }

    pub fn end(&self, cookie: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&digest(cookie));
    }

    /// Sessions held now (live or not yet swept).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last) < IDLE && now.duration_since(s.started) < ABSOLUTE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_in_its_realm_only() {
        let s = Sessions::default();
        let (cookie, started) = s
            .start(Realm::Me, "lv_secret".into(), "holder".into())
            .unwrap();
        let got = s.get(Realm::Me, &cookie).unwrap();
        assert_eq!(got.token, "lv_secret");
        assert_eq!(got.csrf, started.csrf);
        assert!(s.get(Realm::Agency, &cookie).is_none());
        assert!(s.get(Realm::Me, "other").is_none());
        s.end(&cookie);
        assert!(s.get(Realm::Me, &cookie).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn one_token_holds_at_most_a_few_sessions_and_the_oldest_goes_first() {
        let s = Sessions::default();
        let cookies: Vec<String> = (0..MAX_PER_TOKEN + 2)
            .map(|_| s.start(Realm::Me, "lv_a".into(), "a".into()).unwrap().0)
            .collect();
        let other = s.start(Realm::Me, "lv_b".into(), "b".into()).unwrap().0;
        assert_eq!(s.len(), MAX_PER_TOKEN + 1);
        assert!(s.get(Realm::Me, &cookies[0]).is_none());
        assert!(s.get(Realm::Me, &cookies[1]).is_none());
        for c in &cookies[2..] {
            assert!(s.get(Realm::Me, c).is_some());
        }
        assert!(s.get(Realm::Me, &other).is_some());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn debug_output_never_shows_the_token_or_csrf() {
        let s = Sessions::default();
        let (_, session) = s.start(Realm::Me, "lv_secret".into(), "x".into()).unwrap();
        let text = format!("{session:?}");
        assert!(!text.contains("lv_secret"));
        assert!(!text.contains(&session.csrf));
    }
}
