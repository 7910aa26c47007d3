//! Fair shares under pressure: rate limits per caller and per class of endpoint, and the class's
//! own blocking permits.
//!
//! Every route of the table has a [`Class`]: `cheap` (one record, one licence) or `expensive` (work
//! that grows with what a holder has or verifies many signatures: pulls, checks, previews, lists
//! of licences, the verifiers, batch deposits). A request is counted, before its handler runs,
//! against
//!
//! - its client address, whatever it asks (`per_address`), and
//! - its credential — the SHA-256 of the `Authorization` header or of the page session cookie;
//!   the client address for a call without one — in its class (`cheap`, `expensive`).
//!
//! Over a share it is answered `429 rate_limited` in the error envelope with `Retry-After`, and
//! nothing runs. The credential is not checked here (that is the handler's extractor): an unknown
//! one has a share like any other, and the address limit bounds a caller that makes up many.
//! Behind a reverse proxy every client has the proxy's address; the vault does not trust
//! `X-Forwarded-For`, so the address limit then bounds the proxy as a whole.
//!
//! Expensive work also runs under its own blocking permits, half of the cheap class's
//! ([`super::blocking`]): a flood of expensive calls queues behind its own permits and leaves the
//! cheap ones theirs.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::verdict::Reason;

/// What a request costs the vault, as the route table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Cheap,
    Expensive,
}

tokio::task_local! {
    /// The class of the request this task serves (set by [`limit`]; cheap when unset).
    pub static CLASS: Class;
}

/// The class of the request being served.
pub fn current() -> Class {
    CLASS.try_with(|c| *c).unwrap_or(Class::Cheap)
}

/// Requests per second (sustained) of each share; a share's burst is twice its rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub per_address: u32,
    pub cheap: u32,
    pub expensive: u32,
    /// SHA-256 of credentials (bearer tokens) counted against no share: the benchmarks' own,
    /// named explicitly (`--rate-limit-exempt`).
    pub exempt: HashSet<[u8; 32]>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_address: 500,
            cheap: 50,
            expensive: 10,
            exempt: HashSet::new(),
        }
    }
}

/// The shares as they are used.
pub struct Limiter {
    exempt: HashSet<[u8; 32]>,
    address: DefaultKeyedRateLimiter<IpAddr>,
    cheap: DefaultKeyedRateLimiter<[u8; 32]>,
    expensive: DefaultKeyedRateLimiter<[u8; 32]>,
    checks: AtomicU64,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(rate.saturating_mul(NonZeroU32::MIN.saturating_add(1)))
}

/// Forget callers idle long enough to be back at a full burst after this many checks.
const PRUNE_EVERY: u64 = 4096;

impl Limiter {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            exempt: limits.exempt.clone(),
            address: RateLimiter::keyed(quota(limits.per_address)),
            cheap: RateLimiter::keyed(quota(limits.cheap)),
            expensive: RateLimiter::keyed(quota(limits.expensive)),
            checks: AtomicU64::new(0),
        }
    }

    /// `Ok` if the request fits its shares; else how many seconds until it would. `class` is none
    /// for a call that the handler refuses from its headers alone (no credential where one is
    /// needed): only the address share counts it, and the caller gets the `401` it needs to see.
    fn check(
        &self,
        address: IpAddr,
        credential: Option<[u8; 32]>,
        class: Option<Class>,
    ) -> Result<(), u64> {
        if credential.is_some_and(|c| self.exempt.contains(&c)) {
            return Ok(());
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.address.retain_recent();
            self.cheap.retain_recent();
            self.expensive.retain_recent();
        }
        let clock = DefaultClock::default();
        let wait = |e: governor::NotUntil<_>| e.wait_time_from(clock.now()).as_secs() + 1;
        let address = client(address);
        self.address.check_key(&address).map_err(wait)?;
        let key = credential.unwrap_or_else(|| address_key(address));
        match class {
            None => Ok(()),
            Some(Class::Cheap) => self.cheap.check_key(&key),
            Some(Class::Expensive) => self.expensive.check_key(&key),
        }
        .map_err(wait)
    }
}

/// The key of a credential's shares: its SHA-256 (what `--rate-limit-exempt` names). An
/// address's is the SHA-256 of a 0 byte and the address ([`address_key`]); no header value holds
/// a 0 byte, so no credential can take an address's key.
fn credential_key(credential: &[u8]) -> [u8; 32] {
    Sha256::digest(credential).into()
}

