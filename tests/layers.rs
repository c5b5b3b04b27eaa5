//! The guest's shape, checked so that it cannot drift: each layer folder of `src/` names only
//! the layers below it, no two modules use each other (directly or round about), and every KV
//! key prefix is spelled in `src/state/keys.rs` alone. Read from the sources (`use crate::`,
//! `super::` and child-module paths), test code left out: tests drive the whole channel.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first; a layer may use the layers before it and itself.
const LAYERS: &[&str] = &[
    "contract",
    "model",
    "render",
    "state",
    "api",
    "pipelines",
    "boundary",
];

const KEYS_MODULE: &str = "state::keys";

struct Module {
    file: PathBuf,
    /// The source without comments and test code.
    code: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn is_test_module(path: &str) -> bool {
    let last = path.rsplit("::").next().unwrap_or(path);
    last == "tests" || last.ends_with("_tests") || last == "fakes" || last == "testkit"
}

/// `a/b.rs` -> `a::b`, `a/mod.rs` -> `a`, `lib.rs` -> ``.
fn module_path(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// Drops comment lines and everything from a `#[cfg(test)]` attribute to the end of the item
/// it marks (a test module at a file's end, or a test-only function).
fn strip(source: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<i32> = None;
    let mut pending_test = false;
    for line in source.lines() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if let Some(depth) = skip_depth.as_mut() {
            *depth += brace_delta(line);
            if *depth <= 0 && (line.contains('}') || line.trim_end().ends_with(';')) {
                skip_depth = None;
            }
            continue;
        }
        if t.starts_with("#[cfg(test)]") {
            pending_test = true;
            continue;
        }
        if pending_test {
            if t.starts_with("#[") {
                continue;
            }
            pending_test = false;
            let depth = brace_delta(line);
            if depth > 0 {
                skip_depth = Some(depth);
            } else if !line.trim_end().ends_with(';') && !line.contains('}') {
                // A signature over several lines: skip until its body closes.
                skip_depth = Some(0);
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn brace_delta(line: &str) -> i32 {
    line.chars()
        .map(|c| match c {
            '{' => 1,
            '}' => -1,
            _ => 0,
        })
        .sum()
}

fn modules() -> BTreeMap<String, Module> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = module_path(path.strip_prefix(src()).unwrap());
                let code = strip(&std::fs::read_to_string(&path).unwrap());
                out.insert(name, Module { file: path, code });
            }
        }
    }
    out
}

/// Identifier paths (`a::b::c`) in `code`, after `prefix`.
fn paths_after<'a>(code: &'a str, prefix: &'a str) -> impl Iterator<Item = Vec<String>> + 'a {
    code.match_indices(prefix).filter_map(move |(i, _)| {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            return None;
        }
        let rest = &code[i + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let segs: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (!segs.is_empty()).then_some(segs)
    })
}

/// The longest module that `segs` (from the crate root) names, if any.
fn resolve(all: &BTreeMap<String, Module>, segs: &[String]) -> Option<String> {
    (1..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find(|m| all.contains_key(m))
}

/// Which modules each (non-test) module uses.
fn edges(all: &BTreeMap<String, Module>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, m) in all {
        if is_test_module(name) || name.is_empty() {
            continue;
        }
        let parent: Vec<String> = name
            .split("::")
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, p)| p.to_vec())
            .unwrap_or_default();
        let mut uses = BTreeSet::new();
        for segs in paths_after(&m.code, "crate::") {
            uses.extend(resolve(all, &segs));
        }
        for segs in paths_after(&m.code, "super::") {
            let mut full = parent.clone();
            full.extend(segs);
            uses.extend(resolve(all, &full));
        }
        // A child module used by its plain name (`compose::parts(...)`).
        let prefix = if name.is_empty() {
            String::new()
        } else {
            format!("{name}::")
        };
        for child in all.keys().filter_map(|k| k.strip_prefix(&prefix)) {
            if child.contains("::") || is_test_module(child) {
                continue;
            }
            let needle = format!("{child}::");
            if paths_after(&m.code, &needle).next().is_some()
                || m.code.contains(&format!("use {child};"))
            {
                uses.insert(format!("{name}::{child}"));
            }
        }
        // Using the layer's own `mod.rs` or an ancestor for its children is not a use.
        uses.retain(|u| u != name && !name.starts_with(&format!("{u}::")) && !u.is_empty());
        uses.retain(|u| !LAYERS.contains(&u.as_str()));
        out.insert(name.clone(), uses);
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    let top = module.split("::").next()?;
    LAYERS.iter().position(|l| *l == top)
}

