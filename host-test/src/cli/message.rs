//! `kakaowork-host message send`: one message, delivered with the plugin's deferrals honoured,
//! and a receipt (or the key to resume with). `message batch` is in `batch.rs`.

use clap::{Args, Subcommand};
use host_test::wit;

use super::error::{CliError, channel_error};
use super::output::{print_emulator_log, utc};
use super::session::{Conn, connect, deliver_showing_progress};

#[derive(Subcommand)]
pub enum MessageAction {
    /// Send a message: text, markdown, or a Block Kit card, with buttons.
    #[command(group = clap::ArgGroup::new("content").required(true).multiple(true).args(["message", "blocks"]))]
    Send(SendArgs),
    /// Send many messages from a JSON Lines file, one message per line:
    /// {"target": "user:10000001", "message": "...", "markdown"?: true, "idempotencyKey"?: "..."}.
    /// Each line has its own idempotency key (derived from the line when it names none), so
    /// running the same file again sends only what was not sent.
    Batch {
        /// The JSON Lines file.
        #[arg(long, short = 'f')]
        file: std::path::PathBuf,
        /// How long a message is retried while the state (Redis) or KakaoWork cannot be
        /// reached, in seconds; then it is reported and the batch goes on.
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        retry_for: u64,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(Args)]
pub struct SendArgs {
    /// conversation:<id>, a numeric conversation id, user:<id>, users:<id>,<id> (a new
    /// group) or email:<address>.
    #[arg(long, short = 't')]
    target: String,
    /// The text to send (long text is split into several messages); with --blocks, the
    /// notification preview.
    #[arg(long, short = 'm')]
    message: Option<String>,
    /// Read the message as markdown and send it as Block Kit blocks.
    #[arg(long, conflicts_with = "blocks")]
    markdown: bool,
    /// A Block Kit card: a JSON file holding an array of blocks or {"text", "blocks"}.
    #[arg(long, value_name = "FILE")]
    blocks: Option<std::path::PathBuf>,
    /// A button under the message, LABEL=NAME:VALUE (repeatable, up to 15); a click comes
    /// back to `serve` as an action event with NAME and VALUE.
    #[arg(long = "button", value_name = "LABEL=NAME:VALUE", value_parser = parse_button)]
    buttons: Vec<wit::ActionButton>,
    /// Resume an earlier send: chunks already delivered under this key are not sent again.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

pub fn run(action: MessageAction) -> Result<(), CliError> {
    match action {
        MessageAction::Batch {
            file,
            retry_for,
            conn,
        } => super::batch::run(file, retry_for, conn),
        MessageAction::Send(args) => send(args),
    }
}

fn send(args: SendArgs) -> Result<(), CliError> {
    let SendArgs {
        target,
        message,
        markdown,
        blocks,
        buttons,
        idempotency_key,
        conn,
    } = args;
    let blocks = match blocks {
        Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
            CliError::Usage(format!("cannot read --blocks {}: {e}", path.display()))
        })?),
        None => None,
    };
    let mut s = connect(&conn)?;
    let key = idempotency_key.unwrap_or_else(new_idempotency_key);
    let req = wit::SendRequest {
        account: conn.account.clone(),
        target: target.clone(),
        text: message.unwrap_or_default(),
        idempotency_key: key,
        format: if markdown {
            wit::TextFormat::Markdown
        } else {
            wit::TextFormat::Plain
        },
        blocks,
        buttons,
    };
    let report = deliver_showing_progress(&mut s.plugin, &req)?;
    let result = report
        .outcome
        .map_err(|e| channel_error(e, s.emulator.is_some()))
        .map_err(|e| with_resume_hint(e, &req));
    if let Some(emu) = &s.emulator {
        if result.is_ok() {
            print_receipt(result.as_ref().ok(), &target);
        }
        print_emulator_log(emu);
    } else if let Ok(r) = &result {
        print_receipt(Some(r), &target);
    }
    result.map(|_| ())
}

/// A send that failed for a reason other than its arguments: how to resume it.
fn with_resume_hint(e: CliError, req: &wit::SendRequest) -> CliError {
    match e {
        CliError::Channel(msg) => CliError::Channel(format!(
            "{msg}\nidempotency key: {key}\nto resume (parts already delivered are not sent again), run the same command with --idempotency-key {key}",
            key = req.idempotency_key
        )),
        other => other,
    }
}

/// `LABEL=NAME:VALUE`: the plugin checks the lengths and characters.
fn parse_button(s: &str) -> Result<wit::ActionButton, String> {
    let (label, rest) = s
        .split_once('=')
        .ok_or("expected LABEL=NAME:VALUE, e.g. 승인=approve:req-42")?;
    let (name, value) = rest
        .split_once(':')
        .ok_or("expected LABEL=NAME:VALUE: the name and the value are separated by `:`")?;
    Ok(wit::ActionButton {
        label: label.to_owned(),
        name: name.to_owned(),
        value: value.to_owned(),
        style: wit::ButtonStyle::Default,
    })
}

fn new_idempotency_key() -> String {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b).expect("the operating system's random generator failed");
    format!(
        "cli-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn print_receipt(r: Option<&wit::SendReceipt>, target: &str) {
    let Some(r) = r else { return };
    if r.ambiguous {
        println!(
            "Sent, but the outcome of some parts is unknown (they were not resent, to avoid duplicates)."
        );
    } else {
        println!("Sent.");
    }
    println!("  account:         {}", r.account);
    println!("  target:          {target}");
    let unknown = || "unknown".to_owned();
    println!(
        "  message id:      {}",
        r.message_id.clone().unwrap_or_else(unknown)
    );
    println!(
        "  conversation id: {}",
        r.conversation_id.clone().unwrap_or_else(unknown)
    );
    match r.send_time {
        Some(t) => println!("  send time:       {} ({t})", utc(t)),
        None => println!("  send time:       unknown"),
    }
    println!("  idempotency key: {}", r.idempotency_key);
    if r.ambiguous {
        println!(
            "  to send the unknown parts again (they may then arrive twice), set \"delivery\": \"at-least-once\" and run the same command with --idempotency-key {}",
            r.idempotency_key
        );
    }
    if r.chunks.len() > 1 {
        for c in &r.chunks {
            let state = match c.outcome {
                wit::ChunkOutcome::Sent => c.message_id.clone().unwrap_or_default(),
                wit::ChunkOutcome::Ambiguous => "unknown outcome".into(),
            };
            println!("  part {}/{}:        {state}", c.index + 1, r.chunks.len());
        }
    }
}
