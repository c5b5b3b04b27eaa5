//! The README and docs/ tell the truth about commands: every command they show in a ```bash,
//! ```sh or ```console block is run by a test, and the README stays a front door (at most 250
//! lines). Plain std: a markdown parser as a dev-dependency would be compiled for this crate
//! alone, and `.ci/run` fails when the test command compiles a crate the main job compiled.

use std::fs;
use std::path::{Path, PathBuf};

const README_MAX_LINES: usize = 250;

/// Where tests live; a command must appear in one of these files.
const TEST_TREES: [&str; 3] = ["host-test/tests", "openclaw/test", "xtask/tests"];

/// The README's two commands are run by CI itself: `.ci/run` reads each from the ```bash block
/// after the line that begins with its lead.
const CI_LEADS: [&str; 2] = ["Run the main job", "Run the tests"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// One command shown in a document: its file, the line it starts on, and the command.
#[derive(Debug, PartialEq)]
struct Shown {
    file: String,
    line: usize,
    command: String,
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The commands of a markdown text's shell blocks: backslash-continued lines joined, comments
/// and blank lines skipped; in a ```console block only the `$ ` lines (the rest is output).
fn commands(file: &str, text: &str) -> Vec<Shown> {
    let mut out = Vec::new();
    let mut block: Option<&str> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(fence) = line.strip_prefix("```") {
            match block {
                None => {
                    let lang = fence.split_whitespace().next().unwrap_or("");
                    block = Some(match lang {
                        "bash" | "sh" | "shell" => "sh",
                        "console" => "console",
                        _ => "other",
                    });
                }
                Some(_) => {
                    // A continuation left open by the block's last line still counts.
                    out.extend(pending.take().map(|(line, command)| Shown {
                        file: file.into(),
                        line,
                        command: normalise(&command),
                    }));
                    block = None;
                }
            }
            continue;
        }
        let Some(kind) = block else { continue };
        let part = match (kind, pending.is_some()) {
            ("other", _) => continue,
            (_, true) => line,
            ("console", false) => match line.strip_prefix("$ ") {
                Some(c) => c.trim(),
                None => continue,
            },
            _ => line,
        };
        if pending.is_none() && (part.is_empty() || part.starts_with('#')) {
            continue;
        }
        let (start, mut command) = pending.take().unwrap_or((i + 1, String::new()));
        match part.strip_suffix('\\') {
            Some(head) => {
                command.push_str(head);
                command.push(' ');
                pending = Some((start, command));
            }
            None => {
                command.push_str(part);
                out.push(Shown {
                    file: file.into(),
                    line: start,
                    command: normalise(&command),
                });
            }
        }
    }
    out
}

/// The command in the ```bash block after the line beginning with `lead`, as `.ci/run` reads it.
fn ci_command(readme: &str, lead: &str) -> Option<String> {
    let mut lines = readme.lines().skip_while(|l| !l.starts_with(lead));
    lines.find(|l| l.starts_with("```bash"))?;
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("```")).collect();
    Some(normalise(&body.join("\n")))
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every test source, whitespace-normalised (this file excluded: it names no command to run).
fn test_sources(root: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for tree in TEST_TREES {
        files_under(&root.join(tree), &mut files);
    }
    let me = root.join("xtask/tests/docs.rs");
    files
        .into_iter()
        .filter(|p| *p != me)
        .filter_map(|p| Some((p.clone(), normalise(&fs::read_to_string(&p).ok()?))))
        .collect()
}

fn documents(root: &Path) -> Vec<(String, String)> {
    let mut docs = vec![("README.md".to_owned(), root.join("README.md"))];
    let mut pages: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    pages.retain(|p| p.extension().is_some_and(|e| e == "md"));
    pages.sort();
    for p in pages {
        let name = format!("docs/{}", p.file_name().unwrap().to_string_lossy());
        docs.push((name, p));
    }
    docs.into_iter()
        .map(|(name, p)| {
            let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, text)
        })
        .collect()
}

#[test]
fn every_command_the_docs_show_is_run_by_a_test() {
    let root = repo();
    let sources = test_sources(&root);
    assert!(
        sources.iter().any(|(p, _)| p.ends_with("cli.rs")),
        "no test sources found under {TEST_TREES:?}"
    );
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let ci = fs::read_to_string(root.join(".ci/run")).unwrap();
    let by_ci: Vec<String> = CI_LEADS
        .iter()
        .filter(|lead| ci.contains(&format!("readme_command \"{lead}\"")))
        .filter_map(|lead| ci_command(&readme, lead))
        .collect();
    assert_eq!(
        by_ci.len(),
        2,
        "README.md: the two commands `.ci/run` runs (after the lines beginning {CI_LEADS:?}) are not both there"
    );

    let mut shown = Vec::new();
    for (name, text) in documents(&root) {
        shown.extend(commands(&name, &text));
    }
    assert!(shown.len() > 2, "no commands found in the docs: {shown:?}");
    let unrun: Vec<String> = shown
        .iter()
        .filter(|s| !(s.file == "README.md" && by_ci.contains(&s.command)))
        .filter(|s| !sources.iter().any(|(_, src)| src.contains(&s.command)))
        .map(|s| {
            format!(
                "{}:{}: `{}`\n    no test under {} runs it: add a test that runs it, or remove it from the docs",
                s.file,
                s.line,
                s.command,
                TEST_TREES.join(", ")
            )
        })
        .collect();
    assert!(
        unrun.is_empty(),
        "{} command(s) shown in the docs are run by no test:\n{}",
        unrun.len(),
        unrun.join("\n")
    );
}

#[test]
fn the_readme_is_at_most_250_lines() {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let n = readme.lines().count();
    assert!(
        n <= README_MAX_LINES,
        "README.md has {n} lines; at most {README_MAX_LINES}: move detail to a page under docs/ and link it"
    );
}

#[test]
fn commands_are_read_from_shell_blocks_only() {
    let md = "\
text
```bash
# a comment
cargo run -p host-test -- message send \\
  --target user:1   --message \"hi\"

npm test
```
```text
not a command
```
```console
$ openclaw channels status
output line
```
```sh
echo left open \\
```
";
    let got: Vec<(usize, String)> = commands("x.md", md)
        .into_iter()
        .map(|s| (s.line, s.command))
        .collect();
    assert_eq!(
        got,
        [
            (
                4,
                "cargo run -p host-test -- message send --target user:1 --message \"hi\"".into()
            ),
            (7, "npm test".into()),
            (13, "openclaw channels status".into()),
            (17, "echo left open".into()),
        ]
    );
    assert_eq!(
        ci_command(
            "Run the tests (all):\n\n```bash\ncargo xtask test\n```\n",
            "Run the tests"
        ),
        Some("cargo xtask test".into())
    );
}
