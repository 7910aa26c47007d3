//! Operating the vault for years (SPEC §18): the vault key rotates and every earlier document
//! still verifies; a declared compromise is honoured; the holder index key is a secret of its own
//! that survives rotations and the upgrade from a store written before it; a backup is checked
//! offline, and a restore refuses what it must.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::support::*;
use licence_vault::codes::HolderCode;
use licence_vault::store::{Change, Table};
use licence_vault::vault::layout;

fn issuer_key_code(verdict: &Value) -> Value {
    check(verdict, "issuer_key")["code"].clone()
}

/// A vault-style document signed by `signer` at `created`, for the verifier.
fn signed_at(signer: &licence_vault::keys::Signer, created: chrono::DateTime<Utc>) -> Value {
    let doc = json!({
        "@context": [licence_vault::licence::VC_CONTEXT],
        "type": ["VerifiableCredential"],
        "issuer": signer.did_key().as_str(),
        "validFrom": licence_vault::proof::format_time(created - Duration::days(1)),
        "credentialSubject": {"id": "urn:example:subject"},
    });
    licence_vault::proof::sign(doc, signer, created).unwrap()
}

#[tokio::test]
async fn a_rotated_key_keeps_earlier_documents_valid_and_its_end_is_enforced() {
    let app = TestApp::new();
    let old = key("vault");
    let first = app
        .deposit(&sign(&business_licence("K0001", COMPANY), "scjgj"))
        .await;
    assert_eq!(first["issuer"], old.did_key().as_str());

    let (s, new) = app
        .post(
            "/v1/admin/vault/keys/rotate",
            Some(&app.tokens.admin),
            json!({"reason": "yearly"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{new}");
    let new_did = new["didKey"].as_str().unwrap().to_owned();
    assert_ne!(new_did, old.did_key().as_str());

    let (s, history) = app.get("/v1/vault/keys", None).await;
    assert_eq!(s, StatusCode::OK);
    let keys = history["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{history}");
    assert_eq!(keys[0]["didKey"], old.did_key().as_str());
    assert_eq!(keys[0]["validFrom"], "1970-01-01T00:00:00Z");
    let until = licence_vault::proof::parse_time(keys[0]["validUntil"].as_str().unwrap()).unwrap();
    let from = licence_vault::proof::parse_time(keys[1]["validFrom"].as_str().unwrap()).unwrap();
    assert_eq!(until - from, Duration::seconds(10));
    assert_eq!(keys[1]["didKey"], new_did.as_str());
    assert_eq!(
        app.get("/v1/vault", None).await.1["didKey"],
        new_did.as_str()
    );

    // New documents are signed by the new key; the old receipt still verifies, online and offline.
    let second = app
        .deposit(&sign(&business_licence("K0002", COMPANY), "scjgj"))
        .await;
    assert_eq!(second["issuer"], new_did.as_str());
    for receipt in [&first, &second] {
        let (s, v) = app
            .post("/v1/verify", Some(&app.tokens.admin), receipt.clone())
            .await;
        assert_eq!(
            (s, v["valid"].clone()),
            (StatusCode::OK, json!(true)),
            "{v}"
        );
        let offline = licence_vault::verify::document(
            receipt,
            Some(&app.vault.key_history().unwrap()),
            Utc::now(),
        );
        assert!(offline.valid, "{offline:?}");
    }

    // The retired key signing after its end: refused with its own reason.
    let late = signed_at(&old, until + Duration::seconds(1));
    let (_, v) = app.post("/v1/verify", Some(&app.tokens.admin), late).await;
    assert_eq!(v["valid"], false);
    assert_eq!(issuer_key_code(&v), "vault_key_retired", "{v}");
    let inside = signed_at(&old, until - Duration::seconds(1));
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.admin), inside)
        .await;
    assert_eq!(v["valid"], true, "{v}");

    // A compromise declared from a time on: what the key signed before stays valid, after is refused.
    let since = Utc::now() - Duration::days(1);
    let (s, h) = app
        .post(
            "/v1/admin/vault/keys/compromise",
            Some(&app.tokens.admin),
            json!({"didKey": old.did_key().as_str(), "since": licence_vault::proof::format_time(since)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert!(h["keys"][0]["compromisedAt"].is_string());
    let before = signed_at(&old, since - Duration::hours(1));
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.admin), before)
        .await;
    assert_eq!(v["valid"], true, "{v}");
    let after = signed_at(&old, since + Duration::hours(1));
    let (_, v) = app.post("/v1/verify", Some(&app.tokens.admin), after).await;
    assert_eq!(issuer_key_code(&v), "vault_key_compromised", "{v}");
    // The receipt of `first` was signed at its deposit, before `since`? No: today. Refused.
    let (_, v) = app
        .post("/v1/verify", Some(&app.tokens.admin), first.clone())
        .await;
    assert_eq!(issuer_key_code(&v), "vault_key_compromised", "{v}");

    // A key is used once; an unknown key cannot be declared compromised.
    let (s, e) = app
        .post(
            "/v1/admin/vault/keys/compromise",
            Some(&app.tokens.admin),
            json!({"didKey": key("rogue").did_key().as_str(), "since": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "conflict"), "{e}");
}

#[tokio::test]
async fn with_no_key_in_force_nothing_is_written_and_a_rotation_recovers() {
    let app = TestApp::new();
    let old = key("vault");
    app.deposit(&read_json("fixtures/licences/29-yyzz-minwei.json"))
        .await;
    let consent = json!({
        "requester": "fz-scjg-xk", "matter": "350100-SJ-004", "purpose": "食品经营许可证延续申请",
        "types": [BUSINESS_LICENCE], "expiresAt": in_days(30)});
    grant(&app, &app.tokens.holder_company, consent.clone()).await;
    let pull =
        json!({"holder": format!("001:{COMPANY}"), "matter": "350100-SJ-004", "purpose": "受理"});
    let (s, _) = app
        .post(
            "/v1/admin/vault/keys/compromise",
            Some(&app.tokens.admin),
            json!({"didKey": old.did_key().as_str(), "since": licence_vault::proof::format_time(Utc::now() - Duration::seconds(1))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let doc = sign(&business_licence("K0003", COMPANY), "scjgj");
    let (s, e) = app
        .post("/v1/licences", Some(&app.tokens.market), doc.clone())
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::SERVICE_UNAVAILABLE, "vault_key_unavailable"),
        "{e}"
    );
    // Nothing half-written: the licence is not there; a pull that would release a signed copy
    // records no access and spends no use; a consent that would get a signed receipt is not made.
    let (s, _) = app.get(&licence_path(&doc), Some(&app.tokens.market)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = app
        .post("/v1/reuse", Some(&app.tokens.requester), pull.clone())
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::SERVICE_UNAVAILABLE, "vault_key_unavailable"),
        "{e}"
    );
    let (_, log) = app
        .get("/v1/me/access-log", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(log["records"].as_array().map(Vec::len), Some(0), "{log}");
    let (s, e) = app
        .post("/v1/me/consents", Some(&app.tokens.holder_company), consent)
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::SERVICE_UNAVAILABLE, "vault_key_unavailable")
    );
    let (_, mine) = app
        .get("/v1/me/consents", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(mine["consents"].as_array().map(Vec::len), Some(1), "{mine}");
    let (s, _) = app
        .post(
            "/v1/admin/vault/keys/rotate",
            Some(&app.tokens.admin),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let receipt = app.deposit(&doc).await;
    assert_ne!(receipt["issuer"], old.did_key().as_str());
    let p = pull_as(&app, &app.tokens.requester, pull).await;
    assert_eq!(p["provided"], 1, "{p}");
}

/// The holder index of a store written before the index key was a secret of its own (keyed from
/// the vault key) is kept at the upgrade, and stays across a rotation and a restart.
#[test]
fn the_holder_index_survives_the_upgrade_and_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let doc = sign(&business_licence("K0004", COMPANY), "scjgj");
    let holder: HolderCode = format!("001:{COMPANY}").parse().unwrap();
    {
        // The previous release: the index keyed from the vault key, only `vault_did` bound.
        let store = store_at(&data.join("db"));
        let vault = licence_vault::vault::Vault::open(store.clone(), key("vault"), vec![]).unwrap();
        seed_registries(&vault);
        vault.deposit(&uscc(MARKET), &doc, Utc::now()).unwrap();
        let mut c = Change::durable();
        c.delete(Table::Meta, layout::VAULT_KEYS)
            .delete(Table::Meta, layout::INDEX_KEY_CHECK);
        store.commit(c).unwrap();
        store.flush().unwrap();
    }
    if test_pg().is_some() {
        return; // the CLI below opens DATA/db with RocksDB
    }
    std::fs::write(
        data.join("vault.key"),
        format!("{}\n", key("vault").to_private_multibase().as_str()),
    )
    .unwrap();
    let d = data.to_str().unwrap();
    let open = || licence_vault::cli::open_vault(&data, None, None, vec![]).unwrap();
    {
        let vault = open();
        assert!(data.join("index.key").exists());
        assert_eq!(vault.holder_licences(&holder, Utc::now()).unwrap().len(), 1);
    }
    // A mistyped data directory is not made into a new vault.
    let typo = dir.path().join("dta");
    let o = run_cli(&["key", "list", "--data", typo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!typo.exists());
    let (code_, out) = cli(&["key", "rotate", "--data", d]);
    assert_eq!(code_, Some(0), "{out}");
    let (code_, list) = cli(&["key", "list", "--data", d]);
    assert_eq!(code_, Some(0), "{list}");
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let vault = open();
    assert_eq!(vault.holder_licences(&holder, Utc::now()).unwrap().len(), 1);
    assert_eq!(
        vault.did_key().as_str(),
        list[1]["didKey"].as_str().unwrap()
    );
    drop(vault);

    // Another vault's key, or the index key lost: refused, with what to do.
    let other = dir.path().join("other.key");
    std::fs::write(
        &other,
        format!("{}\n", key("rogue").to_private_multibase().as_str()),
    )
    .unwrap();
    let e = licence_vault::cli::open_vault(&data, Some(&other), None, vec![]).unwrap_err();
    assert!(e.to_string().contains("belongs to vault key"), "{e}");
    std::fs::rename(data.join("index.key"), dir.path().join("index.key")).unwrap();
    let e = licence_vault::cli::open_vault(&data, None, None, vec![]).unwrap_err();
    assert!(e.to_string().contains("index.key is missing"), "{e}");
}

/// A backup of a stopped vault checks offline, restores only into an empty directory and only
/// when sound, and the restored vault knows it was restored.
#[test]
fn a_backup_checks_offline_and_restores_only_when_sound() {
    if test_pg().is_some() {
        return; // RocksDB's backup; PostgreSQL's is scripts/pg-backup.sh, in scripts/drill.py
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let doc = sign(&business_licence("K0005", COMPANY), "scjgj");
    {
        let vault = licence_vault::cli::open_vault(&data, None, None, vec![]).unwrap();
        seed_registries(&vault);
        vault.deposit(&uscc(MARKET), &doc, Utc::now()).unwrap();
    }
    let p = |x: &std::path::Path| x.to_str().unwrap().to_owned();
    let b = dir.path().join("b1");
    let o = run_cli(&["backup", "--data", &p(&data), "--to", &p(&b)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (c, report) = cli(&["backup", "verify", &p(&b)]);
    assert_eq!(c, Some(0), "{report}");
    assert_eq!(report["sound"], true);
    assert_eq!(report["licences"], 1);
    // A data directory without RocksDB (a PostgreSQL node's) is not backed up as if it were empty.
    let o = run_cli(&[
        "backup",
        "--data",
        &p(&dir.path().join("pg-node")),
        "--to",
        &p(&dir.path().join("b0")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no RocksDB database"));
    assert!(!dir.path().join("pg-node").exists() && !dir.path().join("b0").exists());
    // A second backup into the same place is refused.
    let o = run_cli(&["backup", "--data", &p(&data), "--to", &p(&b)]);
    assert_eq!(o.status.code(), Some(2));

    // One byte changed in a table file: the check fails, the restore refuses.
    let bad = dir.path().join("bad");
    copy_dir(&b, &bad);
    let sst = std::fs::read_dir(bad.join("db"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .unwrap();
    let mut bytes = std::fs::read(&sst).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&sst, bytes).unwrap();
    let o = run_cli(&["backup", "verify", &p(&bad)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not match the manifest"));
    let o = run_cli(&[
        "restore",
        "--from",
        &p(&bad),
        "--data",
        &p(&dir.path().join("r0")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.path().join("r0").join("db").exists());

    // A manifest edited (another vault's counts): its signature no longer holds.
    let forged = dir.path().join("forged");
    copy_dir(&b, &forged);
    let m = std::fs::read_to_string(forged.join("manifest.json")).unwrap();
    std::fs::write(
        forged.join("manifest.json"),
        m.replace("\"licenceid_meta\":1", "\"licenceid_meta\":2"),
    )
    .unwrap();
    let o = run_cli(&["backup", "verify", &p(&forged)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad_signature"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Not onto a vault's data, nor with another vault's key.
    let o = run_cli(&["restore", "--from", &p(&b), "--data", &p(&data)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
    let rogue = dir.path().join("rogue.key");
    std::fs::write(
        &rogue,
        format!("{}\n", key("rogue").to_private_multibase().as_str()),
    )
    .unwrap();
    let r = dir.path().join("r1");
    let o = run_cli(&[
        "restore",
        "--from",
        &p(&b),
        "--data",
        &p(&r),
        "--vault-key",
        &p(&rogue),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a key of the vault"));

    let o = run_cli(&["restore", "--from", &p(&b), "--data", &p(&r)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let vault = licence_vault::cli::open_vault(&r, None, None, vec![]).unwrap();
    let restored = vault.restored().unwrap().unwrap();
    assert_eq!(
        licence_vault::proof::format_time(restored.backup_created_at),
        report["createdAt"].as_str().unwrap()
    );
    let id = doc["id"].as_str().unwrap()["urn:gbt36904:".len()..]
        .parse()
        .unwrap();
    let e = vault.extract(&id, Utc::now()).unwrap().unwrap();
    assert!(e.verdict.valid, "{:?}", e.verdict);
}

/// `backup --data` of a serving vault: the vault that holds the database makes it.
#[test]
fn a_serving_vault_is_backed_up_through_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, url) = serve_demo(&data);
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-tokens.json")).unwrap()).unwrap();
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, tokens["admin"].as_str().unwrap()).unwrap();
    let b = dir.path().join("b");
    let o = run_cli(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        "--to",
        b.to_str().unwrap(),
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    let health = reqwest::blocking::get(format!("{url}/healthz"))
        .unwrap()
        .text()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("makes the backup"));
    assert_eq!(health, "ok\n");
    let (c, report) = cli(&["backup", "verify", b.to_str().unwrap()]);
    assert_eq!(c, Some(0), "{report}");
    assert!(report["licences"].as_u64().unwrap() > 10, "{report}");
    // The rendering CA and key go with the backup and come back with the restore, so that the
    // restored vault's seals chain to the CA readers already trust (SPEC §16).
    let ca = std::fs::read(data.join("render-keys/ca.crt")).unwrap();
    assert!(ca.starts_with(b"-----BEGIN CERTIFICATE-----"));
    for f in ["ca.key", "ca.crt", "render.key", "render.crt"] {
        assert_eq!(
            std::fs::read(b.join("keys/render-keys").join(f)).unwrap(),
            std::fs::read(data.join("render-keys").join(f)).unwrap(),
            "{f}"
        );
    }
    let r = dir.path().join("restored");
    let o = run_cli(&[
        "restore",
        "--from",
        b.to_str().unwrap(),
        "--data",
        r.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(r.join("render-keys/ca.crt")).unwrap(), ca);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A licence imported in bulk gets its receipt signed at its first read, dated its deposit. When
/// the key of that time was declared compromised since before it, no key may sign that receipt:
/// the holder still sees the licence (without the receipt) instead of a 503 for the whole list.
#[tokio::test]
async fn a_receipt_no_key_can_sign_does_not_hide_the_licence() {
    let app = TestApp::new();
    let doc = sign(&business_licence("K0006", COMPANY), "scjgj");
    let now = Utc::now();
    let reg = app.vault.registries();
    let checked = app
        .vault
        .check_for_deposit(&reg, std::slice::from_ref(&doc), now);
    let stored = app.vault.import_checked(checked, now).unwrap();
    assert!(matches!(stored[..], [Ok(true)]));
    let since = licence_vault::proof::format_time(now - Duration::seconds(1));
    let (s, _) = app
        .post(
            "/v1/admin/vault/keys/compromise",
            Some(&app.tokens.admin),
            json!({"didKey": key("vault").did_key().as_str(), "since": since}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    app.post(
        "/v1/admin/vault/keys/rotate",
        Some(&app.tokens.admin),
        json!({}),
    )
    .await;
    let (s, list) = app
        .get("/v1/me/licences", Some(&app.tokens.holder_company))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let item = &list["licences"][0];
    assert_eq!(item["id"], doc["id"], "{list}");
    assert!(item.get("receipt").is_none(), "{item}");
}

/// A backup asked over HTTP goes only into the vault's backup directory, under a plain name: the
/// API writes nowhere else on the vault's machine.
#[tokio::test]
async fn a_backup_over_http_is_named_never_placed() {
    let app = TestApp::new();
    for name in ["../escape", "/tmp/x", ".hidden", "a/b", ""] {
        let (s, e) = app
            .post(
                "/v1/admin/backups",
                Some(&app.tokens.admin),
                json!({"name": name}),
            )
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{name}: {e}"
        );
    }
    let (s, e) = app
        .post(
            "/v1/admin/backups",
            Some(&app.tokens.admin),
            json!({"to": "/tmp/x"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    // This vault was opened without a backup directory: it makes none.
    let (s, e) = app
        .post(
            "/v1/admin/backups",
            Some(&app.tokens.admin),
            json!({"name": "b1"}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "conflict"), "{e}");
}
