//! The host's sources keep one-way dependencies: no module of `host-test/src` (one file, one
//! module) uses a module that uses it back, directly or through others. A cycle is how the
//! emulator's world, directory and HTTP layer once ended up calling into each other.
//!
//! The scan reads the module tree from `lib.rs` and `main.rs` (`mod x;` declarations), then the
//! paths each file names: `crate::`, `super::`, `self::` and a child module's name. Comments,
//! strings and `#[cfg(test)]` items are skipped (a test module may use anything it tests), and a
//! module's `pub use` of its own submodules is its public face, not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path from its crate root: `["runtime", "kv"]`; the root is `[]`.
type ModPath = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Tokens with their line numbers, without comments, string and character literals or
/// lifetimes.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, vec![]);
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && matches!(at(i + 2), '"' | '#')))
            || ch == 'b' && at(i + 1) == 'r' && matches!(at(i + 2), '"' | '#')
        {
            // A raw string: r"..", r#".."#, br"..".
            i += if ch == 'b' { 2 } else { 1 };
            let hashes = c[i..].iter().take_while(|&&h| h == '#').count();
            i += hashes + 1;
            while i < c.len() {
                if c[i] == '"'
                    && c[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    i += 1 + hashes;
                    break;
                }
                line += usize::from(c[i] == '\n');
                i += 1;
            }
        } else if ch == '"' || (ch == 'b' && at(i + 1) == '"') {
            i += if ch == 'b' { 2 } else { 1 };
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if ch == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(c[start..i].iter().collect()), line));
        } else if ch == ':' && at(i + 1) == ':' {
            out.push((Tok::Sep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn punct(t: Option<&(Tok, usize)>, p: char) -> bool {
    matches!(t, Some((Tok::Punct(q), _)) if *q == p)
}

/// Index after the item starting at `i`: its `;`, or the `}` closing its first brace group.
fn item_end(toks: &[(Tok, usize)], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// The tokens without `#[cfg(test)]` items.
fn without_tests(toks: Vec<(Tok, usize)>) -> Vec<(Tok, usize)> {
    let is_cfg_test = |i: usize| {
        punct(toks.get(i), '#')
            && punct(toks.get(i + 1), '[')
            && ident(toks.get(i + 2)) == Some("cfg")
            && punct(toks.get(i + 3), '(')
            && ident(toks.get(i + 4)) == Some("test")
            && punct(toks.get(i + 5), ')')
            && punct(toks.get(i + 6), ']')
    };
    let mut out = vec![];
    let mut i = 0;
    while i < toks.len() {
        if is_cfg_test(i) {
            i = item_end(&toks, i + 7);
        } else {
            out.push(toks[i].clone());
            i += 1;
        }
    }
    out
}

/// A path named in a file: where it resolves from, its segments, and whether it is re-exported.
struct Named {
    /// The inline module it is written in (the file's module, or one declared inside it).
    from: ModPath,
    segs: Vec<String>,
    line: usize,
    public_use: bool,
}

/// The use-tree at `i` (`a::b`, `a::{b, c::d}`, `a::*`), flattened onto `prefix`.
fn use_tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut segs = prefix;
    loop {
        match toks.get(i).map(|t| &t.0) {
            Some(Tok::Ident(s)) => {
                if s != "self" || segs.is_empty() {
                    segs.push(s.clone());
                }
                i += 1;
            }
            Some(Tok::Punct('*')) => {
                segs.push("*".into());
                i += 1;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                while !punct(toks.get(i), '}') && i < toks.len() {
                    i = use_tree(toks, i, segs.clone(), out);
                    if punct(toks.get(i), ',') {
                        i += 1;
                    }
                }
                return i + 1;
            }
            _ => break,
        }
        if matches!(toks.get(i).map(|t| &t.0), Some(Tok::Sep)) {
            i += 1;
        } else {
            break;
        }
    }
    // `x as y`
    if ident(toks.get(i)) == Some("as") {
        i += 2;
    }
    out.push(segs);
    i
}

/// The paths that a file's tokens name, in the inline module they are written in.
fn named_paths(
    toks: &[(Tok, usize)],
    file_mod: &ModPath,
    children: &BTreeSet<String>,
) -> Vec<Named> {
    let mut out = vec![];
    // Inline modules open at these brace depths.
    let mut inline: Vec<(String, usize)> = vec![];
    let mut depth = 0usize;
    let here = |inline: &[(String, usize)]| {
        let mut m = file_mod.clone();
        m.extend(inline.iter().map(|(n, _)| n.clone()));
        m
    };
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = &toks[i];
        match tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some(name), true) = (ident(toks.get(i + 1)), punct(toks.get(i + 2), '{')) {
                    inline.push((name.to_owned(), depth));
                }
            }
            Tok::Ident(kw) if kw == "use" => {
                let public_use = ident(i.checked_sub(1).and_then(|p| toks.get(p))) == Some("pub")
                    || punct(i.checked_sub(1).and_then(|p| toks.get(p)), ')');
                let mut trees = vec![];
                let end = use_tree(toks, i + 1, vec![], &mut trees);
                let from = here(&inline);
                for segs in trees {
                    out.push(Named {
                        from: from.clone(),
                        segs,
                        line: *line,
                        public_use,
                    });
                }
                i = end;
                continue;
            }
            Tok::Ident(first) => {
                let after_sep = i > 0 && matches!(toks[i - 1].0, Tok::Sep);
                let is_child = inline.is_empty() && children.contains(first);
                if !after_sep
                    && matches!(toks.get(i + 1).map(|t| &t.0), Some(Tok::Sep))
                    && (matches!(first.as_str(), "crate" | "super" | "self") || is_child)
                {
                    let mut segs = vec![first.clone()];
                    let mut j = i + 1;
                    while matches!(toks.get(j).map(|t| &t.0), Some(Tok::Sep)) {
                        match ident(toks.get(j + 1)) {
                            Some(s) => segs.push(s.to_owned()),
                            None => break,
                        }
                        j += 2;
                    }
                    out.push(Named {
                        from: here(&inline),
                        segs,
                        line: *line,
                        public_use: false,
                    });
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// `mod x;` declarations of a file (not `#[cfg(test)]` ones, which are gone by now).
fn declared_children(toks: &[(Tok, usize)]) -> Vec<String> {
    (0..toks.len())
        .filter(|&i| ident(toks.get(i)) == Some("mod") && punct(toks.get(i + 2), ';'))
        .filter_map(|i| ident(toks.get(i + 1)).map(str::to_owned))
        .collect()
}

struct Module {
    file: PathBuf,
    toks: Vec<(Tok, usize)>,
    children: BTreeSet<String>,
}

/// The file modules of the crate whose root is `root`, by path.
fn module_tree(root: &Path) -> BTreeMap<ModPath, Module> {
    let mut mods = BTreeMap::new();
    let mut todo = vec![(vec![], root.to_path_buf())];
    while let Some((path, file)) = todo.pop() {
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let toks = without_tests(tokenize(&src));
        let children: BTreeSet<String> = declared_children(&toks).into_iter().collect();
        // Children of `a.rs` live in `a/`; of `lib.rs`, `main.rs` and `mod.rs`, beside them.
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let dir = if path.is_empty() || stem == "mod" {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        for c in &children {
            let flat = dir.join(format!("{c}.rs"));
            let nested = dir.join(c).join("mod.rs");
            let child_file = if flat.exists() { flat } else { nested };
            assert!(
                child_file.exists(),
                "{}: no file for `mod {c};`",
                file.display()
            );
            let mut child = path.clone();
            child.push(c.clone());
            todo.push((child, child_file));
        }
        mods.insert(
            path,
            Module {
                file,
                toks,
                children,
            },
        );
    }
    mods
}

fn show(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// Edges between file modules: `from -> to`, with where the first use of each is.
type Edges = BTreeMap<ModPath, BTreeMap<ModPath, String>>;

fn edges(mods: &BTreeMap<ModPath, Module>, src_dir: &Path) -> Edges {
    let mut edges = Edges::new();
    for (path, m) in mods {
        for n in named_paths(&m.toks, path, &m.children) {
            // Resolve the path's start to a module path of the crate.
            let mut base = n.from.clone();
            let mut rest = &n.segs[..];
            match rest[0].as_str() {
                "crate" => {
                    base.clear();
                    rest = &rest[1..];
                }
                "self" => rest = &rest[1..],
                "super" => {
                    while rest.first().is_some_and(|s| s == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                }
                // A child module named by itself (only file-level, in `path` itself).
                c if m.children.contains(c) && n.from == *path => {}
                // Another crate, or an item in scope.
                _ => continue,
            }
            let mut full = base;
            full.extend(rest.iter().cloned());
            // The file module that holds what the path names: its longest module prefix.
            let target = (0..=full.len())
                .rev()
                .map(|k| full[..k].to_vec())
                .find(|p| mods.contains_key(p))
                .unwrap();
            let is_descendant = target.len() > path.len() && target.starts_with(path);
            if target == *path || (n.public_use && is_descendant) {
                continue;
            }
            let file = m
                .file
                .strip_prefix(src_dir)
                .unwrap_or(&m.file)
                .display()
                .to_string();
            edges
                .entry(path.clone())
                .or_default()
                .entry(target)
                .or_insert_with(|| format!("{file}:{} names {}", n.line, n.segs.join("::")));
        }
    }
    edges
}

/// The shortest cycle through each use that is on one (each cycle once, from its first module),
/// as the modules along it (the first one again at the end) and where each step's use is.
fn cycles(edges: &Edges) -> Vec<(Vec<ModPath>, Vec<String>)> {
    let mut found = BTreeMap::new();
    for (from, targets) in edges {
        for to in targets.keys() {
            // Breadth first from `to`, until a step leads back to `from`.
            let mut prev: BTreeMap<&ModPath, &ModPath> = BTreeMap::from([(to, from)]);
            let mut queue = std::collections::VecDeque::from([to]);
            while let Some(n) = queue.pop_front() {
                if n == from {
                    break;
                }
                for t in edges.get(n).into_iter().flat_map(|t| t.keys()) {
                    if !prev.contains_key(t) {
                        prev.insert(t, n);
                        queue.push_back(t);
                    }
                }
            }
            if !prev.contains_key(from) {
                continue;
            }
            let mut path = vec![];
            let mut n = prev[from];
            while n != from {
                path.push(n.clone());
                n = prev[n];
            }
            path.push(from.clone());
            path.reverse();
            // The same cycle found from another of its uses starts at its first module.
            let first = (0..path.len()).min_by_key(|&i| &path[i]).unwrap();
            path.rotate_left(first);
            path.push(path[0].clone());
            let why = path
                .windows(2)
                .map(|w| edges[&w[0]][&w[1]].clone())
                .collect();
            found.insert(path, why);
        }
    }
    found.into_iter().collect()
}

/// The cycles of the crates rooted at `roots` in `src_dir`, described.
fn cycle_report(src_dir: &Path, roots: &[&str]) -> (Vec<String>, usize) {
    let mut found = vec![];
    let mut edge_count = 0;
    for root in roots {
        let mods = module_tree(&src_dir.join(root));
        let edges = edges(&mods, src_dir);
        edge_count += edges.values().map(BTreeMap::len).sum::<usize>();
        for (path, why) in cycles(&edges) {
            let names: Vec<String> = path.iter().map(|m| show(m)).collect();
            found.push(format!(
                "import cycle in {root}: {}\n    {}",
                names.join(" -> "),
                why.join("\n    ")
            ));
        }
    }
    (found, edge_count)
}

#[test]
fn the_host_sources_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (cycles, edges) = cycle_report(&src, &["lib.rs", "main.rs"]);
    // A scan that sees nothing would pass for the wrong reason.
    assert!(
        edges > 20,
        "the scan found only {edges} uses between modules"
    );
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

#[test]
fn the_scan_names_a_cycle_through_super_crate_and_child_paths() {
    let dir = std::env::temp_dir().join(format!("host-test-layout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a")).unwrap();
    let files = [
        (
            "lib.rs",
            "pub mod a;\npub mod b;\n/// crate::b::x in a comment\nfn f() {}\n",
        ),
        // `a` calls down into its child `c`, which calls `b`, which calls back into `a`.
        (
            "a.rs",
            "mod c;\npub use c::Re;\npub fn go() { c::down(); }\n",
        ),
        (
            "a/c.rs",
            "pub struct Re;\npub fn down() { crate::b::up(); }\n",
        ),
        (
            "b.rs",
            "use std::fmt;\n#[cfg(test)]\nmod tests { use crate::b::*; }\npub fn up() {\n    let s = \"super::a\";\n    super::a::go();\n}\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let (cycles, _) = cycle_report(&dir, &["lib.rs"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(
        cycles[0].starts_with("import cycle in lib.rs: a -> a::c -> b -> a\n"),
        "{}",
        cycles[0]
    );
    assert!(
        cycles[0].contains("b.rs:6 names super::a::go"),
        "{}",
        cycles[0]
    );
}
