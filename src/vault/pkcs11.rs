//! The vault's keys in a hardware security module, through PKCS#11 (SPEC §18): the key is named
//! by an RFC 7512 URI (`pkcs11:token=…;object=…`), the module signs with `CKM_EDDSA`, and the
//! private key never leaves it (sensitive, not extractable). A rotation generates the new key
//! pair inside the token, labelled `<object>-<time>`.
//!
//! **Invariants:** no private key bytes ever enter this process; a module that fails makes
//! signing answer "unavailable" (nothing is signed, nothing written) and the next signature
//! opens a new session; the PIN is never logged.

use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ed25519_dalek::{Signature, VerifyingKey};
use zeroize::Zeroizing;

use super::keyring::KeySource;
use crate::keys::{DidKey, KeyError, Sign};

/// The module used when the URI names none (Debian's SoftHSM2).
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// DER of the Ed25519 curve's OID (1.3.101.112), the `CKA_EC_PARAMS` of its keys.
const ED25519_OID: [u8; 5] = [0x06, 0x03, 0x2B, 0x65, 0x70];

/// A PKCS#11 URI (RFC 7512), as far as the vault needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub token: String,
    pub object: String,
    pub module: String,
    /// `pin-source=file:…` or `pin-value=…` (discouraged: it shows in process lists).
    pub pin_source: Option<String>,
    pub pin_value: Option<Zeroizing<String>>,
}

fn pct_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {s}"))?;
            out.push(h);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s} is not UTF-8"))
}

impl std::str::FromStr for Pkcs11Uri {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("pkcs11:")
            .ok_or("a PKCS#11 URI starts with pkcs11:")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut token, mut object, mut module) = (None, None, None);
        let (mut pin_source, mut pin_value) = (None, None);
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| format!("{attr}: an attribute is name=value"))?;
            let v = pct_decode(v)?;
            match k {
                "token" => token = Some(v),
                "object" => object = Some(v),
                // Other path attributes (manufacturer, serial, type, id …) narrow nothing here.
                _ => {}
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| format!("{attr}: an attribute is name=value"))?;
            let v = pct_decode(v)?;
            match k {
                "module-path" => module = Some(v),
                "pin-source" => pin_source = Some(v),
                "pin-value" => pin_value = Some(Zeroizing::new(v)),
                _ => {}
            }
        }
        Ok(Self {
            token: token.ok_or("the URI names no token= (the token's label)")?,
            object: object.ok_or("the URI names no object= (the key's label)")?,
            module: module.unwrap_or_else(|| DEFAULT_MODULE.to_owned()),
            pin_source,
            pin_value,
        })
    }
}

impl Pkcs11Uri {
    /// The user PIN: `pin-value`, else the file of `pin-source`, else `env_pin`.
    pub fn pin(&self, env_pin: Option<&str>) -> Result<Zeroizing<String>, String> {
        if let Some(v) = &self.pin_value {
            return Ok(v.clone());
        }
        if let Some(src) = &self.pin_source {
            let path = src.strip_prefix("file:").unwrap_or(src);
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("reading the PIN from {path}: {e}"))?,
            );
            return Ok(Zeroizing::new(
                text.trim_end_matches(['\n', '\r']).to_owned(),
            ));
        }
        env_pin
            .map(|p| Zeroizing::new(p.to_owned()))
            .ok_or_else(|| "no PIN: give pin-source=file:… in the URI or the PIN variable".into())
    }

    /// The URI without secrets, for messages and manifests.
    pub fn describe(&self) -> String {
        format!(
            "pkcs11:token={};object={} (module {})",
            self.token, self.object, self.module
        )
    }
}

/// A logged-in session with the token, opened again when the module failed.
struct Token {
    ctx: Pkcs11,
    slot: Slot,
    pin: Zeroizing<String>,
    session: Mutex<Option<Session>>,
}

fn ck(what: &str, e: cryptoki::error::Error) -> String {
    format!("PKCS#11 {what}: {e}")
}

