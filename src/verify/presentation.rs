//! A verifiable presentation (VC-API `POST /presentations/verify`): the holder's proof, for
//! `authentication`, bound to the verifier's challenge and domain, by a key its `holder`
//! controls; the data model's rules for presentations; and each credential it carries through
//! the one verdict credentials get anywhere, given by the caller.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{controls, data_model, proof_check, Party};
use crate::proof;
use crate::verdict::{Check, CheckName, Reason, Verdict};

/// What the verifier expects the holder's proof to answer: the challenge it gave and its
/// domain (VC-API `options`); `None` where the verifier asked nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    pub challenge: Option<&'a str>,
    pub domain: Option<&'a str>,
    /// Why the challenge itself is refused (one the vault gave that is forged or out of time):
    /// the challenge check fails whatever the proof says.
    pub challenge_refused: Option<&'a str>,
}

/// The verdict of a presentation and of each credential it carries, in order.
#[derive(Debug, Clone)]
pub struct Judged {
    pub verdict: Verdict,
    pub credentials: Vec<Verdict>,
}

/// Verifies a presentation; `credential` judges each credential it carries.
pub fn check(
    vp: &Value,
    expected: Expected<'_>,
    now: DateTime<Utc>,
    credential: impl Fn(&Value) -> Verdict,
) -> Judged {
    let prepared = proof::prepare_presentation(vp);
    let mut checks = vec![proof_check(&prepared, None, now)];
    checks.push(match &prepared {
        Ok(p) => controls(vp, &p.key, Party::Holder),
        Err(_) => Check::not_checked(CheckName::Holder, "no usable proof"),
    });
    let bound = |name: &str| {
        vp.get("proof")
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
    };
    checks.push(match expected.challenge_refused {
        Some(why) => Check::fail_at(
            CheckName::Challenge,
            Reason::ChallengeMismatch,
            "$.options.challenge",
            why,
        ),
        None => binding(
            (CheckName::Challenge, "challenge"),
            Reason::ChallengeMismatch,
            expected.challenge,
            bound("challenge"),
        ),
    });
    checks.push(binding(
        (CheckName::Domain, "domain"),
        Reason::DomainMismatch,
        expected.domain,
        bound("domain"),
    ));
    checks.push(match data_model::presentation(vp) {
        Ok(()) => Check::pass(CheckName::DataModel),
        Err(r) => Check::fail_at(CheckName::DataModel, r.reason, r.field, r.message),
    });
    let credentials: Vec<Verdict> = data_model::presented_credentials(vp)
        .into_iter()
        .map(credential)
        .collect();
    let invalid = credentials.iter().enumerate().find(|(_, v)| !v.valid);
    checks.push(match invalid {
        None => Check::pass_with(
            CheckName::Credentials,
            format!("{} credential(s), each valid", credentials.len()),
        ),
        Some((i, v)) => Check::fail_at(
            CheckName::Credentials,
            v.reason().unwrap_or(Reason::BadSignature),
            format!("$.verifiableCredential[{i}]"),
            "this credential is not valid on its own (its verdict says why)",
        ),
    });
    Judged {
        verdict: Verdict::new(checks, now),
        credentials,
    }
}

/// Whether the proof's `challenge` or `domain` (`got`) is the one the verifier gave (`want`).
fn binding(
    (check, name): (CheckName, &str),
    mismatch: Reason,
    want: Option<&str>,
    got: Option<&str>,
) -> Check {
    match (want, got) {
        (None, _) => Check::not_checked(check, format!("the verifier gave no {name}")),
        (Some(w), Some(g)) if w == g => Check::pass(check),
        (Some(_), Some(_)) => Check::fail_at(
            check,
            mismatch,
            format!("$.proof.{name}"),
            format!("the proof answers another {name} than the verifier's"),
        ),
        (Some(_), None) => Check::fail_at(
            check,
            mismatch,
            format!("$.proof.{name}"),
            format!("the proof names no {name}; the verifier asked for one"),
        ),
    }
}

/// How long a challenge the vault gives (`POST /challenges`) is accepted.
pub const CHALLENGE_TTL_SECONDS: i64 = 600;
/// What the vault's own challenges start with.
const CHALLENGE_PREFIX: &str = "vch_";
/// A challenge is the time it ends (8 bytes), a nonce (16) and the first 16 bytes of a MAC of
/// both.
const CHALLENGE_BODY: usize = 24;

/// A challenge that ends [`CHALLENGE_TTL_SECONDS`] after `now`, made of `nonce` and `mac` (the
/// vault's MAC, so that any node recognises it without storing it).
pub fn mint_challenge(
    now: DateTime<Utc>,
    nonce: [u8; 16],
    mac: impl Fn(&[u8]) -> [u8; 32],
) -> String {
    let ends = now.timestamp().saturating_add(CHALLENGE_TTL_SECONDS);
    let mut raw = [ends.to_be_bytes().as_slice(), &nonce].concat();
    let tag = mac(&raw);
    raw.extend_from_slice(&tag[..16]);
    format!("{CHALLENGE_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// Why a challenge that looks like one [`mint_challenge`] makes is refused at `now` (`None`: it
/// is one, in time, or a challenge the caller chose, which is the caller's to judge).
pub fn challenge_refusal(
    challenge: &str,
    now: DateTime<Utc>,
    mac: impl Fn(&[u8]) -> [u8; 32],
) -> Option<&'static str> {
    let body = challenge.strip_prefix(CHALLENGE_PREFIX)?;
    let forged = Some("not a challenge this vault gave");
    let Some(raw) = URL_SAFE_NO_PAD
        .decode(body)
        .ok()
        .filter(|r| r.len() == CHALLENGE_BODY + 16)
    else {
        return forged;
    };
    let (body, tag) = raw.split_at(CHALLENGE_BODY);
    if !crate::keys::same_bytes(&mac(body)[..16], tag) {
        return forged;
    }
    let mut ends = [0u8; 8];
    ends.copy_from_slice(&body[..8]);
    (now.timestamp() >= i64::from_be_bytes(ends))
        .then_some("the challenge this vault gave has expired")
}
