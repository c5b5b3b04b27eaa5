//! The directory through wasmtime against the emulator, and as `kakaowork-host directory`.

mod common;

use common::*;
use host_test::emulator::{Emulator, EmulatorOptions, Seed};
use host_test::wit::{self, DirectoryKind, DirectoryListing, DirectoryQuery};
use serde_json::{Value, json};

fn query(kind: DirectoryKind, q: Option<&str>) -> DirectoryQuery {
    DirectoryQuery {
        account: None,
        kind,
        query: q.map(Into::into),
    }
}

fn users(l: DirectoryListing) -> Vec<wit::Member> {
    match l {
        DirectoryListing::Users(u) => u,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_seeded_user_is_listed_across_pages_with_the_cursor_alone() {
    let mut r = rig();
    let all = users(
        r.plugin
            .directory(&query(DirectoryKind::Users, None))
            .unwrap()
            .unwrap(),
    );
    assert_eq!(all.len(), 255);
    let mut ids: Vec<_> = all.iter().map(|u| u.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 255, "no member twice");
    let pages: Vec<_> = r
        .emulator
        .requests()
        .into_iter()
        .filter(|q| q.path == "/v1/users.list")
        .collect();
    assert_eq!(pages.len(), 3, "100 + 100 + 55");
    assert_eq!(pages[0].query, "limit=100");
    for p in &pages {
        assert_eq!(
            p.status, 200,
            "the emulator refuses a cursor with anything else"
        );
    }
    for p in &pages[1..] {
        assert!(
            p.query.starts_with("cursor=") && !p.query.contains('&'),
            "{}",
            p.query
        );
    }
}

#[test]
fn a_query_finds_members_by_name_and_by_email() {
    let mut r = rig();
    let by_name = users(
        r.plugin
            .directory(&query(DirectoryKind::Users, Some("김민수")))
            .unwrap()
            .unwrap(),
    );
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0].id, "10000001");
    assert_eq!(by_name[0].email.as_deref(), Some("minsu.kim@example.co.kr"));

    let before = r.emulator.requests().len();
    let by_mail = users(
        r.plugin
            .directory(&query(
                DirectoryKind::Users,
                Some("member042@example.co.kr"),
            ))
            .unwrap()
            .unwrap(),
    );
    assert_eq!(by_mail.len(), 1);
    assert_eq!(by_mail[0].id, "10000042");
    let asked: Vec<_> = r.emulator.requests()[before..]
        .iter()
        .map(|q| q.path.clone())
        .collect();
    assert_eq!(
        asked,
        ["/v1/users.find_by_email"],
        "one request, not every page"
    );

    // Directory calls spend the rate budget like sends: let it refill.
    r.clock.advance(60_000);
    let m = r
        .plugin
        .lookup_member(None, "user:10000003")
        .unwrap()
        .unwrap();
    assert_eq!(m.name, "박지훈");
    let e = r.plugin.lookup_member(None, "user:1").unwrap().unwrap_err();
    assert!(
        matches!(&e, wit::ChannelError::Api(f) if f.code == "user_not_found"),
        "{e:?}"
    );
}

