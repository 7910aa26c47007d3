//! Printable copies (SPEC §16): one A4 page made from a signed licence, stamped copy or minimised
//! copy — which stays the authoritative document — sealed with a PAdES signature, and the check
//! of such a page.
//!
//! [`page`] decides what a page says, from the signed document and the [`PrintFacts`] recorded
//! when the copy was made (names from the registries, the status and verdict of that moment);
//! `pdf` lays it out and reads it back; `seal` signs and checks. The printed text is a function
//! of the stored document and facts, so a checker renders the text again and compares
//! ([`Page::text`] against what the PDF shows).

pub mod font;
pub mod pdf;
pub mod seal;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::jcs;
use crate::proof::format_time;

/// What a page shows besides the signed document: recorded when the copy (or the holder's print)
/// is made, so that the page made later shows what was true then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrintFacts {
    /// The catalogue's name of the licence type.
    pub type_name: String,
    /// The issuing agency's name.
    pub issuer_name: String,
    /// For a copy: the approval system's and the matter's names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matter_name: Option<String>,
    /// The licence's status then (`active`, or the reason code of its status check).
    pub status: String,
    /// Whether the licence verified then.
    pub valid: bool,
    pub at: DateTime<Utc>,
    /// The vault key (`did:key`) that signed the copy, or that was in force for a holder's print.
    pub vault_key: String,
}

/// Everything one page says, in the order it is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The print's id (a stamped copy's own id, or the id of a holder's print), in the PDF's
    /// Info dictionary and its footer.
    pub print_id: String,
    pub title: String,
    pub subtitle: String,
    /// For a stamped copy: who may use it, for what, until when.
    pub band: Option<String>,
    /// Label and value.
    pub rows: Vec<(String, String)>,
    pub footer: Vec<(String, String)>,
    /// Where the QR code leads: the vault's verifier page for this print.
    pub qr_url: String,
    pub qr_caption: String,
}

impl Page {
    /// All the page's text in drawing order, as one string (a checker's comparison does not
    /// depend on where lines wrap).
    pub fn text(&self) -> String {
        let mut s = String::new();
        s.push_str(&self.title);
        s.push_str(&self.subtitle);
        if let Some(b) = &self.band {
            s.push_str(b);
        }
        for (l, v) in self.rows.iter().chain(&self.footer) {
            s.push_str(l);
            s.push_str(v);
        }
        s.push_str(&self.qr_caption);
        s
    }
}

/// The kind of document a print renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Licence,
    Stamped,
    Minimised,
}

