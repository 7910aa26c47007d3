//! Export manifests (SPEC §17): the vault's signed list of every file of a holder's export —
//! path, SHA-256 and length — with the export's id, its time, whose data it is and, when the
//! vault keeps transparency logs, the public log's checkpoint at that time.
//!
//! [`check`] judges the manifest alone (a vault-signed document: signature, key, subject);
//! [`check_archive`] judges a whole export: the manifest, and every file against it — none
//! missing, none changed, none added.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::envelope::Envelope;
use super::SigningError;
use super::VaultKeys;
use crate::codes::HolderCode;
use crate::keys::Sign;
use crate::proof::{self, format_time};
use crate::verdict::{Check, CheckName, Reason, Verdict};

/// The `type` that marks an export manifest.
pub const EXPORT_MANIFEST_TYPE: &str = "ExportManifest";

/// The manifest's own path in an export.
pub const MANIFEST_PATH: &str = "manifest.json";

/// One file of an export as its manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub bytes: u64,
}

impl FileEntry {
    pub fn of(path: impl Into<String>, content: &[u8]) -> Self {
        Self {
            path: path.into(),
            sha256: hex::encode(Sha256::digest(content)),
            bytes: content.len() as u64,
        }
    }
}

/// Everything a manifest states.
#[derive(Debug, Clone, Copy)]
pub struct ManifestFacts<'a> {
    /// The export's id (`exp_…`), also the id of the access record that logged it.
    pub export: &'a str,
    pub access_record: &'a str,
    pub holder: &'a HolderCode,
    /// Who made the export for the holder (`111:…`, masked), when not the holder itself.
    pub acted_by: Option<&'a str>,
    pub made_at: DateTime<Utc>,
    pub files: &'a [FileEntry],
    /// The public log's signed checkpoint (C2SP `tlog-checkpoint`) at `made_at`, if the vault
    /// keeps logs.
    pub checkpoint: Option<&'a str>,
}

/// Whether a document claims to be an export manifest.
pub fn is_export_manifest(doc: &Value) -> bool {
    doc.get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t == EXPORT_MANIFEST_TYPE))
}

/// Signs an export manifest.
pub fn issue(signer: &dyn Sign, f: &ManifestFacts<'_>) -> Result<Value, SigningError> {
    let files: Vec<Value> = f
        .files
        .iter()
        .map(|e| json!({"path": e.path, "sha256": e.sha256, "bytes": e.bytes}))
        .collect();
    let mut subject = json!({
        "export": f.export,
        "accessRecord": f.access_record,
        "holder": {"codeType": f.holder.code_type(), "code": f.holder.code()},
        "madeAt": format_time(f.made_at),
        "files": files,
    });
    if let Some(a) = f.acted_by {
        subject["actedBy"] = json!(a);
    }
    if let Some(c) = f.checkpoint {
        subject["checkpoint"] = json!(c);
    }
    // The manifest's id: a `urn:uuid:` (version 8) derived from the export's.
    let mut b = [0u8; 16];
    b.copy_from_slice(&Sha256::digest(f.export.as_bytes())[..16]);
    let id = super::uuid_urn(b, 8);
    let unsigned = Envelope {
        id: Some(&id),
        types: &[EXPORT_MANIFEST_TYPE],
        valid_from: f.made_at,
        valid_until: None,
    }
    .around(signer, subject);
    proof::sign(unsigned, signer, f.made_at).map_err(|e| SigningError::proof("export manifest", e))
}

/// The files a manifest lists, or the first member that is not as it must be.
fn listed(doc: &Value) -> Result<Vec<FileEntry>, &'static str> {
    let files = doc["credentialSubject"]["files"]
        .as_array()
        .ok_or("files")?;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let (Some(path), Some(sha256), Some(bytes)) = (
            f["path"].as_str(),
            f["sha256"].as_str(),
            f["bytes"].as_u64(),
        ) else {
            return Err("files");
        };
        let hex64 = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if path.is_empty() || path == MANIFEST_PATH || !hex64 {
            return Err("files");
        }
        out.push(FileEntry {
            path: path.to_owned(),
            sha256: sha256.to_ascii_lowercase(),
            bytes,
        });
    }
    Ok(out)
}

/// Verifies a manifest on its own: the vault's signature and key (when `trusted` is the vault's
/// key history) and its subject.
pub fn check(doc: &Value, trusted: Option<&VaultKeys>, now: DateTime<Utc>) -> Verdict {
    let mut checks = super::document(doc, trusted, now).checks;
    let s = &doc["credentialSubject"];
    let text = |v: &Value| v.as_str().is_some_and(|t| !t.is_empty());
    let files = listed(doc);
    let members = [
        ("export", text(&s["export"])),
        ("accessRecord", text(&s["accessRecord"])),
        (
            "holder",
            text(&s["holder"]["codeType"]) && text(&s["holder"]["code"]),
        ),
        (
            "madeAt",
            s["madeAt"].as_str().and_then(proof::parse_time).is_some(),
        ),
        ("files", files.is_ok()),
    ];
    checks.push(super::subject_schema(&members, "export manifest", || {
        format!(
            "export {} of {} files",
            s["export"].as_str().unwrap_or_default(),
            files.as_ref().map_or(0, Vec::len)
        )
    }));
    Verdict::new(checks, now)
}

