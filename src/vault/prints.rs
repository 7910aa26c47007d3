//! Printable copies (SPEC §16): the prints the vault keeps — every stamped or minimised copy as
//! it was given (written with the pull that gave it) and every holder's print of a licence —,
//! their sealed PDFs, and the checks of a PDF and of a print named by its QR code.
//!
//! **Invariants:** a PDF is made only of a print the asker owns (the requester a copy was given
//! to, the holder of the licence); any other id is answered as an absent one. A PDF's check
//! never trusts the PDF: the seal is checked against the vault's rendering CA, the print it names
//! is read from the store, its document is verified afresh, and the page's text is compared with
//! the text the vault renders from that document.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::layout::{self, StoredPrint};
use super::{Extracted, Vault, VaultError};
use crate::auth::Principal;
use crate::codes::LicenceId;
use crate::print::font::Font;
use crate::print::seal::{self, RenderKeys, SealError};
use crate::print::{self, pdf, PrintFacts};
use crate::store::{Change, Table};
use crate::verdict::{Check, CheckName, Reason, Verdict};

/// What the vault prints with: the CJK font and the rendering keys.
pub struct Printing {
    pub font: Font,
    pub keys: RenderKeys,
    /// Where the rendering keys are kept (backups copy them); none for keys made in memory.
    pub dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Printing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printing")
            .field("font", &self.font.path())
            .finish_non_exhaustive()
    }
}

/// Where a stamped copy embeds its licence.
const EMBEDDED: [&str; 2] = ["credentialSubject", "document"];

/// The files the rendering keys are kept in, in their directory.
pub const RENDER_KEY_FILES: [&str; 4] = ["ca.key", "ca.crt", "render.key", "render.crt"];

impl Printing {
    /// The font (`font`, else the first of Debian's CJK fonts installed) and the rendering keys
    /// in `dir`, made there on first use for a vault called `name` (PEM files; the keys mode
    /// 0600). A node that finds the files made by another uses them.
    pub fn open(
        font: Option<&std::path::Path>,
        dir: &std::path::Path,
        name: &str,
    ) -> Result<Self, String> {
        let font = Font::find(font)?;
        let [ca_key, ca_crt, key, crt] = RENDER_KEY_FILES.map(|f| dir.join(f));
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))
        };
        // Written key first, certificate last: a directory with `render.crt` is complete.
        let write = |pairs: [(&std::path::Path, &str); 2]| -> Result<(), String> {
            for (path, text) in pairs {
                match super::keyring::write_secret_line(path, text.trim_end()) {
                    Ok(()) => {}
                    // Another node is making them at the same moment: use its.
                    Err(e) if path.exists() => {
                        for _ in 0..50 {
                            if crt.exists() {
                                return Ok(());
                            }
                            std::thread::sleep(std::time::Duration::from_millis(100));
                        }
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
        if !ca_crt.exists() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            let (_, pems) = RenderKeys::generate(name, Utc::now())?;
            write([(&ca_key, &pems.ca_key), (&ca_crt, &pems.ca_cert)])?;
            write([(&key, &pems.key), (&crt, &pems.cert)])?;
            tracing::info!(dir = %dir.display(), "made the rendering CA and key of printable copies");
        } else if !crt.exists() {
            // A renewal: the CA issues a new rendering key.
            let (_, k, c) = RenderKeys::renew(&read(&ca_key)?, &read(&ca_crt)?, name, Utc::now())?;
            write([(&key, &k), (&crt, &c)])?;
            tracing::info!(dir = %dir.display(), "the rendering CA issued a new rendering key");
        }
        let keys = RenderKeys::from_pems(&read(&ca_crt)?, &read(&key)?, &read(&crt)?)?;
        Ok(Self {
            font,
            keys,
            dir: Some(dir.to_owned()),
        })
    }
}

/// The owner of a requester's copy, as kept.
fn requester_owner(requester: &str) -> String {
    format!("requester:{requester}")
}

/// What a print's QR code leads to: the page as the vault renders it from the stored document,
/// and that document's verdict now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrintView {
    pub print: String,
    /// `licence`, `stamped` or `minimised`.
    pub kind: String,
    pub title: String,
    pub subtitle: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<String>,
    /// Label and value, in the page's order.
    pub rows: Vec<[String; 2]>,
    pub footer: Vec<[String; 2]>,
    /// The document the page renders, verified now.
    pub verdict: Verdict,
}