fn address_key(address: IpAddr) -> [u8; 32] {
    Sha256::new()
        .chain_update([0])
        .chain_update(address.to_string())
        .finalize()
        .into()
}

/// The address a share is kept for: an IPv4 address, or the /64 an IPv6 address is in (one
/// client's usual allocation, which it could otherwise walk through).
fn client(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The credential a request carries, as the key of its bearer token (the scheme in any case, as
/// the extractors read it) or of its page session.
fn credential(req: &Request) -> Option<[u8; 32]> {
    let headers = req.headers();
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    {
        return Some(credential_key(token.as_bytes()));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("lv_session="))
        .map(|s| credential_key(s.as_bytes()))
}

/// The route layer: counts the request against its shares, then serves it with its class set
/// for [`super::blocking`].
/// `public`: the route needs no credential.
pub async fn limit(
    State((limiter, class, public)): State<(Option<Arc<Limiter>>, Class, bool)>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = &limiter {
        let address = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let credential = credential(&req);
        let counted = (public || credential.is_some()).then_some(class);
        if let Err(secs) = limiter.check(address, credential, counted) {
            let mut res = ApiError::new(
                Reason::RateLimited,
                format!("too many requests from this caller; try again in {secs} s"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
    }
    CLASS.scope(class, next.run(req)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_a_burst_of_twice_the_rate_then_refused_with_a_wait() {
        let limiter = Limiter::new(&RateLimits {
            per_address: 1000,
            cheap: 3,
            expensive: 1,
            exempt: HashSet::from([[7; 32]]),
        });
        let here = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (a, b) = (Some([1; 32]), Some([2; 32]));
        for _ in 0..6 {
            assert_eq!(limiter.check(here, a, Some(Class::Cheap)), Ok(()));
        }
        assert_eq!(limiter.check(here, a, Some(Class::Cheap)), Err(1));
        // Another caller, and the same caller's other class, have their own shares.
        assert_eq!(limiter.check(here, b, Some(Class::Cheap)), Ok(()));
        assert_eq!(limiter.check(here, a, Some(Class::Expensive)), Ok(()));
        assert_eq!(limiter.check(here, a, Some(Class::Expensive)), Ok(()));
        assert_eq!(limiter.check(here, a, Some(Class::Expensive)), Err(1));
        // An exempt credential is never counted.
        for _ in 0..100 {
            assert_eq!(
                limiter.check(here, Some([7; 32]), Some(Class::Expensive)),
                Ok(())
            );
        }
    }

    #[test]
    fn the_scheme_is_read_in_any_case_and_no_token_takes_an_addresss_key() {
        let req = |auth: &str| {
            axum::http::Request::builder()
                .header("authorization", auth)
                .body(axum::body::Body::empty())
                .unwrap_or_default()
        };
        let upper = credential(&req("Bearer lv_abc"));
        assert!(upper.is_some());
        assert_eq!(credential(&req("bearer lv_abc")), upper);
        assert_eq!(credential(&req("BEARER  lv_abc")), upper);
        assert_eq!(credential(&req("Basic lv_abc")), None);
        // `--rate-limit-exempt` names the token's plain SHA-256.
        assert_eq!(upper, Some(Sha256::digest(b"lv_abc").into()));
        let ip: IpAddr = "203.0.113.7"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_ne!(
            credential(&req("Bearer 203.0.113.7")),
            Some(address_key(ip))
        );
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let ip = |s: &str| {
            s.parse::<IpAddr>()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        };
        assert_eq!(
            client(ip("2001:db8:1:2:3:4:5:6")),
            client(ip("2001:db8:1:2:ffff::1"))
        );
        assert_ne!(client(ip("2001:db8:1:2::1")), client(ip("2001:db8:1:3::1")));
        assert_eq!(client(ip("203.0.113.7")), ip("203.0.113.7"));
    }

    #[test]
    fn an_address_is_bounded_whatever_credentials_it_makes_up() {
        let limiter = Limiter::new(&RateLimits {
            per_address: 2,
            cheap: 1000,
            expensive: 1000,
            exempt: HashSet::new(),
        });
        let here = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for i in 0..4 {
            assert_eq!(limiter.check(here, Some([i; 32]), None), Ok(()));
        }
        assert_eq!(limiter.check(here, Some([9; 32]), None), Err(1));
        let there = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(limiter.check(there, Some([9; 32]), None), Ok(()));
    }
}
