//! The layer rules of ARCHITECTURE.md, held by reading the sources.
//!
//! The sources of `src/` become a graph of files: `src/a/b.rs` is module `a::b`, `src/a.rs` is
//! module `a`, `src/lib.rs` the crate root. Every path the code names — `crate::…` (in `use`
//! items, grouped and nested, or inline as `crate::verify::foo(..)`), `super::…` and `self::…`
//! (resolved from the module the code is in, inline `mod tests` included), and a bare path into a
//! child module (`layout::key(..)` in `vault`) — is an edge from the file's module to the longest
//! module of the crate the path starts with. Comments are left out (a doc link may name any
//! module), and so are string and character literals.
//!
//! Each rule is a function from the graph to its violations; the unit checks at the end feed the
//! graph builder made-up sources and show that every rule fails on one made to break it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::OnceLock;

use crate::support::root;

/// The domain modules, in the one order they may use each other: each (with its submodules, e.g.
/// `verify::notice`) uses only those before it.
const DOMAIN: &[&str] = &[
    "jcs",
    "codes",
    "keys",
    "proof",
    "verdict",
    "licence",
    "lifecycle",
    "registry",
    "reuse",
    "verify",
    "auth",
    "metrics",
    "tlog",
    "print",
];

/// The layers outside the domain, which the domain never uses.
const OUTER: &[&str] = &["vault", "store", "http", "cli", "demo"];

/// The one file that may take a holder's lock or seal a holder's change.
const DOOR: &str = "src/vault/door.rs";

/// The one file that builds store keys and encodes stored values.
const LAYOUT: &str = "src/vault/layout.rs";

const ROOT: &str = "crate";

// ---------------------------------------------------------------------------------------------
// The rules, on the real sources.

#[test]
fn no_import_cycle_between_files() {
    holds(&cycles(sources_graph()), "no import cycle between files");
}

#[test]
fn the_domain_uses_only_earlier_domain_modules() {
    holds(&domain_order(sources_graph()), "the domain order");
}

#[test]
fn the_domain_uses_no_outer_layer() {
    holds(
        &domain_outer(sources_graph()),
        "the domain depends only on the domain",
    );
}

#[test]
fn storage_knows_tables_and_bytes_only() {
    holds(
        &store_alone(sources_graph()),
        "storage knows tables and bytes only",
    );
}

#[test]
fn the_vault_knows_no_http() {
    holds(
        &vault_no_http(sources_graph()),
        "the vault knows nothing of HTTP",
    );
}

#[test]
fn verify_cli_and_demo_use_no_http_and_verify_no_vault() {
    holds(
        &cli_verify_and_demo(sources_graph()),
        "cli/verify depends only on the domain; demo does not use http",
    );
}

/// No module but `vault/layout` builds a store key or encodes a stored value.
#[test]
fn only_the_layout_builds_keys_and_values() {
    holds(
        &layout_only(sources_graph()),
        "keys and values are built in src/vault/layout.rs",
    );
}

/// No holder lock is taken and no holder change sealed but through `vault/door`.
#[test]
fn no_holder_lock_or_seal_outside_the_holder_door() {
    holds(
        &door_only(sources_graph()),
        "holder locks and seals are taken only in src/vault/door.rs",
    );
}

fn holds(violations: &[String], rule: &str) {
    assert!(
        violations.is_empty(),
        "{rule}: {} violation(s)\n{}",
        violations.len(),
        violations.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The graph.

/// One source file.
struct File {
    /// `src/a/b.rs`.
    path: String,
    /// `a::b`; [`ROOT`] for `src/lib.rs`.
    module: String,
    /// The code without comments (string literals kept).
    code: String,
    /// The paths into the crate that the code names.
    refs: Vec<Ref>,
}

/// A path into the crate named by a file's code.
struct Ref {
    /// The longest module of the crate that the path starts with.
    target: String,
    /// The path, resolved: `crate::verify::notice::check`.
    text: String,
    line: usize,
    /// Named in a `pub use` item (a re-export).
    reexport: bool,
}

impl Ref {
    fn at(&self, f: &File) -> String {
        format!("{}:{} `{}`", f.path, self.line, self.text)
    }
}

struct Graph {
    files: Vec<File>,
}

impl Graph {
    fn has(&self, module: &str) -> bool {
        self.files.iter().any(|f| f.module == module)
    }

    /// The files of `module` and of its submodules; the module must exist, so that a rule
    /// cannot hold only because the module it names was renamed.
    fn files_of<'g>(&'g self, module: &str) -> impl Iterator<Item = &'g File> + 'g {
        assert!(self.has(module), "no module {module} in src/");
        let module = module.to_owned();
        self.files
            .iter()
            .filter(move |f| within(&f.module, &module))
    }
}

/// The graph of `src/` (`src/main.rs` is the binary: its `crate` is another crate), read once.
fn sources_graph() -> &'static Graph {
    static GRAPH: OnceLock<Graph> = OnceLock::new();
    GRAPH.get_or_init(|| {
        let src = root().join("src");
        let mut files = Vec::new();
        walk(&src, &src, &mut files);
        files.retain(|(path, _)| path != "src/main.rs");
        assert!(files.len() > 10, "too few sources in {}", src.display());
        graph_of(&files)
    })
}