/// Verifies a whole export, given as its files by path: the manifest ([`check`]) and the
/// `integrity` of the rest — every listed file present with its digest and length, nothing
/// unlisted beside them. Without a manifest, or with one that is not JSON, nothing can be judged
/// and the answer is `None`.
pub fn check_archive(
    files: &BTreeMap<String, Vec<u8>>,
    trusted: Option<&VaultKeys>,
    now: DateTime<Utc>,
) -> Option<Verdict> {
    let manifest = crate::jcs::parse(files.get(MANIFEST_PATH)?).ok()?;
    let judged = check(&manifest, trusted, now);
    let integrity = match listed(&manifest) {
        Err(_) => Check::not_checked(CheckName::Integrity, "the manifest lists no files"),
        Ok(list) => integrity(&list, files),
    };
    let mut checks = judged.checks;
    checks.push(integrity);
    Some(Verdict::new(checks, now))
}

fn integrity(list: &[FileEntry], files: &BTreeMap<String, Vec<u8>>) -> Check {
    let fail = |path: &str, what: &str| {
        Check::fail_at(
            CheckName::Integrity,
            Reason::IntegrityFailure,
            path.to_owned(),
            what.to_owned(),
        )
    };
    let mut seen = std::collections::BTreeSet::new();
    for want in list {
        if !seen.insert(want.path.as_str()) {
            return fail(&want.path, "listed twice in the manifest");
        }
        let Some(content) = files.get(&want.path) else {
            return fail(&want.path, "listed in the manifest but not in the export");
        };
        if FileEntry::of(want.path.clone(), content) != *want {
            return fail(&want.path, "its SHA-256 or length is not the manifest's");
        }
    }
    if let Some(extra) = files
        .keys()
        .find(|p| p.as_str() != MANIFEST_PATH && !seen.contains(p.as_str()))
    {
        return fail(extra, "in the export but not in the manifest");
    }
    Check::pass_with(
        CheckName::Integrity,
        format!("{} files match the manifest", list.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Signer;

    fn export(signer: &Signer) -> BTreeMap<String, Vec<u8>> {
        let holder: HolderCode = "111:110101199003072316".parse().expect("holder");
        let mut files = BTreeMap::new();
        files.insert("a.json".to_owned(), b"{\"a\":1}".to_vec());
        files.insert("b/c.json".to_owned(), b"[]".to_vec());
        let list: Vec<FileEntry> = files.iter().map(|(p, c)| FileEntry::of(p, c)).collect();
        let manifest = issue(
            signer,
            &ManifestFacts {
                export: "exp_1",
                access_record: "acc_1",
                holder: &holder,
                acted_by: None,
                made_at: proof::parse_time("2026-12-07T10:00:00Z").expect("time"),
                files: &list,
                checkpoint: None,
            },
        )
        .expect("signed");
        files.insert(
            MANIFEST_PATH.to_owned(),
            serde_json::to_vec(&manifest).expect("json"),
        );
        files
    }

    fn integrity_of(v: &Verdict) -> &Check {
        v.check(CheckName::Integrity).expect("integrity")
    }

    #[test]
    fn a_whole_export_verifies_and_any_change_is_named() {
        let signer = Signer::from_seed(&[7; 32]);
        let keys = VaultKeys::trusting([signer.did_key().clone()]);
        let now = proof::parse_time("2026-12-08T00:00:00Z").expect("time");
        let files = export(&signer);
        let v = check_archive(&files, Some(&keys), now).expect("judged");
        assert!(v.valid, "{v:?}");
        assert_eq!(
            integrity_of(&v).detail.as_deref(),
            Some("2 files match the manifest")
        );

        let mut changed = files.clone();
        changed.insert("a.json".to_owned(), b"{\"a\":2}".to_vec());
        let v = check_archive(&changed, Some(&keys), now).expect("judged");
        assert!(!v.valid);
        assert_eq!(integrity_of(&v).code, Some(Reason::IntegrityFailure));
        assert_eq!(integrity_of(&v).field.as_deref(), Some("a.json"));

        let mut missing = files.clone();
        missing.remove("b/c.json");
        let v = check_archive(&missing, Some(&keys), now).expect("judged");
        assert_eq!(integrity_of(&v).field.as_deref(), Some("b/c.json"));

        let mut added = files.clone();
        added.insert("d.json".to_owned(), b"1".to_vec());
        let v = check_archive(&added, Some(&keys), now).expect("judged");
        assert_eq!(integrity_of(&v).field.as_deref(), Some("d.json"));

        let other = Signer::from_seed(&[8; 32]);
        let v = check_archive(&export(&other), Some(&keys), now).expect("judged");
        assert!(!v.valid);
        assert_eq!(
            v.check(CheckName::IssuerKey).and_then(|c| c.ok),
            Some(false)
        );
        assert!(check_archive(&BTreeMap::new(), Some(&keys), now).is_none());
    }
}