fn status_text(status: &str) -> String {
    match status {
        "active" => "有效".to_owned(),
        "revoked" => "已撤销".to_owned(),
        "suspended" => "已中止".to_owned(),
        "superseded" => "已换发".to_owned(),
        "expired" => "已过期".to_owned(),
        other => other.to_owned(),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The GB/T 36904 identifier of a licence urn.
fn identifier(urn: &str) -> &str {
    urn.strip_prefix("urn:gbt36904:").unwrap_or(urn)
}

/// A licence's own rows: its face fields, as the catalogue names them, then who holds it and who
/// issued it.
fn licence_rows(lic: &Value) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = lic
        .pointer("/credentialSubject/licence/fields")
        .and_then(Value::as_object)
        .map(|f| f.iter().map(|(k, v)| (k.clone(), show(v))).collect())
        .unwrap_or_default();
    let mut add = |label: &str, v: Option<&str>| {
        if let Some(v) = v {
            rows.push((label.to_owned(), v.to_owned()));
        }
    };
    add(
        "持证主体",
        str_at(lic, &["credentialSubject", "holder", "name"]),
    );
    add(
        "证照编号",
        str_at(lic, &["credentialSubject", "licence", "number"]),
    );
    add("发证机构", str_at(lic, &["issuer", "name"]));
    add(
        "发证日期",
        str_at(lic, &["credentialSubject", "licence", "issueDate"]),
    );
    add("有效期自", str_at(lic, &["validFrom"]));
    add("有效期至", str_at(lic, &["validUntil"]));
    add("证照标识", str_at(lic, &["id"]).map(identifier));
    rows
}

/// What kind of document `doc` is, by its types.
pub fn kind_of(doc: &Value) -> Option<Kind> {
    if crate::verify::copy::is_stamped_copy(doc) {
        if doc.pointer("/credentialSubject/disclosed").is_some() {
            Some(Kind::Minimised)
        } else {
            Some(Kind::Stamped)
        }
    } else if crate::licence::Licence::is_licence(doc) {
        Some(Kind::Licence)
    } else {
        None
    }
}

/// The page of print `print_id` of `doc` (a licence or a stamped or minimised copy, as signed),
/// with `facts`; `public_url` is the vault's address the QR code leads to.
pub fn page(
    print_id: &str,
    doc: &Value,
    facts: &PrintFacts,
    public_url: &str,
) -> Result<Page, String> {
    let kind = kind_of(doc).ok_or("not a licence or a stamped copy")?;
    let subject = doc.get("credentialSubject");
    let copy_str = |k: &str| subject.and_then(|s| s.get(k)).and_then(Value::as_str);
    let (subtitle, band, mut rows, sha, id_label) = match kind {
        Kind::Licence => (
            "电子证照打印件（以电子证照为准）".to_owned(),
            None,
            licence_rows(doc),
            hex::encode(Sha256::digest(jcs::canonicalize(doc))),
            "打印编号",
        ),
        Kind::Stamped | Kind::Minimised => {
            let band = format!(
                "本件仅供 {} 办理 {}（{}）使用，{} 前有效",
                facts
                    .requester_name
                    .as_deref()
                    .unwrap_or(copy_str("requester").unwrap_or("")),
                facts
                    .matter_name
                    .as_deref()
                    .unwrap_or(copy_str("matter").unwrap_or("")),
                copy_str("purpose").unwrap_or(""),
                copy_str("expiresAt").unwrap_or(""),
            );
            let rows = if kind == Kind::Stamped {
                licence_rows(
                    subject
                        .and_then(|s| s.get("document"))
                        .unwrap_or(&Value::Null),
                )
            } else {
                let mut rows: Vec<(String, String)> = subject
                    .and_then(|s| s.get("disclosed"))
                    .and_then(Value::as_object)
                    .map(|f| f.iter().map(|(k, v)| (k.clone(), show(v))).collect())
                    .unwrap_or_default();
                rows.push(("发证机构".to_owned(), facts.issuer_name.clone()));
                rows.push((
                    "证照标识".to_owned(),
                    identifier(copy_str("licence").unwrap_or("")).to_owned(),
                ));
                rows
            };
            let subtitle = if kind == Kind::Stamped {
                "加注件"
            } else {
                "加注件（仅含办理事项所需的字段）"
            };
            (
                subtitle.to_owned(),
                Some(band),
                rows,
                copy_str("sha256").unwrap_or("").to_owned(),
                "副本编号",
            )
        }
    };
    rows.push(("证照状态".to_owned(), status_text(&facts.status)));
    rows.push((
        "核验结果".to_owned(),
        format!(
            "{}（{}）",
            if facts.valid { "通过" } else { "未通过" },
            format_time(facts.at)
        ),
    ));
    Ok(Page {
        print_id: print_id.to_owned(),
        title: facts.type_name.clone(),
        subtitle,
        band,
        rows,
        footer: vec![
            (id_label.to_owned(), print_id.to_owned()),
            ("证照 SHA-256".to_owned(), sha),
            ("本库密钥".to_owned(), facts.vault_key.clone()),
        ],
        qr_url: verify_url(public_url, print_id),
        qr_caption: "扫码核验".to_owned(),
    })
}

/// The verifier page's address for print `id` (the id in the fragment, which no server logs).
pub fn verify_url(public_url: &str, id: &str) -> String {
    format!("{}/verify#print={id}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn licence() -> Value {
        let text =
            std::fs::read_to_string("fixtures/licences/01-sfz-linzhiqiang.json").expect("fixture");
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    fn facts() -> PrintFacts {
        PrintFacts {
            type_name: "居民身份证".into(),
            issuer_name: "福州市公安局".into(),
            requester_name: None,
            matter_name: None,
            status: "active".into(),
            valid: true,
            at: "2026-12-07T10:00:00Z".parse().unwrap(),
            vault_key: "did:key:z6Mk".into(),
        }
    }

    /// Lays out, seals and reads back a licence's page: the seal holds under the CA, the text
    /// read from the PDF is the page's text, and one changed byte breaks the seal.
    #[test]
    fn a_sealed_page_reads_back_as_its_text() {
        let font = font::Font::find(None).expect("the CJK font (scripts/install-deps.sh)");
        let at = facts().at;
        let page = page(
            "urn:uuid:00000000-0000-4000-8000-000000000001",
            &licence(),
            &facts(),
            "https://vault.example",
        )
        .unwrap();
        assert!(page.text().contains("姓名林志强"));
        assert!(page.text().contains("证照状态有效"));
        assert_eq!(
            page.qr_url,
            "https://vault.example/verify#print=urn:uuid:00000000-0000-4000-8000-000000000001"
        );
        let (keys, _) = seal::RenderKeys::generate("vault.example", at).unwrap();
        let pdf = pdf::render(&page, &font, at)
            .unwrap()
            .sign_with(|d| keys.sign(d))
            .unwrap();
        let read = pdf::read(&pdf).unwrap();
        assert!(read.whole);
        assert_eq!(read.print_id.as_deref(), Some(page.print_id.as_str()));
        assert_eq!(read.text.as_deref(), Some(page.text().as_str()));
        seal::check(&read.cms, &read.digest, &[keys.ca().clone()], at).unwrap();

        let mut changed = pdf.clone();
        let i = changed.windows(5).position(|w| w == b"Tj ET").unwrap() - 3;
        changed[i] = if changed[i] == b'1' { b'2' } else { b'1' };
        let read = pdf::read(&changed).unwrap();
        assert_eq!(
            seal::check(&read.cms, &read.digest, &[keys.ca().clone()], at),
            Err(seal::SealError::Invalid(
                "the signed bytes were changed: their SHA-256 is not the one signed".into()
            ))
        );
        let mut appended = pdf.clone();
        appended.extend_from_slice(b"1 0 obj\n<< >>\nendobj\n");
        assert!(!pdf::read(&appended).unwrap().whole);
        if let Ok(dir) = std::env::var("LICENCE_VAULT_PRINT_SAMPLE") {
            std::fs::write(format!("{dir}/licence.pdf"), &pdf).unwrap();
        }
    }

    /// Every truncation and many one-byte changes of a sealed PDF are read without a panic, and
    /// none keeps a seal that holds over the whole file with the page's text.
    #[test]
    fn damaged_pdfs_never_panic_and_never_pass() {
        let font = font::Font::find(None).expect("the CJK font (scripts/install-deps.sh)");
        let at = facts().at;
        let page = page("urn:uuid:x", &licence(), &facts(), "https://v").unwrap();
        let (keys, _) = seal::RenderKeys::generate("v", at).unwrap();
        let pdf = pdf::render(&page, &font, at)
            .unwrap()
            .sign_with(|d| keys.sign(d))
            .unwrap();
        let ca = [keys.ca().clone()];
        let holds = |bytes: &[u8]| {
            pdf::read(bytes).is_ok_and(|r| {
                r.whole
                    && seal::check(&r.cms, &r.digest, &ca, at).is_ok()
                    && r.text.as_deref() == Some(page.text().as_str())
            })
        };
        assert!(holds(&pdf));
        for len in (0..pdf.len()).step_by(211) {
            assert!(!holds(&pdf[..len]), "truncated to {len}");
        }
        for i in (0..pdf.len()).step_by(173) {
            let mut changed = pdf.clone();
            changed[i] ^= 0x5a;
            assert!(
                !holds(&changed),
                "byte {i} changed and the seal still holds"
            );
        }
    }

    #[test]
    fn a_character_without_glyph_is_an_error() {
        let font = font::Font::find(None).expect("the CJK font (scripts/install-deps.sh)");
        let mut facts = facts();
        facts.type_name = "证照\u{10FFFD}".into();
        let page = page("urn:uuid:x", &licence(), &facts, "https://v").unwrap();
        assert_eq!(
            pdf::render(&page, &font, facts.at).err(),
            Some(font::MissingGlyph('\u{10FFFD}'))
        );
    }
}