fn walk(src: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(src, &p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((format!("src/{rel}"), std::fs::read_to_string(&p).unwrap()));
        }
    }
}

/// The module of a source path: `src/a/b.rs` is `a::b`, `src/lib.rs` the crate root.
fn module_of(path: &str) -> String {
    let rel = path
        .strip_prefix("src/")
        .and_then(|p| p.strip_suffix(".rs"))
        .unwrap_or_else(|| panic!("not a source path: {path}"));
    if rel == "lib" {
        ROOT.to_owned()
    } else {
        rel.replace('/', "::")
    }
}

/// The graph of the given sources, each `(path under src/, text)`.
fn graph_of(sources: &[(String, String)]) -> Graph {
    let modules: BTreeSet<String> = sources.iter().map(|(p, _)| module_of(p)).collect();
    let files = sources
        .iter()
        .map(|(path, text)| {
            let module = module_of(path);
            let (code, bare) = strip(text);
            let refs = refs_of(&module, &bare, &modules);
            File {
                path: path.clone(),
                module,
                code,
                refs,
            }
        })
        .collect();
    Graph { files }
}

/// Whether `m` is `module` or inside it.
fn within(m: &str, module: &str) -> bool {
    module == ROOT || m == module || m.strip_prefix(module).is_some_and(|r| r.starts_with("::"))
}

/// Whether `a` is a strict ancestor of `m` (the crate root is everyone's).
fn is_ancestor(a: &str, m: &str) -> bool {
    a != m && within(m, a)
}

/// The top-level module `m` is in (`verify` for `verify::notice`).
fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

fn segments(m: &str) -> Vec<String> {
    if m == ROOT {
        Vec::new()
    } else {
        m.split("::").map(str::to_owned).collect()
    }
}

/// The code without comments, and the same with every string and character literal blanked
/// (to `""`); both keep every line break.
fn strip(text: &str) -> (String, String) {
    let c: Vec<char> = text.chars().collect();
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let (mut code, mut bare) = (String::new(), String::new());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c[i] == '/' && next == Some('*') {
            // Block comments nest.
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        code.push('\n');
                        bare.push('\n');
                    }
                    i += 1;
                }
            }
            code.push(' ');
            bare.push(' ');
            continue;
        }
        let at_word = i == 0 || !is_ident(c[i - 1]);
        if let Some(end) = literal_end(&c, i, at_word) {
            for &ch in &c[i..end] {
                code.push(ch);
                if ch == '\n' {
                    bare.push('\n');
                }
            }
            bare.push_str("\"\"");
            i = end;
            continue;
        }
        code.push(c[i]);
        bare.push(c[i]);
        i += 1;
    }
    (code, bare)
}