#[test]
fn conversations_departments_members_and_the_space() {
    let mut r = rig();
    let convs = match r
        .plugin
        .directory(&query(DirectoryKind::Conversations, Some("채널 1")))
        .unwrap()
        .unwrap()
    {
        DirectoryListing::Conversations(c) => c,
        other => panic!("{other:?}"),
    };
    // 채널 1, 10-19.
    assert_eq!(convs.len(), 11, "{convs:?}");
    assert!(convs.iter().all(|c| c.chat_type == wit::ChatType::Group));

    let deps = match r
        .plugin
        .directory(&query(DirectoryKind::Departments, None))
        .unwrap()
        .unwrap()
    {
        DirectoryListing::Departments(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(deps.len(), 5);
    let team = deps.iter().find(|d| d.name == "플랫폼개발팀").unwrap();
    assert_eq!(team.parent_id.as_deref(), Some("400002"));
    assert!(team.member_ids.contains(&"10000001".to_owned()));
    assert_eq!(team.member_count as usize, team.member_ids.len());

    let members = r
        .plugin
        .conversation_members(None, "conversation:3000001")
        .unwrap()
        .unwrap();
    let ids: Vec<_> = members.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["10000001", "10000002"]);
    let space = r.plugin.space(None).unwrap().unwrap();
    assert_eq!(space.name, "Example Corp.");
}

#[test]
fn a_group_target_opens_one_group_and_a_resumed_send_reuses_it() {
    let mut r = rig();
    let mut req = send_req("users:10000002,10000003", "배포가 끝났습니다");
    let first = r.plugin.send(&req).unwrap().unwrap();
    let conv = first.conversation_id.clone().unwrap();
    req.text = "배포가 끝났습니다".into();
    let again = r.plugin.send(&req).unwrap().unwrap();
    assert_eq!(again.conversation_id.as_deref(), Some(conv.as_str()));
    let opens: Vec<_> = r
        .emulator
        .requests()
        .into_iter()
        .filter(|q| q.path == "/v1/conversations.open")
        .collect();
    assert_eq!(opens.len(), 1);
    let body: Value = serde_json::from_slice(&opens[0].body).unwrap();
    assert_eq!(body, json!({"user_ids": [10000002u64, 10000003u64]}));
    let members = r.plugin.conversation_members(None, &conv).unwrap().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(r.emulator.posted().len(), 1);
}

#[test]
fn the_emulator_serves_a_seed_from_a_json_file() {
    let dir = std::env::temp_dir().join(format!("kw-seed-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.json");
    std::fs::write(
        &path,
        json!({
            "users": [
                {"id": 20000001, "name": "한가람", "email": "garam@corp.example", "department": "연구소"},
                {"id": 20000002, "name": "Lee Sun", "email": "sun@corp.example", "emails": ["sun.lee@home.example"]}
            ],
            "departments": [{"id": 1, "name": "Corp"}, {"id": 2, "name": "연구소", "parent_id": 1, "code": "LAB"}]
        })
        .to_string(),
    )
    .unwrap();
    let seed = Seed::load(&path).unwrap();
    let emu = Emulator::start(EmulatorOptions {
        seed,
        ..Default::default()
    })
    .unwrap();
    let mut r = rig_with_emulator(emu);
    let found = users(
        r.plugin
            .directory(&query(DirectoryKind::Users, Some("sun.lee@home.example")))
            .unwrap()
            .unwrap(),
    );
    assert_eq!(
        found.len(),
        1,
        "another profile e-mail is found in the list"
    );
    assert_eq!(found[0].id, "20000002");
    let deps = match r
        .plugin
        .directory(&query(DirectoryKind::Departments, Some("lab")))
        .unwrap()
        .unwrap()
    {
        DirectoryListing::Departments(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0].member_ids, ["20000001"]);
    assert_eq!(deps[0].ids_path, "1/2");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_directory_command_lists_finds_and_prints_json() {
    let state = std::env::temp_dir().join(format!("kw-dir-cli-{}", std::process::id()));
    let run = |args: &[&str]| common::cli::run(&state, args);
    let (rc, out, err) = run(&["directory", "users", "--json"]);
    assert_eq!(rc, 0, "{err}");
    let all: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(all.len(), 255);

    let (rc, out, err) = run(&["directory", "users", "--query", "minsu.kim@example.co.kr"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("10000001") && out.contains("김민수"), "{out}");
    assert!(err.contains("1 found"), "{err}");

    let (rc, out, _) = run(&["directory", "departments"]);
    assert_eq!(rc, 0);
    assert!(
        out.contains("DEV-PLT") && out.contains("플랫폼개발팀"),
        "{out}"
    );
    let (rc, out, _) = run(&["directory", "conversations", "--query", "프로젝트 채널 23"]);
    assert_eq!(rc, 0);
    assert!(out.contains("3000023") && out.contains("group"), "{out}");
    let (rc, out, _) = run(&["directory", "user", "yh.lee@example.co.kr", "--json"]);
    assert_eq!(rc, 0);
    let one: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(one[0]["id"], "10000002");
    let (rc, out, _) = run(&["directory", "members", "3000001"]);
    assert_eq!(rc, 0);
    assert!(
        out.contains("10000001") && out.contains("10000002"),
        "{out}"
    );
    let (rc, out, _) = run(&["directory", "space"]);
    assert_eq!(rc, 0);
    assert!(out.contains("Example Corp."), "{out}");

    // A bad argument: a clear message, exit 2, no request.
    let (rc, _, err) = run(&["directory", "user", "#general"]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("names no member"), "{err}");
    let (rc, _, err) = run(&["emulator", "--seed", "/nonexistent/seed.json"]);
    assert_ne!(rc, 0);
    assert!(err.contains("cannot read the seed file"), "{err}");
    let _ = std::fs::remove_dir_all(&state);
}