impl Token {
    fn open(uri: &Pkcs11Uri, pin: Zeroizing<String>) -> Result<Self, String> {
        let ctx =
            Pkcs11::new(&uri.module).map_err(|e| ck(&format!("loading {}", uri.module), e))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Another handle of this process initialised the library: share it.
            Ok(())
            | Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::CryptokiAlreadyInitialized,
                _,
            )) => {}
            Err(e) => return Err(ck("initialising", e)),
        }
        let mut slot = None;
        for s in ctx
            .get_slots_with_token()
            .map_err(|e| ck("listing slots", e))?
        {
            let info = ctx
                .get_token_info(s)
                .map_err(|e| ck("reading a token", e))?;
            if info.label().trim_end() == uri.token {
                slot = Some(s);
                break;
            }
        }
        let slot = slot.ok_or_else(|| format!("PKCS#11: no token labelled {}", uri.token))?;
        let token = Self {
            ctx,
            slot,
            pin,
            session: Mutex::new(None),
        };
        token.with_session(|_| Ok(()))?;
        Ok(token)
    }

    fn login(&self) -> Result<Session, String> {
        let s = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(|e| ck("opening a session", e))?;
        match s.login(
            UserType::User,
            Some(&AuthPin::from(self.pin.as_str().to_owned())),
        ) {
            Ok(()) => {}
            // Login is per application: another session of this process is logged in.
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => {}
            Err(e) => return Err(ck("logging in (is the PIN right?)", e)),
        }
        Ok(s)
    }

    /// Runs `f` with the session, logging in first when there is none; a failure drops the
    /// session, so the next call opens a new one.
    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, String>) -> Result<T, String> {
        let mut guard = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.login()?);
        }
        let Some(session) = guard.as_ref() else {
            unreachable!()
        };
        let r = f(session);
        if r.is_err() {
            *guard = None;
        }
        r
    }
}

fn find_keys(s: &Session, object: &str) -> Result<Vec<(String, ObjectHandle)>, String> {
    let template = [
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC_EDWARDS),
    ];
    let mut out = Vec::new();
    for h in s
        .find_objects(&template)
        .map_err(|e| ck("finding keys", e))?
    {
        let label = match s.get_attributes(h, &[AttributeType::Label]) {
            Ok(mut a) => match a.pop() {
                Some(Attribute::Label(l)) => String::from_utf8_lossy(&l).into_owned(),
                _ => continue,
            },
            Err(e) => return Err(ck("reading a label", e)),
        };
        if label == object || label.starts_with(&format!("{object}-")) {
            out.push((label, h));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn public_key(s: &Session, h: ObjectHandle) -> Result<DidKey, String> {
    let point = match s
        .get_attributes(h, &[AttributeType::EcPoint])
        .map_err(|e| ck("reading a public key", e))?
        .pop()
    {
        Some(Attribute::EcPoint(p)) => p,
        _ => return Err("PKCS#11: the public key has no CKA_EC_POINT".into()),
    };
    // An OCTET STRING (04 20 …) on most modules; the raw 32 bytes on some.
    let raw: [u8; 32] = match point.as_slice() {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest.try_into(),
        raw => raw.try_into(),
    }
    .map_err(|_| "PKCS#11: CKA_EC_POINT is not an Ed25519 key".to_owned())?;
    let key = VerifyingKey::from_bytes(&raw).map_err(|e| format!("PKCS#11 public key: {e}"))?;
    Ok(DidKey::from_verifying_key(key))
}

/// One key in the token: signs through the module by its label.
struct HsmKey {
    token: Arc<Token>,
    label: String,
    did: DidKey,
}

impl Sign for HsmKey {
    fn did_key(&self) -> &DidKey {
        &self.did
    }
    fn try_sign(&self, message: &[u8]) -> Result<Signature, KeyError> {
        self.token
            .with_session(|s| {
                let template = [
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::KeyType(KeyType::EC_EDWARDS),
                    Attribute::Label(self.label.as_bytes().to_vec()),
                ];
                let h = s
                    .find_objects(&template)
                    .map_err(|e| ck("finding the key", e))?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        format!("PKCS#11: the token has no private key {}", self.label)
                    })?;
                let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                let sig = s.sign(&mech, h, message).map_err(|e| ck("signing", e))?;
                let bytes: [u8; 64] = sig
                    .try_into()
                    .map_err(|_| "PKCS#11: the signature is not 64 bytes".to_owned())?;
                Ok(Signature::from_bytes(&bytes))
            })
            .map_err(KeyError::Unavailable)
    }
}

