//! `kakaowork-host directory`: find members, conversations and departments (every page, with
//! an optional query), one member by id or e-mail, a conversation's members, the workspace.

use clap::Subcommand;
use host_test::wit;
use serde_json::{Value, json};

use super::error::CliError;
use super::session::{Conn, call, connect};

#[derive(Subcommand)]
pub enum DirectoryAction {
    /// The workspace's members (users.list, every page).
    Users(ListArgs),
    /// The conversations the bot is a member of (conversations.list, every page).
    Conversations(ListArgs),
    /// The workspace's departments (departments.list, every page).
    Departments(ListArgs),
    /// One member, by user:<id>, a numeric id or an e-mail address.
    User {
        who: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// The members of a conversation the bot is in.
    Members {
        /// conversation:<id> or its number.
        conversation: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// The workspace (spaces.info).
    Space {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Keep entries whose id, name, nickname, e-mail or code contains this (case-insensitive).
    #[arg(long, short = 'q')]
    query: Option<String>,
    /// One JSON array on stdout instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    conn: Conn,
}

pub fn run(action: DirectoryAction) -> Result<(), CliError> {
    match action {
        DirectoryAction::Users(a) => list(a, wit::DirectoryKind::Users),
        DirectoryAction::Conversations(a) => list(a, wit::DirectoryKind::Conversations),
        DirectoryAction::Departments(a) => list(a, wit::DirectoryKind::Departments),
        DirectoryAction::User { who, json, conn } => {
            let mut s = connect(&conn)?;
            let account = conn.account.as_deref();
            let m = call(&mut s, |s| s.plugin.lookup_member(account, &who))?;
            print(json, vec![member_json(&m)], &member_line);
            Ok(())
        }
        DirectoryAction::Members {
            conversation,
            json,
            conn,
        } => {
            let mut s = connect(&conn)?;
            let account = conn.account.as_deref();
            let ms = call(&mut s, |s| {
                s.plugin.conversation_members(account, &conversation)
            })?;
            print(json, ms.iter().map(member_json).collect(), &member_line);
            Ok(())
        }
        DirectoryAction::Space { json, conn } => {
            let mut s = connect(&conn)?;
            let account = conn.account.as_deref();
            let sp = call(&mut s, |s| s.plugin.space(account))?;
            let v = json!({"id": sp.id, "name": sp.name});
            if json {
                println!("{v}");
            } else {
                println!("{}  {}", sp.id, sp.name);
            }
            Ok(())
        }
    }
}

fn list(a: ListArgs, kind: wit::DirectoryKind) -> Result<(), CliError> {
    let mut s = connect(&a.conn)?;
    let q = wit::DirectoryQuery {
        account: a.conn.account.clone(),
        kind,
        query: a.query.clone(),
    };
    let listing = call(&mut s, |s| s.plugin.directory(&q))?;
    let (rows, line): (Vec<Value>, &Line) = match &listing {
        wit::DirectoryListing::Users(us) => (us.iter().map(member_json).collect(), &member_line),
        wit::DirectoryListing::Conversations(cs) => (
            cs.iter()
                .map(|c| {
                    json!({"id": c.id, "type": match c.chat_type {
                        wit::ChatType::Direct => "direct",
                        wit::ChatType::Group => "group",
                    }, "name": c.name, "members": c.members_count})
                })
                .collect(),
            &|v: &Value| {
                format!(
                    "{:<12} {:<6} {:>4}  {}",
                    text(&v["id"]),
                    text(&v["type"]),
                    v["members"],
                    text(&v["name"])
                )
            },
        ),
        wit::DirectoryListing::Departments(ds) => (
            ds.iter()
                .map(|d| {
                    json!({"id": d.id, "name": d.name, "code": d.code, "parent_id": d.parent_id,
                           "depth": d.depth, "ids_path": d.ids_path, "members": d.member_count,
                           "member_ids": d.member_ids, "leader_ids": d.leader_ids})
                })
                .collect(),
            &|v: &Value| {
                format!(
                    "{:<10} {:<10} {:>4}  {}{}",
                    text(&v["id"]),
                    text(&v["code"]),
                    v["members"],
                    "  ".repeat(v["depth"].as_u64().unwrap_or(0) as usize),
                    text(&v["name"])
                )
            },
        ),
    };
    print(a.json, rows, line);
    Ok(())
}

/// How one entry is printed as a table row.
type Line = dyn Fn(&Value) -> String;

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_owned()
}

fn member_json(m: &wit::Member) -> Value {
    json!({
        "id": m.id, "name": m.name, "display_name": m.display_name, "nickname": m.nickname,
        "email": m.email, "other_emails": m.other_emails, "department": m.department,
        "position": m.position, "responsibility": m.responsibility,
        "status": match m.status {
            wit::MemberStatus::Activated => "activated",
            wit::MemberStatus::Deactivated => "deactivated",
            wit::MemberStatus::Unknown => "unknown",
        },
    })
}

fn member_line(v: &Value) -> String {
    format!(
        "{:<10} {:<8} {:<32} {}",
        text(&v["id"]),
        text(&v["name"]),
        text(&v["email"]),
        text(&v["department"])
    )
}

/// A JSON array, or one line per entry and a count on stderr.
fn print(json: bool, rows: Vec<Value>, line: &Line) {
    if json {
        println!("{}", Value::Array(rows));
        return;
    }
    for r in &rows {
        println!("{}", line(r));
    }
    eprintln!("{} found", rows.len());
}