/// The status a verdict gives a licence: `active`, or the code of its failed status check.
pub(super) fn status_of(verdict: &Verdict) -> String {
    match verdict.checks.iter().find(|c| c.check == CheckName::Status) {
        Some(c) if c.ok == Some(false) => c.code.map_or("unknown", Reason::as_str).to_owned(),
        Some(c) if c.ok == Some(true) => "active".to_owned(),
        _ => "not_checked".to_owned(),
    }
}

impl Vault {
    fn printing(&self) -> Result<&Printing, VaultError> {
        self.printing.as_deref().ok_or_else(|| {
            VaultError::new(
                Reason::Unavailable,
                "",
                "this vault prints no copies: no CJK font or rendering key is configured",
            )
        })
    }

    /// The files of the rendering keys, for a backup to keep beside the vault key.
    pub(super) fn render_key_files(&self) -> Vec<std::path::PathBuf> {
        self.printing
            .as_ref()
            .and_then(|p| p.dir.as_ref())
            .map(|d| RENDER_KEY_FILES.iter().map(|f| d.join(f)).collect())
            .unwrap_or_default()
    }

    /// The rendering CA the vault's seals chain to (PEM), when it prints.
    pub fn rendering_ca(&self) -> Option<String> {
        self.printing.as_ref().map(|p| p.keys.ca_pem())
    }

    /// Keeps the copy `id` (canonical `copy`) given to `requester`, in the pull's `change`; a full
    /// stamped copy without the licence it embeds, which the vault holds already.
    pub(super) fn keep_copy(
        change: &mut Change,
        id: &str,
        requester: &str,
        copy: &[u8],
        facts: PrintFacts,
    ) {
        let elided = crate::jcs::splice(copy, &EMBEDDED, b"null");
        let stored = StoredPrint {
            owner: requester_owner(requester),
            document: String::from_utf8_lossy(elided.as_deref().unwrap_or(copy)).into_owned(),
            facts,
            elided: elided.is_some(),
        };
        change.put(Table::Print, layout::print(id), layout::encode(&stored));
    }

    /// A kept print's signed document, whole (an elided copy gets its licence's stored bytes
    /// back), parsed as `POST /v1/verify` parses: read once for its page and its verdict.
    fn document_of(&self, stored: &StoredPrint) -> Result<Value, VaultError> {
        let corrupt = |e: &str| VaultError::Store(layout::corrupt(Table::Print, e));
        let parse = |bytes: &[u8]| crate::jcs::parse(bytes).map_err(|e| corrupt(&e.to_string()));
        let doc = parse(stored.document.as_bytes())?;
        if !stored.elided {
            return Ok(doc);
        }
        let id = doc
            .pointer("/credentialSubject/licence")
            .and_then(Value::as_str)
            .and_then(|u| LicenceId::from_urn_or_bare(u).ok())
            .ok_or_else(|| corrupt("a kept copy names no licence"))?;
        let licence = self
            .store
            .get(Table::LicenceDocument, layout::licence(&id))?
            .ok_or_else(|| corrupt("a kept copy's licence is not stored"))?;
        let whole = crate::jcs::splice(stored.document.as_bytes(), &EMBEDDED, &licence)
            .ok_or_else(|| corrupt("a kept copy has no document slot"))?;
        parse(&whole)
    }