/// The end of the string or character literal that starts at `c[i]`, if one does: `"…"`,
/// `b"…"`, `r#"…"#`, `br"…"`, `'x'`, `'\n'`, `b'x'` (not a lifetime `'a`).
fn literal_end(c: &[char], i: usize, at_word: bool) -> Option<usize> {
    let at = |k: usize| c.get(k).copied();
    if at_word && (c[i] == 'r' || (c[i] == 'b' && at(i + 1) == Some('r'))) {
        let mut j = if c[i] == 'r' { i + 1 } else { i + 2 };
        let mut hashes = 0;
        while at(j) == Some('#') {
            hashes += 1;
            j += 1;
        }
        if at(j) != Some('"') {
            return None; // an identifier (`r`, `br`, `r#type`)
        }
        j += 1;
        while j < c.len() {
            if c[j] == '"' && (1..=hashes).all(|h| at(j + h) == Some('#')) {
                return Some(j + 1 + hashes);
            }
            j += 1;
        }
        return Some(c.len());
    }
    if at_word && c[i] == 'b' && matches!(at(i + 1), Some('"' | '\'')) {
        return literal_end(c, i + 1, false);
    }
    match c[i] {
        '"' => {
            let mut j = i + 1;
            while j < c.len() {
                match c[j] {
                    '\\' => j += 2,
                    '"' => return Some(j + 1),
                    _ => j += 1,
                }
            }
            Some(c.len())
        }
        '\'' if at(i + 1) == Some('\\') => {
            let mut j = i + 3; // past the escaped character
            while j < c.len() && c[j] != '\'' {
                j += 1;
            }
            Some((j + 1).min(c.len()))
        }
        '\'' if at(i + 2) == Some('\'') => Some(i + 3),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// `::`
    Sep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Other(char),
}

/// The tokens of code whose literals are blanked, each with its line.
fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' || ch == '$' {
            // `$crate` (in a macro of this crate) is `crate`.
            let start = if ch == '$' { i + 1 } else { i };
            let mut j = i + 1;
            while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
                j += 1;
            }
            if j == start {
                out.push((Tok::Other('$'), line));
            } else {
                out.push((Tok::Word(c[start..j].iter().collect()), line));
            }
            i = j;
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((Tok::Sep, line));
            i += 2;
        } else {
            let t = match ch {
                '{' => Tok::Open,
                '}' => Tok::Close,
                ',' => Tok::Comma,
                ';' => Tok::Semi,
                '*' => Tok::Star,
                other => Tok::Other(other),
            };
            out.push((t, line));
            i += 1;
        }
    }
    out
}

fn word(toks: &[(Tok, usize)], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some((Tok::Word(w), _)) => Some(w),
        _ => None,
    }
}

fn is(toks: &[(Tok, usize)], i: usize, t: &Tok) -> bool {
    toks.get(i).is_some_and(|(x, _)| x == t)
}

/// Reads the path tree at `toks[i]` — `a::b`, `a::{b, c::{self, d}, e::*}`, `a as b` — pushing
/// each leaf as its whole list of segments after `prefix`; returns the index after the tree.
fn tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut segs = prefix.to_vec();
    loop {
        match toks.get(i).map(|(t, _)| t) {
            Some(Tok::Word(w)) => {
                segs.push(w.clone());
                i += 1;
            }
            Some(Tok::Open) => {
                i += 1;
                loop {
                    match toks.get(i).map(|(t, _)| t) {
                        None => return i,
                        Some(Tok::Close) => return i + 1,
                        Some(Tok::Comma) => i += 1,
                        Some(_) => {
                            let j = tree(toks, i, &segs, out);
                            i = if j == i { i + 1 } else { j };
                        }
                    }
                }
            }
            Some(Tok::Star) => {
                out.push(segs);
                return i + 1;
            }
            _ => {
                if segs.len() > prefix.len() {
                    out.push(segs);
                }
                return i;
            }
        }
        if is(toks, i, &Tok::Sep) {
            i += 1;
            continue;
        }
        if word(toks, i) == Some("as") {
            i += 2;
        }
        out.push(segs);
        return i;
    }
}

/// Whether the `use` at `toks[i]` is `pub use`, `pub(crate) use`, `pub(super) use`, ….
fn is_pub_use(toks: &[(Tok, usize)], i: usize) -> bool {
    if i >= 1 && word(toks, i - 1) == Some("pub") {
        return true;
    }
    if i >= 1 && is(toks, i - 1, &Tok::Other(')')) {
        let mut j = i - 1;
        while j > 0 && !is(toks, j, &Tok::Other('(')) {
            j -= 1;
        }
        return j >= 1 && word(toks, j - 1) == Some("pub");
    }
    false
}

