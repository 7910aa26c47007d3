//! The seal of a print: a PAdES baseline B-B signature (CMS SignedData, detached, SHA-256,
//! ECDSA P-256) by the vault's rendering key, whose X.509 certificate is issued by the vault's
//! rendering CA; and its check.
//!
//! PDF readers do not take Ed25519, so the rendering key is not the vault key: the CA is what the
//! vault publishes (`GET /v1/vault`, `renderingCa`) for readers to trust.

use std::str::FromStr;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::x509::attr::Attribute;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::{DecodePem, EncodePem};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ECDSA_WITH_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// How long the rendering CA and the rendering key's certificate are valid.
pub const CA_YEARS: i64 = 20;
pub const KEY_YEARS: i64 = 5;

/// The rendering key, its certificate and the CA that issued it.
pub struct RenderKeys {
    key: SigningKey,
    cert: Certificate,
    ca: Certificate,
}

/// The PEM texts the rendering keys are kept as: the CA's key and certificate, the rendering
/// key and its certificate.
pub struct Pems {
    pub ca_key: String,
    pub ca_cert: String,
    pub key: String,
    pub cert: String,
}

/// What of a vault's name may go into a certificate's common name.
fn cert_name(vault: &str) -> String {
    vault
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-.:".contains(*c))
        .collect()
}

fn pem_key(k: &SigningKey) -> Result<String, String> {
    k.to_pkcs8_pem(LineEnding::LF)
        .map(|p| p.to_string())
        .map_err(|e| e.to_string())
}

fn pem_cert(c: &Certificate) -> Result<String, String> {
    c.to_pem(LineEnding::LF).map_err(|e| e.to_string())
}

fn x509_time(t: DateTime<Utc>) -> Result<Time, String> {
    let secs = u64::try_from(t.timestamp()).map_err(|_| "time before 1970".to_owned())?;
    UtcTime::from_unix_duration(StdDuration::from_secs(secs))
        .map(Time::UtcTime)
        .map_err(|e| e.to_string())
}

fn serial() -> Result<SerialNumber, String> {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::new(&bytes).map_err(|e| e.to_string())
}