    /// What a copy's page shows besides the copy, at the pull that gives it.
    pub(super) fn copy_facts(
        e: &Extracted,
        requester_name: &str,
        matter_name: &str,
        vault_key: &str,
        now: DateTime<Utc>,
    ) -> PrintFacts {
        let (type_name, issuer_name) = e
            .licence
            .as_ref()
            .map(|l| (l.type_name.clone(), l.issuer_name.clone()))
            .unwrap_or_default();
        PrintFacts {
            type_name,
            issuer_name,
            requester_name: Some(requester_name.to_owned()),
            matter_name: Some(matter_name.to_owned()),
            status: status_of(&e.verdict),
            valid: e.verdict.valid,
            at: now,
            vault_key: vault_key.to_owned(),
        }
    }

    fn stored_print(&self, id: &str) -> Result<Option<StoredPrint>, VaultError> {
        self.store
            .get(Table::Print, &layout::print(id))?
            .map(|v| layout::decode(Table::Print, &v))
            .transpose()
            .map_err(Into::into)
    }

    /// The page of a stored print, whose whole document is `doc`.
    fn page_of(
        &self,
        id: &str,
        stored: &StoredPrint,
        doc: &Value,
    ) -> Result<print::Page, VaultError> {
        print::page(id, doc, &stored.facts, &self.public_url)
            .map_err(|e| VaultError::Store(layout::corrupt(Table::Print, e)))
    }