/// The paths into the crate named by `code` (literals blanked), the code of `module`.
fn refs_of(module: &str, code: &str, modules: &BTreeSet<String>) -> Vec<Ref> {
    let toks = tokens(code);
    let children: BTreeSet<&str> = modules
        .iter()
        .filter_map(|m| {
            let rest = if module == ROOT {
                Some(m.as_str()).filter(|m| *m != ROOT)
            } else {
                m.strip_prefix(module)?.strip_prefix("::")
            };
            rest.filter(|r| !r.contains("::"))
        })
        .collect();
    let file = segments(module);
    // Inline modules (`mod tests { … }`) open here: name and brace depth outside.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let (mut depth, mut pub_use, mut i) = (0usize, false, 0);
    let mut out = Vec::new();
    while i < toks.len() {
        let (t, line) = &toks[i];
        match t {
            Tok::Word(w) if w == "mod" && is(&toks, i + 2, &Tok::Open) => {
                if let Some(name) = word(&toks, i + 1) {
                    inline.push((name.to_owned(), depth));
                }
                i += 2;
                continue;
            }
            Tok::Word(w) if w == "use" => pub_use = is_pub_use(&toks, i),
            Tok::Semi => pub_use = false,
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Word(_)
                if is(&toks, i + 1, &Tok::Sep)
                    && !(i > 0
                        && (is(&toks, i - 1, &Tok::Sep) || is(&toks, i - 1, &Tok::Other('.')))) =>
            {
                let mut leaves = Vec::new();
                let j = tree(&toks, i, &[], &mut leaves);
                let mut here = file.clone();
                here.extend(inline.iter().map(|(n, _)| n.clone()));
                for leaf in leaves {
                    if let Some(abs) = resolve(&leaf, &file, &here, &children) {
                        out.push(Ref {
                            target: longest_module(&abs, modules),
                            text: std::iter::once(ROOT.to_owned())
                                .chain(abs)
                                .collect::<Vec<_>>()
                                .join("::"),
                            line: *line,
                            reexport: pub_use,
                        });
                    }
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The absolute segments of a path named in module `here` (of file module `file`), if it is a
/// path into the crate: `crate::…`, `self::…`, `super::…` or a child module of the file's.
fn resolve(
    leaf: &[String],
    file: &[String],
    here: &[String],
    children: &BTreeSet<&str>,
) -> Option<Vec<String>> {
    let (first, rest) = leaf.split_first()?;
    let mut abs = match first.as_str() {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => here[..here.len().saturating_sub(1)].to_vec(),
        child if children.contains(child) => {
            let mut v = file.to_vec();
            v.push(child.to_owned());
            v
        }
        _ => return None,
    };
    for s in rest {
        match s.as_str() {
            "super" => {
                abs.pop();
            }
            "self" => {}
            _ => abs.push(s.clone()),
        }
    }
    Some(abs)
}

/// The longest module among `modules` that `abs` starts with (the crate root at least).
fn longest_module(abs: &[String], modules: &BTreeSet<String>) -> String {
    (1..=abs.len())
        .rev()
        .map(|k| abs[..k].join("::"))
        .find(|m| modules.contains(m))
        .unwrap_or_else(|| ROOT.to_owned())
}

// ---------------------------------------------------------------------------------------------
// The rules, each a list of violations.

/// The edges that count for cycles.
///
/// The decision: a module's use of its own ancestors does not count (`vault::reuse` naming
/// `super::Vault` or `crate::vault::At` is the `impl Vault` split across files, and a child
/// always sees its parent), and neither does a parent's `pub use` of its own submodule's items
/// (the re-export is the parent's face, not a use; `mod x;` is no path at all). Everything else
/// counts: between sibling files, from a parent's code into its child (`layout::key(..)` in
/// `vault`), and from any file into any other module that is not its ancestor. So a cycle is
/// either between modules unrelated by nesting, or a parent reaching a child that reaches back
/// into the parent through some third module.
fn cycle_edges(g: &Graph) -> BTreeMap<&str, BTreeMap<&str, String>> {
    let mut edges: BTreeMap<&str, BTreeMap<&str, String>> = BTreeMap::new();
    for f in &g.files {
        let from = edges.entry(f.module.as_str()).or_default();
        for r in &f.refs {
            let (m, t) = (f.module.as_str(), r.target.as_str());
            if t == m || is_ancestor(t, m) || (r.reexport && is_ancestor(m, t)) {
                continue;
            }
            from.entry(t).or_insert_with(|| r.at(f));
        }
    }
    edges
}

/// Every import cycle between files: one shortest cycle per strongly connected set of modules.
fn cycles(g: &Graph) -> Vec<String> {
    let edges = cycle_edges(g);
    let mut out = Vec::new();
    for scc in strongly_connected(&edges) {
        if scc.len() < 2 {
            continue;
        }
        let start = scc[0];
        let set: BTreeSet<&str> = scc.iter().copied().collect();
        // The shortest way back to `start` inside the set.
        let mut before: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        let mut last = None;
        while let Some(m) = queue.pop_front() {
            for &t in edges[m].keys().filter(|t| set.contains(*t)) {
                if t == start {
                    last = Some(m);
                    queue.clear();
                    break;
                }
                if let std::collections::btree_map::Entry::Vacant(e) = before.entry(t) {
                    e.insert(m);
                    queue.push_back(t);
                }
            }
        }
        let mut between = Vec::new();
        let mut m = last.unwrap();
        while m != start {
            between.push(m);
            m = before[m];
        }
        between.reverse();
        let path: Vec<&str> = std::iter::once(start)
            .chain(between)
            .chain([start])
            .collect();
        let names = path.join(" -> ");
        let mut msg = format!("import cycle: {names}");
        for w in path.windows(2) {
            msg.push_str(&format!(
                "\n    {} -> {}: {}",
                w[0], w[1], edges[w[0]][w[1]]
            ));
        }
        if scc.len() > path.len() - 1 {
            msg.push_str(&format!("\n    (all in one cycle: {})", scc.join(", ")));
        }
        out.push(msg);
    }
    out
}

/// Tarjan's strongly connected components, each sorted.
fn strongly_connected<'a>(
    edges: &BTreeMap<&'a str, BTreeMap<&'a str, String>>,
) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(
        v: &'a str,
        edges: &BTreeMap<&'a str, BTreeMap<&'a str, String>>,
        s: &mut State<'a>,
    ) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for &w in edges.get(v).into_iter().flat_map(|e| e.keys()) {
            if !s.index.contains_key(w) {
                visit(w, edges, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            scc.sort_unstable();
            s.out.push(scc);
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for &v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(v, edges, &mut s);
        }
    }
    s.out
}

/// A domain module (its submodules too) uses only the domain modules before it in [`DOMAIN`].
fn domain_order(g: &Graph) -> Vec<String> {
    let rank = |m: &str| DOMAIN.iter().position(|d| *d == top(m));
    let mut out = Vec::new();
    for d in DOMAIN {
        assert!(g.has(d), "no module {d} in src/");
    }
    for f in &g.files {
        let Some(mine) = rank(&f.module) else {
            continue;
        };
        for r in &f.refs {
            if rank(&r.target).is_some_and(|theirs| theirs > mine) {
                out.push(format!(
                    "{} uses {}, which comes after it in the domain order: {}",
                    f.module,
                    r.target,
                    r.at(f)
                ));
            }
        }
    }
    out
}

/// The uses by the files of `module` of a module inside one of `forbidden`.
fn uses_of(g: &Graph, module: &str, forbidden: &[&str], rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in g.files_of(module) {
        for r in &f.refs {
            if let Some(x) = forbidden.iter().find(|x| within(&r.target, x)) {
                out.push(format!("{} uses {x}: {} ({rule})", f.module, r.at(f)));
            }
        }
    }
    out
}

/// The files among `files` whose code contains one of `texts`.
fn texts_in<'g>(files: impl Iterator<Item = &'g File>, texts: &[&str], rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        for (n, line) in f.code.lines().enumerate() {
            for t in texts {
                if line.contains(t) {
                    out.push(format!(
                        "{}:{} has `{t}` ({rule}): {}",
                        f.path,
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    out
}

/// No domain module uses `vault`, `store`, `http`, `cli` or `demo`, nor axum or RocksDB.
fn domain_outer(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for d in DOMAIN {
        out.extend(uses_of(
            g,
            d,
            OUTER,
            "the domain depends only on the domain",
        ));
        out.extend(texts_in(
            g.files_of(d),
            &["axum", "rocksdb"],
            "the domain knows no server",
        ));
    }
    out
}

/// `store` uses no other module of the crate but its own.
fn store_alone(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for f in g.files_of("store") {
        for r in f.refs.iter().filter(|r| !within(&r.target, "store")) {
            out.push(format!("{} uses {}: {}", f.module, r.target, r.at(f)));
        }
    }
    out
}

/// `vault` uses neither `http` nor `cli` nor axum.
fn vault_no_http(g: &Graph) -> Vec<String> {
    let mut out = uses_of(g, "vault", &["http", "cli"], "the vault knows no HTTP");
    out.extend(texts_in(
        g.files_of("vault"),
        &["axum", "StatusCode"],
        "the vault knows no HTTP",
    ));
    out
}

/// `cli/verify` and `cli/monitor` use neither `vault` nor `http` nor `store`; `demo` does not use
/// `http`.
fn cli_verify_and_demo(g: &Graph) -> Vec<String> {
    let mut out = uses_of(
        g,
        "cli::verify",
        &["vault", "http", "store"],
        "cli/verify depends only on the domain and verify",
    );
    out.extend(uses_of(
        g,
        "cli::monitor",
        &["vault", "http", "store"],
        "the monitor reads only what the vault serves, with the domain's checks",
    ));
    out.extend(uses_of(g, "demo", &["http"], "demo does not use http"));
    out
}

/// No file of `vault`, `demo`, `http` or `cli` but `vault/layout` builds a key or encodes a value.
fn layout_only(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for m in ["vault", "demo", "http", "cli"] {
        let files = || g.files_of(m).filter(|f| f.path != LAYOUT);
        out.extend(texts_in(
            files(),
            &[
                "extend_from_slice",
                ".to_be_bytes()",
                "serde_json::from_slice",
                "serde_json::to_vec(",
            ],
            "keys and values are built in src/vault/layout.rs",
        ));
        for f in files() {
            for (n, line) in f.code.lines().enumerate() {
                if line.contains("Table::") && line.contains(".as_bytes()") {
                    out.push(format!(
                        "{}:{}: a key built by hand: {}",
                        f.path,
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    out
}

/// Outside `vault/door`, no code takes a holder's lock or seals a holder's change.
fn door_only(g: &Graph) -> Vec<String> {
    texts_in(
        g.files.iter().filter(|f| f.path != DOOR),
        &["holder_lock(", "holder_locks(", ".seal(", "HolderGuard"],
        "only src/vault/door.rs takes holder locks and seals",
    )
}

// ---------------------------------------------------------------------------------------------
// The graph builder and the rules on made-up sources: each can see what it must, and fail.

fn made_up(files: &[(&str, &str)]) -> Graph {
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|(m, text)| (format!("src/{m}.rs"), (*text).to_owned()))
        .collect();
    graph_of(&sources)
}

fn targets(g: &Graph, module: &str) -> BTreeSet<String> {
    g.files
        .iter()
        .filter(|f| f.module == module)
        .flat_map(|f| f.refs.iter().map(|r| r.target.clone()))
        .collect()
}

#[test]
fn the_graph_sees_grouped_nested_super_self_and_inline_paths() {
    let mut files: Vec<(&str, &str)> = [
        "lib",
        "a",
        "a/k",
        "a/b/child",
        "c",
        "d",
        "d/e",
        "f",
        "f/g",
        "j",
        "m",
        "n",
        "o",
        "p",
        "z",
    ]
    .iter()
    .map(|m| (*m, ""))
    .collect();
    files.push((
        "a/b",
        r##"//! A doc link does not count: [`crate::z`], nor a block comment: /* crate::p */
use std::{io::Read, collections::BTreeMap};
use crate::{c, d::e::Thing};
use crate::{f::{self, g::{h, i as _}}, j};
use super::k;
/// Neither does [`crate::z::Z`].
fn x() {
    let _ = super::super::m::call();
    let _ = crate::n::call::<u8>(r#"crate::o"#, "crate::o", 'c', b'"');
    let _ = child::x();
    let _ = self::child::y();
}
mod tests {
    use super::*;
    use crate::m::{self};
}
"##,
    ));
    let g = made_up(&files);
    let want: BTreeSet<String> = [
        "c",
        "d::e",
        "f",
        "f::g",
        "j",
        "a::k",
        "m",
        "n",
        "a::b::child",
        "a::b",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(targets(&g, "a::b"), want);
    let f = g.files.iter().find(|f| f.module == "a::b").unwrap();
    let k = f.refs.iter().find(|r| r.target == "a::k").unwrap();
    assert_eq!((k.text.as_str(), k.line), ("crate::a::k", 5));
    assert!(!f.code.contains("doc link"), "comments are stripped");
}

/// A made-up crate: the root, every domain module (empty unless given) and `files`.
fn with_domain(files: &[(&str, &str)]) -> Graph {
    let mut all: Vec<(&str, &str)> = vec![("lib", "")];
    all.extend(
        DOMAIN
            .iter()
            .filter(|d| !files.iter().any(|(m, _)| m == *d))
            .map(|d| (*d, "")),
    );
    all.extend_from_slice(files);
    made_up(&all)
}

#[test]
fn each_rule_fails_on_a_source_made_to_break_it() {
    // A cycle between siblings, named in order.
    let g = made_up(&[
        ("lib", ""),
        ("http", ""),
        ("http/pages", "use super::sessions::Session;"),
        ("http/sessions", "use crate::http::pages::Realm;"),
    ]);
    let c = cycles(&g);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].starts_with("import cycle: http::pages -> http::sessions -> http::pages\n"),
        "{}",
        c[0]
    );

    // A parent and its child in both directions is the `impl` split, and a parent's re-export of
    // its child is no use; but a parent's code calling its child, which calls back into the
    // parent through a third module, is a cycle.
    let split = made_up(&[
        ("lib", ""),
        (
            "vault",
            "mod reuse;\npub use reuse::Pull;\nfn f() { reuse::go(); }",
        ),
        ("vault/reuse", "use super::Vault;\nuse crate::vault::At;"),
        ("q", "use crate::vault::Pull;"),
    ]);
    assert!(cycles(&split).is_empty(), "{:?}", cycles(&split));
    let round = made_up(&[
        ("lib", ""),
        (
            "vault",
            "mod reuse;\npub use reuse::Pull;\nfn f() { reuse::go(); }",
        ),
        ("vault/reuse", "use super::Vault;\nuse crate::q::Q;"),
        ("q", "use crate::vault::Pull;"),
    ]);
    let c = cycles(&round);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].starts_with("import cycle: q -> vault -> vault::reuse -> q\n"),
        "{}",
        c[0]
    );

    // A back-arrow in the domain names both modules and the file.
    let g = with_domain(&[
        (
            "lifecycle",
            "use crate::proof::parse_time;\nuse crate::verify::Status;",
        ),
        ("verify", "pub mod notice;\nfn f() { notice::check(); }"),
        (
            "verify/notice",
            "use super::Status;\nuse crate::lifecycle::status_name;",
        ),
        ("store", "use crate::codes::LicenceId;"),
    ]);
    let d = domain_order(&g);
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].starts_with("lifecycle uses verify, which comes after it")
            && d[0].ends_with("src/lifecycle.rs:2 `crate::verify::Status`"),
        "{}",
        d[0]
    );
    let c = cycles(&g);
    assert!(
        c.len() == 1
            && c[0]
                .starts_with("import cycle: lifecycle -> verify -> verify::notice -> lifecycle\n"),
        "{c:?}"
    );
    let s = store_alone(&g);
    assert!(
        s.len() == 1 && s[0].starts_with("store uses codes"),
        "{s:?}"
    );

    // The outer layers, the layout and the door.
    let g = with_domain(&[
        ("auth", "fn f() { crate::vault::open(); }"),
        (
            "vault",
            "use axum::http::StatusCode;\nfn f() { k.extend_from_slice(b\"x\"); }",
        ),
        ("vault/layout", "fn key() { k.extend_from_slice(b\"x\"); }"),
        ("vault/door", "fn seal() { self.holder_lock(h).seal(c) }"),
        (
            "vault/reuse",
            "fn f(g: HolderGuard) { /* HolderGuard */ self.holder_locks(hs); }",
        ),
        ("http", ""),
        ("cli", ""),
        ("cli/verify", "use crate::vault::Vault;"),
        ("cli/monitor", "use crate::store::Store;"),
        ("demo", "use crate::http::router;"),
        ("store", ""),
    ]);
    let o = domain_outer(&g);
    assert!(o.len() == 1 && o[0].starts_with("auth uses vault"), "{o:?}");
    let v = vault_no_http(&g);
    assert_eq!(v.len(), 2, "{v:?}");
    let c = cli_verify_and_demo(&g);
    assert!(
        c.len() == 3
            && c[0].starts_with("cli::verify uses vault")
            && c[1].starts_with("cli::monitor uses store")
            && c[2].starts_with("demo uses http"),
        "{c:?}"
    );
    let l = layout_only(&g);
    assert!(l.len() == 1 && l[0].starts_with("src/vault.rs:2"), "{l:?}");
    let d = door_only(&g);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(
        d.iter().all(|v| v.starts_with("src/vault/reuse.rs:1")),
        "{d:?}"
    );
}
