//! The pages of SPEC §12 (and the supervisor's, SPEC §17) as realms: each has its own path, its own sessions
//! ([`super::sessions`]) and the one role whose tokens sign in there ([`super::pages`]).

use crate::auth::Role;

/// The pages, each with its own session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realm {
    Me,
    Verify,
    Agency,
    Supervise,
}

impl Realm {
    pub const ALL: [Realm; 4] = [Realm::Me, Realm::Verify, Realm::Agency, Realm::Supervise];

    pub fn path(self) -> &'static str {
        match self {
            Realm::Me => "/me",
            Realm::Verify => "/verify",
            Realm::Agency => "/agency",
            Realm::Supervise => "/supervise",
        }
    }

    /// Whose tokens sign in here: holders at `/me`, approval systems (the clerk redeeming a
    /// presentation code) at `/verify`, issuing agencies at `/agency`, the supervisor at
    /// `/supervise`.
    pub fn role(self) -> Role {
        match self {
            Realm::Me => Role::Holder,
            Realm::Verify => Role::Requester,
            Realm::Agency => Role::Issuer,
            Realm::Supervise => Role::Supervisor,
        }
    }

    /// The page's HTML, compiled in from `web/`.
    pub(super) fn html(self) -> &'static [u8] {
        match self {
            Realm::Me => include_bytes!("../../web/me.html"),
            Realm::Verify => include_bytes!("../../web/verify.html"),
            Realm::Agency => include_bytes!("../../web/agency.html"),
            Realm::Supervise => include_bytes!("../../web/supervise.html"),
        }
    }
}