fn spki(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, String> {
    SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(|e| e.to_string())
}

fn certificate(
    profile: Profile,
    subject: &str,
    years: i64,
    subject_key: &SigningKey,
    issuer_key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<Certificate, String> {
    let validity = Validity {
        not_before: x509_time(now - Duration::minutes(5))?,
        not_after: x509_time(now + Duration::days(365 * years))?,
    };
    let subject = Name::from_str(subject).map_err(|e| e.to_string())?;
    CertificateBuilder::new(
        profile,
        serial()?,
        validity,
        subject,
        spki(subject_key)?,
        issuer_key,
    )
    .map_err(|e| e.to_string())?
    .build::<DerSignature>()
    .map_err(|e| e.to_string())
}

impl RenderKeys {
    /// A new CA for `vault` (its name in certificates) and a rendering key it certifies.
    pub fn generate(vault: &str, now: DateTime<Utc>) -> Result<(Self, Pems), String> {
        let vault = cert_name(vault);
        let ca_key = SigningKey::random(&mut rand::rngs::OsRng);
        let ca_name = format!("CN=licence-vault rendering CA {vault},O=licence-vault");
        let ca = certificate(Profile::Root, &ca_name, CA_YEARS, &ca_key, &ca_key, now)?;
        let (keys, key, cert) = Self::issue_under(&ca_key, ca, &vault, now)?;
        let pems = Pems {
            ca_key: pem_key(&ca_key)?,
            ca_cert: pem_cert(&keys.ca)?,
            key,
            cert,
        };
        Ok((keys, pems))
    }

    /// A new rendering key certified by the CA kept as `ca_key` and `ca_cert` (a renewal: the
    /// seals it makes chain to the same CA); the new key's and certificate's PEM.
    pub fn renew(
        ca_key: &str,
        ca_cert: &str,
        vault: &str,
        now: DateTime<Utc>,
    ) -> Result<(Self, String, String), String> {
        let ca_key =
            SigningKey::from_pkcs8_pem(ca_key).map_err(|e| format!("rendering CA key: {e}"))?;
        let ca = Certificate::from_pem(ca_cert).map_err(|e| format!("rendering CA: {e}"))?;
        if ca.tbs_certificate.subject_public_key_info != spki(&ca_key)? {
            return Err("the rendering CA's certificate is not its key's".into());
        }
        Self::issue_under(&ca_key, ca, &cert_name(vault), now)
    }

    fn issue_under(
        ca_key: &SigningKey,
        ca: Certificate,
        vault: &str,
        now: DateTime<Utc>,
    ) -> Result<(Self, String, String), String> {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let cert = certificate(
            Profile::Leaf {
                issuer: ca.tbs_certificate.subject.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            &format!("CN=licence-vault rendering key {vault},O=licence-vault"),
            KEY_YEARS,
            &key,
            ca_key,
            now,
        )?;
        let (key_pem, cert_pem) = (pem_key(&key)?, pem_cert(&cert)?);
        Ok((Self { key, cert, ca }, key_pem, cert_pem))
    }

    /// The keys kept as `pems` (the CA's key is not needed to seal).
    pub fn from_pems(ca_cert: &str, key: &str, cert: &str) -> Result<Self, String> {
        let key = SigningKey::from_pkcs8_pem(key).map_err(|e| format!("rendering key: {e}"))?;
        let cert =
            Certificate::from_pem(cert).map_err(|e| format!("rendering certificate: {e}"))?;
        let ca = Certificate::from_pem(ca_cert).map_err(|e| format!("rendering CA: {e}"))?;
        if cert.tbs_certificate.subject_public_key_info != spki(&key)? {
            return Err("the rendering certificate is not the rendering key's".into());
        }
        check_issued(&cert, &ca).map_err(|e| format!("rendering certificate: {}", e.message()))?;
        Ok(Self { key, cert, ca })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.to_pem(LineEnding::LF).unwrap_or_default()
    }

    pub fn ca(&self) -> &Certificate {
        &self.ca
    }

    /// The CMS SignedData (DER) over content whose SHA-256 is `digest`: signed attributes
    /// content-type, message-digest and ESS signing-certificate-v2 (PAdES B-B; the signing time is
    /// the PDF's `/M`), the rendering certificate and the CA's.
    pub fn sign(&self, digest: &[u8; 32]) -> Result<Vec<u8>, String> {
        fn e(e: impl std::fmt::Display) -> String {
            e.to_string()
        }
        let eci = EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        };
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: self.cert.tbs_certificate.issuer.clone(),
            serial_number: self.cert.tbs_certificate.serial_number.clone(),
        });
        let sha256 = sha256();
        let mut signer = SignerInfoBuilder::new(&self.key, sid, sha256.clone(), &eci, Some(digest))
            .map_err(e)?;
        signer
            .add_signed_attribute(signing_certificate_v2(&self.cert)?)
            .map_err(e)?;
        let mut data = SignedDataBuilder::new(&eci);
        data.add_digest_algorithm(sha256)
            .map_err(e)?
            .add_certificate(CertificateChoices::Certificate(self.cert.clone()))
            .map_err(e)?
            .add_certificate(CertificateChoices::Certificate(self.ca.clone()))
            .map_err(e)?
            .add_signer_info::<SigningKey, DerSignature>(signer)
            .map_err(e)?;
        data.build().map_err(e)?.to_der().map_err(e)
    }
}

/// ESS `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 }` with one
/// `ESSCertIDv2 { certHash }` (SHA-256, the default algorithm, left out).
fn signing_certificate_v2(cert: &Certificate) -> Result<Attribute, String> {
    let hash = Sha256::digest(cert.to_der().map_err(|e| e.to_string())?);
    let mut der = vec![0x30, 0x26, 0x30, 0x24, 0x30, 0x22, 0x04, 0x20];
    der.extend_from_slice(&hash);
    let value = Any::from_der(&der).map_err(|e| e.to_string())?;
    let mut values = SetOfVec::new();
    values.insert(value).map_err(|e| e.to_string())?;
    Ok(Attribute {
        oid: ID_SIGNING_CERTIFICATE_V2,
        values,
    })
}

fn sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    }
}

/// Why a seal does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// The signature or its structure is wrong, or it does not cover these bytes.
    Invalid(String),
    /// The signature holds but its certificate is not one of the trusted CAs'.
    Untrusted(String),
}

impl SealError {
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m) | Self::Untrusted(m) => m,
        }
    }
}

fn verifying_key(cert: &Certificate) -> Result<VerifyingKey, SealError> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
        .map_err(|_| SealError::Invalid("the certificate's key is not a P-256 key".into()))
}

