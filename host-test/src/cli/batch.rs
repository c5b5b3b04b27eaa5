//! `kakaowork-host message batch`: many messages from a JSON Lines file through one instance,
//! each under an idempotency key of its own, so that running the same file again sends only
//! what was not sent. A batch sender beside a gateway shares its budget through `--state`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use host_test::wit;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::{CliError, channel_error, describe};
use super::session::{Conn, connect, deliver_showing_progress};

/// One line of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Line {
    target: String,
    message: String,
    #[serde(default)]
    markdown: bool,
    idempotency_key: Option<String>,
}

/// A line ready to send: its number in the file and its request.
struct Item {
    line: usize,
    req: wit::SendRequest,
}

/// Reads every line before anything is sent: a bad file sends nothing.
fn read(path: &Path, account: Option<&str>) -> Result<Vec<Item>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read --file {}: {e}", path.display())))?;
    let mut items = Vec::new();
    let mut problems = Vec::new();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = match serde_json::from_str(raw) {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("line {n}: {e}"));
                continue;
            }
        };
        let format = if line.markdown {
            wit::TextFormat::Markdown
        } else {
            wit::TextFormat::Plain
        };
        let key = line
            .idempotency_key
            .unwrap_or_else(|| derived_key(n, &line.target, line.markdown, &line.message));
        if let Some(first) = keys.insert(key.clone(), n) {
            problems.push(format!(
                "line {n}: idempotency key `{key}` is already used on line {first}"
            ));
        }
        items.push(Item {
            line: n,
            req: wit::SendRequest {
                account: account.map(str::to_owned),
                target: line.target,
                text: line.message,
                idempotency_key: key,
                format,
                blocks: None,
                buttons: Vec::new(),
            },
        });
    }
    if !problems.is_empty() {
        return Err(CliError::Usage(format!(
            "{} has {} bad line(s); nothing was sent:\n  {}\neach line is a JSON object: \
             {{\"target\": \"user:10000001\", \"message\": \"...\", \"markdown\"?: true, \"idempotencyKey\"?: \"...\"}}",
            path.display(),
            problems.len(),
            problems.join("\n  ")
        )));
    }
    Ok(items)
}

/// A line's key when it names none: its number and content, so that an unchanged line keeps
/// its key when the file is run again.
fn derived_key(line: usize, target: &str, markdown: bool, message: &str) -> String {
    let mut h = Sha256::new();
    for part in [target, if markdown { "md" } else { "plain" }, message] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest[..10].iter().map(|b| format!("{b:02x}")).collect();
    format!("batch-{line}-{hex}")
}

pub fn run(file: PathBuf, retry_for: u64, conn: Conn) -> Result<(), CliError> {
    let items = read(&file, conn.account.as_deref())?;
    let mut s = connect(&conn)?;
    let (mut sent, mut failed) = (0usize, Vec::new());
    for item in &items {
        let mut first_failure: Option<Instant> = None;
        let outcome = loop {
            let report = deliver_showing_progress(&mut s.plugin, &item.req)?;
            match report.outcome {
                // The store (Redis) or KakaoWork cannot be reached: nothing was sent this
                // time; the same key resumes once it can.
                Err(e @ (wit::ChannelError::Storage(_) | wit::ChannelError::Transport(_)))
                    if first_failure.get_or_insert_with(Instant::now).elapsed()
                        < Duration::from_secs(retry_for) =>
                {
                    eprintln!("line {}: {}; trying again in 1 s…", item.line, describe(&e));
                    std::thread::sleep(Duration::from_secs(1));
                }
                other => break other,
            }
        };
        match outcome {
            Ok(r) => {
                sent += 1;
                println!(
                    "line {}: sent to {} ({} part(s), message id {}, key {})",
                    item.line,
                    item.req.target,
                    r.chunks.len(),
                    r.message_id.as_deref().unwrap_or("unknown"),
                    r.idempotency_key
                );
            }
            Err(e) => {
                let msg = channel_error(e, s.emulator.is_some()).to_string();
                println!("line {}: failed: {msg}", item.line);
                failed.push(item.line);
            }
        }
    }
    println!("{sent} sent, {} failed.", failed.len());
    if let Some(emu) = &s.emulator {
        // A batch's requests are many: their count, not each one.
        let requests = emu.requests();
        let sends = requests
            .iter()
            .filter(|r| r.path == "/v1/messages.send")
            .count();
        println!(
            "The embedded emulator received {} request(s), {sends} of them messages.send; nothing reached KakaoWork.",
            requests.len()
        );
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(CliError::Channel(format!(
        "lines {} were not sent; run the same command again: lines already sent are not sent again",
        failed
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}