    /// The sealed PDF of a stored print.
    fn render(
        &self,
        id: &str,
        stored: &StoredPrint,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, VaultError> {
        let printing = self.printing()?;
        let page = self.page_of(id, stored, &self.document_of(stored)?)?;
        let unsigned = pdf::render(&page, &printing.font, now)
            .map_err(|e| VaultError::new(Reason::Unprintable, "", e.to_string()))?;
        unsigned
            .sign_with(|digest| printing.keys.sign(digest))
            .map_err(|e| {
                tracing::error!(error = %e, "a print could not be sealed");
                VaultError::new(Reason::Internal, "", "the print could not be sealed")
            })
    }

    /// The sealed PDF of copy `id` for `requester`; `None` when it is not a copy given to it.
    pub fn copy_pdf(
        &self,
        requester: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u8>>, VaultError> {
        match self.stored_print(id)? {
            Some(p) if p.owner == requester_owner(requester) => self.render(id, &p, now).map(Some),
            _ => Ok(None),
        }
    }

    /// The sealed PDF of any kept print (the operator's `render`); `None` for an unknown id.
    pub fn print_pdf(&self, id: &str, now: DateTime<Utc>) -> Result<Option<Vec<u8>>, VaultError> {
        self.stored_print(id)?
            .map(|p| self.render(id, &p, now))
            .transpose()
    }

    /// A new print of licence `id` for its holder (or a delegate), kept so that its QR code can
    /// be checked, and its sealed PDF; `None` when the principal may not read the licence.
    pub fn licence_pdf(
        &self,
        principal: &Principal,
        id: &LicenceId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u8>>, VaultError> {
        let Principal::Holder(holder) = principal else {
            return Ok(None);
        };
        let Some(e) = self.read_licence(principal, id, now)? else {
            return Ok(None);
        };
        let (Some(doc), Some(lic)) = (&e.document, &e.licence) else {
            return Err(VaultError::new(
                Reason::IntegrityFailure,
                "",
                "the stored licence is damaged and is not printed",
            ));
        };
        let print_id = super::ids::uuid_urn();
        let stored = StoredPrint {
            owner: format!("holder:{}", hex::encode(self.holder_digest(holder))),
            document: String::from_utf8_lossy(doc.as_bytes()).into_owned(),
            facts: PrintFacts {
                type_name: lic.type_name.clone(),
                issuer_name: lic.issuer_name.clone(),
                requester_name: None,
                matter_name: None,
                status: status_of(&e.verdict),
                valid: e.verdict.valid,
                at: now,
                vault_key: self.did_key().to_string(),
            },
            elided: false,
        };
        // Rendered before it is kept: a licence the font cannot print leaves nothing behind.
        let pdf = self.render(&print_id, &stored, now)?;
        let mut change = Change::default();
        change.put(
            Table::Print,
            layout::print(&print_id),
            layout::encode(&stored),
        );
        self.store.commit(change)?;
        Ok(Some(pdf))
    }

    /// What the QR code of print `id` shows: the page from the stored document and its verdict
    /// now; `None` for an id the vault never printed.
    pub fn print_view(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PrintView>, VaultError> {
        let Some(stored) = self.stored_print(id)? else {
            return Ok(None);
        };
        let doc = self.document_of(&stored)?;
        let page = self.page_of(id, &stored, &doc)?;
        let kind = match print::kind_of(&doc) {
            Some(print::Kind::Licence) => "licence",
            Some(print::Kind::Stamped) => "stamped",
            _ => "minimised",
        };
        let pairs = |v: Vec<(String, String)>| v.into_iter().map(|(a, b)| [a, b]).collect();
        Ok(Some(PrintView {
            print: id.to_owned(),
            kind: kind.to_owned(),
            title: page.title,
            subtitle: page.subtitle,
            band: page.band,
            rows: pairs(page.rows),
            footer: pairs(page.footer),
            verdict: self.verify_presented(&doc, now)?,
        }))
    }

    /// The verdict of a PDF presented as a print: its seal (`seal`), whether its page shows
    /// exactly what the print it names says (`printed`), then the checks of that print's
    /// document verified now.
    pub fn verify_pdf(&self, bytes: &[u8], now: DateTime<Utc>) -> Result<Verdict, VaultError> {
        let read = match pdf::read(bytes) {
            Ok(r) => r,
            Err(pdf::NotSealed(m)) => {
                return Ok(Verdict::new(
                    vec![
                        Check::fail(CheckName::Seal, Reason::NotSealed, m),
                        Check::not_checked(CheckName::Printed, "no seal to read a print from"),
                    ],
                    now,
                ))
            }
        };
        let cas: Vec<_> = self.printing.iter().map(|p| p.keys.ca().clone()).collect();
        let mut checks = vec![match seal::check(&read.cms, &read.digest, &cas, now) {
            Ok(_) if !read.whole => Check::fail(
                CheckName::Seal,
                Reason::PdfModified,
                "the seal holds for the bytes it covers, but more was appended after it",
            ),
            Ok(s) => Check::pass_with(CheckName::Seal, format!("sealed by {}", s.subject)),
            Err(SealError::Invalid(m)) => Check::fail(CheckName::Seal, Reason::SealInvalid, m),
            Err(SealError::Untrusted(m)) => Check::fail(CheckName::Seal, Reason::SealUntrusted, m),
        }];
        let stored = match &read.print_id {
            Some(id) => self.stored_print(id)?.map(|s| (id.clone(), s)),
            None => None,
        };
        let Some((id, stored)) = stored else {
            checks.push(Check::fail(
                CheckName::Printed,
                Reason::UnknownPrint,
                "the PDF names no print this vault made",
            ));
            return Ok(Verdict::new(checks, now));
        };
        let kept = self.document_of(&stored)?;
        let expected = self.page_of(&id, &stored, &kept)?.text();
        checks.push(match &read.text {
            Some(t) if *t == expected => Check::pass_with(
                CheckName::Printed,
                format!("the page shows print {id} exactly"),
            ),
            _ => Check::fail(
                CheckName::Printed,
                Reason::PrintMismatch,
                format!("the page does not show exactly what print {id} says"),
            ),
        });
        let doc = self.verify_presented(&kept, now)?;
        checks.extend(doc.checks);
        let mut v = Verdict::new(checks, now);
        v.disclosed = doc.disclosed;
        v.disputed = doc.disputed;
        Ok(v)
    }
}

/// The printing of vaults opened by tests and benchmarks ([`Vault::open`]): the system's CJK font
/// and rendering keys made once per process; none when no font is installed.
pub fn printing_for_tests(name: &str) -> Option<Arc<Printing>> {
    static ONCE: std::sync::OnceLock<Option<Arc<Printing>>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let font = Font::find(None).ok()?;
        let (keys, _) = RenderKeys::generate(name, Utc::now()).ok()?;
        Some(Arc::new(Printing {
            font,
            keys,
            dir: None,
        }))
    })
    .clone()
}