/// The vault's keys in a token.
pub struct Pkcs11Keys {
    uri: Pkcs11Uri,
    token: Arc<Token>,
}

impl Pkcs11Keys {
    /// Opens the token named by `uri` and logs in; the key `object` must exist (or `create` it).
    pub fn open(uri: Pkcs11Uri, pin: Zeroizing<String>, create: bool) -> Result<Self, String> {
        let token = Arc::new(Token::open(&uri, pin)?);
        let keys = Self { uri, token };
        if keys.held()?.is_empty() {
            if !create {
                return Err(format!(
                    "PKCS#11: token {} has no Ed25519 key labelled {}",
                    keys.uri.token, keys.uri.object
                ));
            }
            keys.generate(&keys.uri.object)?;
        }
        Ok(keys)
    }

    fn generate(&self, label: &str) -> Result<Arc<dyn Sign>, String> {
        let common = |private: bool| {
            vec![
                Attribute::Token(true),
                Attribute::Private(private),
                Attribute::KeyType(KeyType::EC_EDWARDS),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(label.as_bytes().to_vec()),
            ]
        };
        let mut public = common(false);
        public.extend([
            Attribute::EcParams(ED25519_OID.to_vec()),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
        ]);
        let mut private = common(true);
        private.extend([
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
        let did = self.token.with_session(|s| {
            let (pubh, _) = s
                .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
                .map_err(|e| ck("generating a key", e))?;
            public_key(s, pubh)
        })?;
        Ok(Arc::new(HsmKey {
            token: self.token.clone(),
            label: label.to_owned(),
            did,
        }))
    }
}

impl KeySource for Pkcs11Keys {
    fn held(&self) -> Result<Vec<Arc<dyn Sign>>, String> {
        let found = self.token.with_session(|s| {
            find_keys(s, &self.uri.object)?
                .into_iter()
                .map(|(label, h)| Ok((label, public_key(s, h)?)))
                .collect::<Result<Vec<_>, String>>()
        })?;
        // The key named by the URI first: the one the vault was started with.
        let (mut first, mut rest): (Vec<_>, Vec<_>) = found
            .into_iter()
            .partition(|(label, _)| *label == self.uri.object);
        first.append(&mut rest);
        Ok(first
            .into_iter()
            .map(|(label, did)| {
                Arc::new(HsmKey {
                    token: self.token.clone(),
                    label,
                    did,
                }) as Arc<dyn Sign>
            })
            .collect())
    }
    fn create(&self) -> Result<Arc<dyn Sign>, String> {
        let label = format!(
            "{}-{}",
            self.uri.object,
            chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ")
        );
        self.generate(&label)
    }
    fn describe(&self) -> String {
        self.uri.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_read_per_rfc_7512() {
        let u: Pkcs11Uri =
            "pkcs11:token=vault%20hsm;object=vault-key;type=private?module-path=/opt/m.so&pin-source=file:/run/pin"
                .parse()
                .unwrap();
        assert_eq!(u.token, "vault hsm");
        assert_eq!(u.object, "vault-key");
        assert_eq!(u.module, "/opt/m.so");
        assert_eq!(u.pin_source.as_deref(), Some("file:/run/pin"));
        assert_eq!(
            u.describe(),
            "pkcs11:token=vault hsm;object=vault-key (module /opt/m.so)"
        );
        let d: Pkcs11Uri = "pkcs11:token=t;object=o".parse().unwrap();
        assert_eq!(d.module, DEFAULT_MODULE);
        assert_eq!(d.pin(Some("1234")).unwrap().as_str(), "1234");
        assert!(d.pin(None).is_err());
        assert!("pkcs11:object=o".parse::<Pkcs11Uri>().is_err());
        assert!("file:/x".parse::<Pkcs11Uri>().is_err());
        assert!("pkcs11:token=%zz;object=o".parse::<Pkcs11Uri>().is_err());
    }
}
