//! The envelope of every credential the vault issues (deposit receipt, stamped and minimised
//! copy, consent receipt, revocation notice, status list): one builder, so each kind writes only
//! its subject and what is its own.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::keys::Sign;
use crate::licence::VC_CONTEXT;
use crate::proof::format_time;

/// What a vault-issued credential states besides its subject.
pub struct Envelope<'a> {
    /// The credential's `id`, when it has one (a deposit receipt has none).
    pub id: Option<&'a str>,
    /// Its types after `VerifiableCredential`.
    pub types: &'a [&'a str],
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
}

impl Envelope<'_> {
    /// The unsigned credential, issued by the vault's key, around `subject`.
    pub fn around(&self, signer: &dyn Sign, subject: Value) -> Value {
        let mut types = vec!["VerifiableCredential"];
        types.extend_from_slice(self.types);
        let mut vc = json!({
            "@context": [VC_CONTEXT],
            "type": types,
            "issuer": signer.did_key().as_str(),
            "validFrom": format_time(self.valid_from),
            "credentialSubject": subject,
        });
        if let Some(id) = self.id {
            vc["id"] = json!(id);
        }
        if let Some(until) = self.valid_until {
            vc["validUntil"] = json!(format_time(until));
        }
        vc
    }
}
