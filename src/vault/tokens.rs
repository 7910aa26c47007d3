//! Bearer tokens: made, revoked and resolved (a memory lookup for known tokens on a store no other
//! process writes).

use crate::auth::{self, Principal, TokenRecord};
use crate::store::{Change, StoreError, Table};
use crate::verdict::Reason;
use chrono::{DateTime, Utc};

use super::layout::{self};

use std::collections::HashMap;

use super::{Vault, VaultError};

/// Token digest → principal, for tokens seen since the vault opened, kept only on a store no other
/// process writes (RocksDB admits one): on a shared one each request reads its token. A revocation bumps `generation` after its
/// delete is durable, so a lookup that read the table before the revocation cannot cache what it read.
#[derive(Default)]
pub(super) struct TokenCache {
    generation: u64,
    principals: HashMap<[u8; 32], Principal>,
}

/// A bearer credential as a request brings it: resolved already (a token this vault remembers),
/// or still to be resolved, which a request may do in the flight of its first reads instead of a
/// round trip of its own (on a shared store, where tokens are never remembered, that is one
/// statement fewer per request).
#[derive(Debug, Clone)]
pub enum Caller {
    Resolved(Principal),
    Bearer(String),
}

/// The read that resolves a bearer credential ([`Vault::token_to_read`]).
pub(super) struct TokenRead<'a> {
    bearer: &'a str,
    digest: [u8; 32],
    /// The token's key; `None` for a holder JWS.
    pub(super) key: Option<Vec<u8>>,
    generation: u64,
}

/// Tokens remembered at most; beyond it, the others are read from the store each time.
pub(super) const MAX_CACHED_TOKENS: usize = 100_000;

impl Vault {
    /// Issues a token for `principal`; returns `(id, token)`. The token is not stored.
    pub fn create_token(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<(String, String), VaultError> {
        let reg = self.registries();
        match principal {
            Principal::Issuer(u) if !reg.agencies.contains_key(u) => {
                return Err(VaultError::new(
                    Reason::NotFound,
                    "$.subject",
                    format!("agency {u} is not registered"),
                ));
            }
            Principal::Requester(r) if !reg.requesters.contains_key(r) => {
                return Err(VaultError::new(
                    Reason::NotFound,
                    "$.subject",
                    format!("requester {r} is not registered"),
                ));
            }
            _ => {}
        }
        let (id, token) = auth::new_token();
        let record = TokenRecord {
            id: id.clone(),
            role: principal.role(),
            subject: principal.subject(),
            created_at: now,
        };
        let digest = auth::token_digest(&token);
        let mut c = Change::durable();
        c.put(
            Table::TokenDigestToken,
            layout::token(&digest),
            layout::encode(&record),
        )
        .put(
            Table::TokenIdTokenDigest,
            layout::token_id(&id),
            layout::token(&digest),
        );
        self.store.commit(c)?;
        Ok((id, token))
    }

    /// Revokes a token by id; `false` if there is no such token.
    pub fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let Some(v) = self
            .store
            .get(Table::TokenIdTokenDigest, &layout::token_id(id))?
        else {
            return Ok(false);
        };
        let digest = layout::decode_token_digest(&v)?;
        let mut c = Change::durable();
        c.delete(Table::TokenDigestToken, layout::token(&digest))
            .delete(Table::TokenIdTokenDigest, layout::token_id(id));
        self.store.commit(c)?;
        let mut cache = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        cache.generation += 1;
        cache.principals.remove(&digest);
        Ok(true)
    }

    /// Whether any admin token exists (to bootstrap one on first start).
    pub fn has_admin_token(&self) -> Result<bool, StoreError> {
        for (_, v) in self
            .store
            .scan(Table::TokenDigestToken, b"", false, usize::MAX)?
        {
            let r: TokenRecord = layout::decode(Table::TokenDigestToken, &v)?;
            if r.role == auth::Role::Admin {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Resolves a bearer credential: a vault token (read from the store and remembered for
    /// [`Vault::known_token`]), or a holder JWS from a trusted identity provider.
    pub fn authenticate(
        &self,
        bearer: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, StoreError> {
        let token = self.token_to_read(bearer);
        let stored = match &token.key {
            Some(key) => self.store.get(Table::TokenDigestToken, key)?,
            None => None,
        };
        self.resolve(token, stored, now)
    }

    /// What resolving `bearer` reads: a vault token's key (none for a holder JWS, which is
    /// verified, not read). A request may put that read in the flight of its own first reads
    /// ([`Vault::read_licence_record`]), then [`Vault::resolve`] what it found.
    pub(super) fn token_to_read<'a>(&self, bearer: &'a str) -> TokenRead<'a> {
        let jws = bearer.matches('.').count() == 2 && !self.idp_keys.is_empty();
        let digest = auth::token_digest(bearer);
        TokenRead {
            bearer,
            key: (!jws).then(|| layout::token(&digest)),
            digest,
            // Read before the store is (so a revocation in between is not remembered as valid).
            generation: self.read_tokens().generation,
        }
    }

    /// The principal of a credential from what its read found.
    pub(super) fn resolve(
        &self,
        token: TokenRead<'_>,
        stored: Option<Vec<u8>>,
        now: DateTime<Utc>,
    ) -> Result<Option<Principal>, StoreError> {
        if token.key.is_none() {
            return Ok(auth::verify_holder_jws(token.bearer, &self.idp_keys, now)
                .ok()
                .map(Principal::Holder));
        }
        let Some(v) = stored else {
            return Ok(None);
        };
        let r: TokenRecord = layout::decode(Table::TokenDigestToken, &v)?;
        let principal = Principal::from_role(r.role, &r.subject).ok();
        // On a store other nodes write, a revocation there must be refused here at the next
        // request: nothing is remembered.
        if let (Some(p), false) = (&principal, self.store.shared()) {
            let mut cache = self.tokens.write().unwrap_or_else(|e| e.into_inner());
            if cache.generation == token.generation && cache.principals.len() < MAX_CACHED_TOKENS {
                cache.principals.insert(token.digest, p.clone());
            }
        }
        Ok(principal)
    }

    /// The principal of a vault token this vault has already resolved, from memory: no I/O, so
    /// the HTTP layer asks this before handing [`Vault::authenticate`] to a blocking task.
    pub fn known_token(&self, bearer: &str) -> Option<Principal> {
        self.read_tokens()
            .principals
            .get(&auth::token_digest(bearer))
            .cloned()
    }

    pub(super) fn read_tokens(&self) -> std::sync::RwLockReadGuard<'_, TokenCache> {
        self.tokens.read().unwrap_or_else(|e| e.into_inner())
    }
}