/// Whether `ca` issued `cert` (ECDSA P-256 with SHA-256).
fn check_issued(cert: &Certificate, ca: &Certificate) -> Result<(), SealError> {
    let untrusted = |m: &str| SealError::Untrusted(m.to_owned());
    if cert.tbs_certificate.issuer != ca.tbs_certificate.subject {
        return Err(untrusted(
            "the certificate was not issued by the vault's rendering CA",
        ));
    }
    if cert.signature_algorithm.oid != ECDSA_WITH_SHA_256 {
        return Err(untrusted(
            "the certificate is not signed with ECDSA and SHA-256",
        ));
    }
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|_| untrusted("the certificate does not encode"))?;
    let sig = DerSignature::from_bytes(cert.signature.raw_bytes())
        .map_err(|_| untrusted("the certificate's signature is malformed"))?;
    verifying_key(ca)?.verify(&tbs, &sig).map_err(|_| {
        untrusted("the certificate's signature does not verify with the vault's rendering CA")
    })
}

/// Who sealed a print, as its certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealer {
    pub subject: String,
    pub serial: String,
}

/// Checks `cms` (a CMS ContentInfo, DER) as the seal of content whose SHA-256 is `digest`: one
/// signer, SHA-256, signed attributes whose message digest is `digest`, a certificate issued by
/// one of `cas` and valid at `at`, and an ECDSA P-256 signature over the signed attributes.
pub fn check(
    cms: &[u8],
    digest: &[u8; 32],
    cas: &[Certificate],
    at: DateTime<Utc>,
) -> Result<Sealer, SealError> {
    let invalid = |m: &str| SealError::Invalid(m.to_owned());
    let ci = ContentInfo::from_der(cms).map_err(|_| invalid("the signature is not CMS"))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(invalid("the signature is not CMS SignedData"));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|_| invalid("the signature is not CMS SignedData"))?;
    let [si] = sd.signer_infos.0.as_slice() else {
        return Err(invalid("the signature must have exactly one signer"));
    };
    if si.digest_alg.oid != ID_SHA_256 {
        return Err(invalid("the signature's digest is not SHA-256"));
    }
    if si.signature_algorithm.oid != ECDSA_WITH_SHA_256 {
        return Err(invalid("the signature is not ECDSA with SHA-256"));
    }
    let SignerIdentifier::IssuerAndSerialNumber(ias) = &si.sid else {
        return Err(invalid(
            "the signer is not named by issuer and serial number",
        ));
    };
    let cert = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .find_map(|c| match c {
            CertificateChoices::Certificate(c)
                if c.tbs_certificate.issuer == ias.issuer
                    && c.tbs_certificate.serial_number == ias.serial_number =>
            {
                Some(c)
            }
            _ => None,
        })
        .ok_or_else(|| invalid("the signature does not carry its signer's certificate"))?;
    // What the signature does not cover must be what the vault writes, so that no byte of a
    // sealed file can change and the seal still hold: one digest algorithm, detached data, no
    // revocation lists and no unsigned attributes (the certificates are checked below).
    if sd.digest_algorithms.as_slice() != [sha256()]
        || sd.encap_content_info.econtent_type != ID_DATA
        || sd.encap_content_info.econtent.is_some()
        || sd.crls.is_some()
        || si.unsigned_attrs.is_some()
    {
        return Err(invalid(
            "the signature carries what the vault's seal does not",
        ));
    }
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| invalid("the signature has no signed attributes"))?;
    let mut digests = attrs.iter().filter(|a| a.oid == ID_MESSAGE_DIGEST);
    let md = match (digests.next(), digests.next()) {
        (Some(a), None) if a.values.len() == 1 => a
            .values
            .get(0)
            .and_then(|v| v.decode_as::<OctetString>().ok()),
        _ => None,
    }
    .ok_or_else(|| invalid("the signature must carry one message digest"))?;
    if md.as_bytes() != digest {
        return Err(invalid(
            "the signed bytes were changed: their SHA-256 is not the one signed",
        ));
    }
    let signed = attrs
        .to_der()
        .map_err(|_| invalid("the signed attributes do not encode"))?;
    let sig = DerSignature::from_bytes(si.signature.as_bytes())
        .map_err(|_| invalid("the signature value is malformed"))?;
    verifying_key(cert)?
        .verify(&signed, &sig)
        .map_err(|_| invalid("the signature does not verify"))?;
    let mut last = SealError::Untrusted("no rendering CA is trusted".into());
    for ca in cas {
        match check_issued(cert, ca) {
            Ok(()) => {
                let others = sd.certificates.iter().flat_map(|set| set.0.iter());
                if others
                    .filter(|c| !matches!(c, CertificateChoices::Certificate(c) if c == cert))
                    .any(|c| !matches!(c, CertificateChoices::Certificate(c) if c == ca))
                {
                    return Err(SealError::Invalid(
                        "the signature carries a certificate that is neither its signer's nor the rendering CA's".into(),
                    ));
                }
                let v = &cert.tbs_certificate.validity;
                let t = at.timestamp();
                let secs = |t: &Time| t.to_unix_duration().as_secs() as i64;
                if t < secs(&v.not_before) || t > secs(&v.not_after) {
                    return Err(SealError::Untrusted(
                        "the rendering certificate was not valid when the seal was checked".into(),
                    ));
                }
                return Ok(Sealer {
                    subject: cert.tbs_certificate.subject.to_string(),
                    serial: hex::encode(cert.tbs_certificate.serial_number.as_bytes()),
                });
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_carrying_another_ca_does_not_hold() {
        let now = Utc::now();
        let (ours, _) = RenderKeys::generate("test.example", now).unwrap();
        let (other, _) = RenderKeys::generate("test.example", now).unwrap();
        let digest: [u8; 32] = Sha256::digest(b"page").into();
        let mixed = RenderKeys {
            key: ours.key.clone(),
            cert: ours.cert.clone(),
            ca: other.ca.clone(),
        };
        let cms = mixed.sign(&digest).unwrap();
        assert_eq!(
            check(&cms, &digest, std::slice::from_ref(&ours.ca), now),
            Err(SealError::Invalid(
                "the signature carries a certificate that is neither its signer's nor the rendering CA's".into()
            ))
        );
        assert!(check(
            &ours.sign(&digest).unwrap(),
            &digest,
            std::slice::from_ref(&ours.ca),
            now
        )
        .is_ok());
    }

    #[test]
    fn a_seal_verifies_under_its_ca_and_nothing_else() {
        let now = Utc::now();
        let (keys, pems) = RenderKeys::generate("test.example", now).unwrap();
        let again = RenderKeys::from_pems(&pems.ca_cert, &pems.key, &pems.cert).unwrap();
        let digest: [u8; 32] = Sha256::digest(b"page").into();
        let cms = again.sign(&digest).unwrap();
        let sealer = check(&cms, &digest, std::slice::from_ref(&keys.ca), now).unwrap();
        assert!(sealer.subject.contains("rendering key test.example"));

        let other: [u8; 32] = Sha256::digest(b"another page").into();
        assert_eq!(
            check(&cms, &other, std::slice::from_ref(&keys.ca), now),
            Err(SealError::Invalid(
                "the signed bytes were changed: their SHA-256 is not the one signed".into()
            ))
        );
        let (stranger, _) = RenderKeys::generate("stranger", now).unwrap();
        assert_eq!(
            check(&cms, &digest, std::slice::from_ref(&stranger.ca), now),
            Err(SealError::Untrusted(
                "the certificate was not issued by the vault's rendering CA".into()
            ))
        );
        assert!(matches!(
            check(
                &cms,
                &digest,
                std::slice::from_ref(&keys.ca),
                now + Duration::days(366 * KEY_YEARS)
            ),
            Err(SealError::Untrusted(_))
        ));
        assert_eq!(
            check(b"\x30\x03\x02\x01\x00", &digest, &[keys.ca], now),
            Err(SealError::Invalid("the signature is not CMS".into()))
        );
    }

    #[test]
    fn a_renewed_key_seals_under_the_same_ca() {
        let now = Utc::now();
        let (old, pems) = RenderKeys::generate("v", now).unwrap();
        let (new, key, cert) = RenderKeys::renew(&pems.ca_key, &pems.ca_cert, "v", now).unwrap();
        assert_ne!(key, pems.key);
        let again = RenderKeys::from_pems(&pems.ca_cert, &key, &cert).unwrap();
        let digest: [u8; 32] = Sha256::digest(b"page").into();
        for keys in [&old, &new, &again] {
            let cms = keys.sign(&digest).unwrap();
            check(&cms, &digest, std::slice::from_ref(&old.ca), now).unwrap();
        }
        let (_, other) = RenderKeys::generate("w", now).unwrap();
        assert_eq!(
            RenderKeys::renew(&other.ca_key, &pems.ca_cert, "v", now)
                .err()
                .as_deref(),
            Some("the rendering CA's certificate is not its key's")
        );
    }

    #[test]
    fn pems_of_another_key_are_refused() {
        let now = Utc::now();
        let (_, a) = RenderKeys::generate("a", now).unwrap();
        let (_, b) = RenderKeys::generate("b", now).unwrap();
        assert_eq!(
            RenderKeys::from_pems(&a.ca_cert, &b.key, &a.cert)
                .err()
                .as_deref(),
            Some("the rendering certificate is not the rendering key's")
        );
    }
}
