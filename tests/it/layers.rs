//! The layer rules of ARCHITECTURE.md, each an absence, held by reading the sources.

use std::path::Path;

use crate::support::root;

/// The source text of `src/<rel>` (a module file, or every file under a module directory too).
fn sources(rel: &str) -> Vec<(String, String)> {
    let src = root().join("src");
    let mut out = Vec::new();
    let file = src.join(format!("{rel}.rs"));
    if file.exists() {
        out.push((format!("src/{rel}.rs"), read(&file)));
    }
    let dir = src.join(rel);
    if dir.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            out.extend(sources(&format!("{rel}/{name}")));
        }
    }
    assert!(!out.is_empty(), "no sources for {rel}");
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// The code of a source file, without comments (doc links may name any module).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_absent(modules: &[&str], forbidden: &[&str], rule: &str) {
    for m in modules {
        for (path, text) in sources(m) {
            let code = code(&text);
            for f in forbidden {
                assert!(!code.contains(f), "{path} uses `{f}`: {rule}");
            }
        }
    }
}

const DOMAIN: &[&str] = &[
    "jcs",
    "codes",
    "keys",
    "proof",
    "verdict",
    "verify",
    "licence",
    "lifecycle",
    "registry",
    "reuse",
    "auth",
    "metrics",
];

#[test]
fn the_domain_uses_no_outer_layer() {
    assert_absent(
        DOMAIN,
        &[
            "crate::vault",
            "crate::store",
            "crate::http",
            "crate::cli",
            "crate::demo",
            "axum",
            "rocksdb",
        ],
        "the domain depends only on the domain",
    );
}

#[test]
fn storage_knows_tables_and_bytes_only() {
    let store = sources("store");
    for (path, text) in store {
        for line in code(&text).lines() {
            if let Some(i) = line.find("crate::") {
                assert!(
                    line[i..].starts_with("crate::store"),
                    "{path} uses another module of the crate: {line}"
                );
            }
        }
    }
}

#[test]
fn the_vault_knows_no_http() {
    assert_absent(
        &["vault"],
        &["crate::http", "crate::cli", "axum", "StatusCode"],
        "the vault knows nothing of HTTP",
    );
}

#[test]
fn verify_cli_and_demo_use_no_http_and_verify_no_vault() {
    assert_absent(
        &["cli/verify"],
        &["crate::vault", "crate::http", "crate::store"],
        "cli/verify depends only on the domain and verify",
    );
    assert_absent(&["demo"], &["crate::http"], "demo does not use http");
}

/// No module but `vault/layout` builds a store key or encodes a stored value.
#[test]
fn only_the_layout_builds_keys_and_values() {
    let layout = "src/vault/layout.rs";
    for m in ["vault", "demo", "http", "cli"] {
        for (path, text) in sources(m) {
            if path == layout {
                continue;
            }
            let code = code(&text);
            for f in [
                "extend_from_slice",
                ".to_be_bytes()",
                "serde_json::from_slice",
                "serde_json::to_vec(",
            ] {
                assert!(
                    !code.contains(f),
                    "{path} uses `{f}`: keys and values are built in {layout}"
                );
            }
            for (i, line) in code.lines().enumerate() {
                if line.contains("Table::") && line.contains(".as_bytes()") {
                    panic!("{path}:{}: a key built by hand: {line}", i + 1);
                }
            }
        }
    }
}