#[test]
fn every_module_lives_in_a_layer() {
    let all = modules();
    let loose: Vec<&String> = all
        .keys()
        .filter(|m| !m.is_empty() && !is_test_module(m) && layer_of(m).is_none())
        .collect();
    assert!(
        loose.is_empty(),
        "modules outside the layer folders {LAYERS:?}: {loose:?}; move each into the folder of \
         what it holds (or add a layer to LAYERS and to the list in src/lib.rs)"
    );
}

#[test]
fn no_layer_names_a_layer_above_it() {
    let all = modules();
    let mut wrong = Vec::new();
    for (from, uses) in edges(&all) {
        let Some(lf) = layer_of(&from) else { continue };
        for to in uses {
            if let Some(lt) = layer_of(&to)
                && lt > lf
            {
                wrong.push(format!(
                    "{} ({}) uses {to} ({})",
                    from, LAYERS[lf], LAYERS[lt]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "a layer names a layer above it (order, bottom first: {LAYERS:?}):\n  {}\n\
         move the shared piece down, or pass the value in from above",
        wrong.join("\n  ")
    );
}

/// The first cycle found, as `a -> b -> a`.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next.as_str()) {
                Some(Mark::Open) => {
                    let start = path.iter().position(|p| p == next).unwrap();
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(c) = visit(next, graph, marks, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if !marks.contains_key(node)
            && let Some(c) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_module_cycle() {
    let graph = edges(&modules());
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "guest modules use each other: {}\nmove what both need into a module below them",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g = |pairs: &[(&str, &str)]| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            m.entry((*a).into()).or_default().insert((*b).into());
            m.entry((*b).into()).or_default();
        }
        m
    };
    assert_eq!(
        find_cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
}

#[test]
fn the_scan_reads_uses_and_leaves_tests_out() {
    let code = strip(
        "use crate::state::keys;\n// crate::api::x in a comment\nfn f() { super::g(); }\n\
         #[cfg(test)]\nfn only_in_tests() {\n    crate::boundary::x();\n}\n#[cfg(test)]\nmod tests;\n",
    );
    let found: Vec<Vec<String>> = paths_after(&code, "crate::").collect();
    assert_eq!(found, vec![vec!["state".to_owned(), "keys".to_owned()]]);
    assert_eq!(paths_after(&code, "super::").count(), 1);
}

/// A string literal that starts like a versioned KV key: `"name/v1/`.
fn key_prefixes(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices('"') {
        let rest = &code[i + 1..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c == '-'))
            .unwrap_or(0);
        if name_len == 0 {
            continue;
        }
        let after = &rest[name_len..];
        if let Some(v) = after.strip_prefix("/v") {
            let digits = v.chars().take_while(char::is_ascii_digit).count();
            if digits > 0 && v[digits..].starts_with('/') {
                out.push(rest[..name_len + 2 + digits + 1].to_owned());
            }
        }
    }
    out
}

#[test]
fn kv_key_prefixes_are_spelled_in_the_keys_module_only() {
    let all = modules();
    assert!(
        !key_prefixes(&all[KEYS_MODULE].code).is_empty(),
        "{KEYS_MODULE} names no key: the scan below would prove nothing"
    );
    let mut stray = Vec::new();
    for (name, m) in &all {
        if name == KEYS_MODULE || is_test_module(name) {
            continue;
        }
        for p in key_prefixes(&m.code) {
            stray.push(format!("{}: \"{p}", m.file.display()));
        }
    }
    assert!(
        stray.is_empty(),
        "KV key prefixes outside src/state/keys.rs:\n  {}\nadd the key to src/state/keys.rs (its \
         prefix, value, TTL and writer in the table there) and call it from here",
        stray.join("\n  ")
    );
    assert_eq!(
        key_prefixes(r#"let k = "ledger/v1/"; "/v1/""#),
        vec!["ledger/v1/"]
    );
}
