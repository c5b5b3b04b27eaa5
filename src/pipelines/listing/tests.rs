use super::*;
use crate::testkit::*;

fn user(id: u64, name: &str, email: &str) -> String {
    format!(
        r#"{{"id":"{id}","name":"{name}","display_name":"{name}","nickname":null,"identifications":[{{"type":"email","value":"{email}"}}],"emails":[],"status":"activated"}}"#
    )
}

fn users_page(users: &[String], cursor: Option<&str>) -> String {
    format!(
        r#"{{"success":true,"cursor":{},"users":[{}]}}"#,
        cursor.map_or("null".into(), |c| format!("\"{c}\"")),
        users.join(",")
    )
}

fn query(kind: DirectoryKind, q: Option<&str>) -> DirectoryQuery {
    DirectoryQuery {
        account: None,
        kind,
        query: q.map(Into::into),
    }
}

fn urls(http: &ScriptedHttp) -> Vec<String> {
    http.requests().into_iter().map(|r| r.url).collect()
}

#[test]
fn users_come_from_every_page_and_later_pages_pass_only_the_cursor() {
    let p1 = users_page(&[user(1, "김민수", "minsu@example.co.kr")], Some("c2"));
    let p2 = users_page(&[user(2, "이영희", "yh@example.co.kr")], Some("c3"));
    let p3 = users_page(&[user(3, "박지훈", "jh@example.co.kr")], None);
    let http = ScriptedHttp::new(vec![(200, &p1), (200, &p2), (200, &p3)]);
    let w = World::new();
    let ch = default_channel();
    let got = ch
        .directory(&w.ports(&http), &query(DirectoryKind::Users, None))
        .unwrap();
    let DirectoryListing::Users(users) = got else {
        panic!("{got:?}")
    };
    let ids: Vec<_> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"], "the last page is kept");
    assert_eq!(users[0].email.as_deref(), Some("minsu@example.co.kr"));
    assert_eq!(users[0].status, MemberStatus::Activated);
    assert_eq!(
        urls(&http),
        [
            "https://api.kakaowork.com/v1/users.list?limit=100",
            "https://api.kakaowork.com/v1/users.list?cursor=c2",
            "https://api.kakaowork.com/v1/users.list?cursor=c3",
        ]
    );
}

#[test]
fn a_query_keeps_matching_names_and_emails_case_insensitively() {
    let page = users_page(
        &[
            user(1, "김민수", "MINSU@example.co.kr"),
            user(2, "이영희", "yh@example.co.kr"),
            user(3, "Kim Park", "kp@example.co.kr"),
        ],
        None,
    );
    let ch = default_channel();
    for (q, want) in [
        ("민수", vec!["1"]),
        ("minsu", vec!["1"]),
        ("kim", vec!["3"]),
        ("example.co.kr", vec!["1", "2", "3"]),
        ("2", vec!["2"]),
        ("nobody", vec![]),
    ] {
        // A fresh budget each time (the clock stands still).
        let w = World::new();
        let http = ScriptedHttp::new(vec![(200, &page)]);
        let got = ch
            .directory(&w.ports(&http), &query(DirectoryKind::Users, Some(q)))
            .unwrap();
        let DirectoryListing::Users(users) = got else {
            panic!("{got:?}")
        };
        let ids: Vec<_> = users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, want, "query {q}");
    }
}

#[test]
fn a_whole_email_is_one_find_by_email_and_an_unknown_one_falls_back_to_the_list() {
    let found = format!(
        r#"{{"success":true,"user":{}}}"#,
        user(5, "정우성", "ws@example.co.kr")
    );
    let http = ScriptedHttp::new(vec![(200, &found)]);
    let w = World::new();
    let ch = default_channel();
    let got = ch
        .directory(
            &w.ports(&http),
            &query(DirectoryKind::Users, Some("WS@example.co.kr")),
        )
        .unwrap();
    assert!(matches!(&got, DirectoryListing::Users(u) if u.len() == 1 && u[0].id == "5"));
    assert_eq!(
        urls(&http),
        ["https://api.kakaowork.com/v1/users.find_by_email?email=ws%40example.co.kr"]
    );

    // Not a sign-in address: another e-mail on a profile may still match.
    let not_found = r#"{"success":false,"error":{"code":"user_not_found","message":"x"}}"#;
    let mut u = user(6, "최수진", "sj@example.co.kr");
    u = u.replace(r#""emails":[]"#, r#""emails":["sujin@home.example"]"#);
    let page = users_page(&[u], None);
    let http = ScriptedHttp::new(vec![(400, not_found), (200, &page)]);
    let got = ch
        .directory(
            &w.ports(&http),
            &query(DirectoryKind::Users, Some("sujin@home.example")),
        )
        .unwrap();
    assert!(matches!(&got, DirectoryListing::Users(u) if u.len() == 1 && u[0].id == "6"));
    assert_eq!(http.requests().len(), 2);
}

#[test]
fn conversations_and_departments_are_listed_and_filtered() {
    let convs = r#"{"success":true,"cursor":null,"conversations":[
        {"id":"2092305","type":"dm","users_count":2,"name":"김민수"},
        {"id":"2092311","type":"group","users_count":3,"name":"배포 알림"}]}"#;
    let http = ScriptedHttp::new(vec![(200, convs)]);
    let w = World::new();
    let ch = default_channel();
    let got = ch
        .directory(
            &w.ports(&http),
            &query(DirectoryKind::Conversations, Some("배포")),
        )
        .unwrap();
    assert_eq!(
        got,
        DirectoryListing::Conversations(vec![ConversationInfo {
            id: "2092311".into(),
            chat_type: ChatType::Group,
            name: Some("배포 알림".into()),
            members_count: 3,
        }])
    );

    let deps = r#"{"success":true,"cursor":null,"departments":[
        {"id":"400002","ids_path":"400002","parent_id":0,"name":"Example Corp.","code":"ROOT01","user_count":82,"depth":0,"users_ids":[],"leader_ids":[]},
        {"id":"400010","ids_path":"400002/400010","parent_id":400002,"name":"플랫폼개발팀","code":"DEV-PLT","user_count":2,"depth":1,"users_ids":[10000003,10000006],"leader_ids":[10000006]}]}"#;
    let http = ScriptedHttp::new(vec![(200, deps)]);
    let got = ch
        .directory(
            &w.ports(&http),
            &query(DirectoryKind::Departments, Some("dev-plt")),
        )
        .unwrap();
    let DirectoryListing::Departments(d) = got else {
        panic!("{got:?}")
    };
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].parent_id.as_deref(), Some("400002"));
    assert_eq!(d[0].member_ids, ["10000003", "10000006"]);
    assert_eq!(d[0].leader_ids, ["10000006"]);
}

#[test]
fn a_page_that_cannot_be_read_names_the_list() {
    let bad = r#"{"success":true,"cursor":null,"users":{"id":"1"}}"#;
    let http = ScriptedHttp::new(vec![(200, bad), (200, bad)]);
    let w = World::new();
    let e = default_channel()
        .directory(&w.ports(&http), &query(DirectoryKind::Users, None))
        .unwrap_err();
    assert!(
        matches!(&e, ChannelError::Transport(t) if t.message.contains("users.list")),
        "{e:?}"
    );
}

#[test]
fn members_are_looked_up_by_id_or_email_and_other_forms_are_refused() {
    let found = format!(
        r#"{{"success":true,"user":{}}}"#,
        user(3, "박지훈", "jh@example.co.kr")
    );
    let w = World::new();
    let ch = default_channel();
    for (who, url) in [
        ("user:3", "users.info?user_id=3"),
        ("3", "users.info?user_id=3"),
        (
            "jh@example.co.kr",
            "users.find_by_email?email=jh%40example.co.kr",
        ),
        (
            "email:jh@example.co.kr",
            "users.find_by_email?email=jh%40example.co.kr",
        ),
    ] {
        let http = ScriptedHttp::new(vec![(200, &found)]);
        let m = ch.lookup_member(&w.ports(&http), None, who).unwrap();
        assert_eq!(m.name, "박지훈");
        assert_eq!(urls(&http), [format!("https://api.kakaowork.com/v1/{url}")]);
    }
    for who in ["", "#general", "users:1,2", "kim"] {
        let http = ScriptedHttp::new(vec![]);
        let e = ch.lookup_member(&w.ports(&http), None, who).unwrap_err();
        assert!(matches!(e, ChannelError::InvalidTarget(_)), "{who}: {e:?}");
        assert!(http.requests().is_empty());
    }
}

#[test]
fn conversation_members_and_the_space() {
    let members = format!(
        r#"{{"success":true,"users":[{},{}]}}"#,
        user(1, "김민수", "a@example.co.kr"),
        user(2, "이영희", "b@example.co.kr")
    );
    let space = r#"{"success":true,"space":{"id":230021,"name":"Example Corp."}}"#;
    let http = ScriptedHttp::new(vec![(200, &members), (200, space)]);
    let w = World::new();
    let ch = default_channel();
    let m = ch
        .conversation_members(&w.ports(&http), None, "conversation:2092311")
        .unwrap();
    assert_eq!(m.len(), 2);
    let s = ch.space(&w.ports(&http), None).unwrap();
    assert_eq!(
        (s.id.as_str(), s.name.as_str()),
        ("230021", "Example Corp.")
    );
    assert_eq!(
        urls(&http),
        [
            "https://api.kakaowork.com/v1/conversations/2092311/users",
            "https://api.kakaowork.com/v1/spaces.info"
        ]
    );
    let e = ch
        .conversation_members(&w.ports(&http), None, "user:1")
        .unwrap_err();
    assert!(matches!(e, ChannelError::InvalidTarget(_)));
}

#[test]
fn a_listing_stopped_by_the_budget_goes_on_where_it_stopped() {
    let pages: Vec<String> = (0..3)
        .map(|i| {
            let users: Vec<String> = (0..100)
                .map(|j| user(i * 100 + j, "가", &format!("u{i}{j}@example.co.kr")))
                .collect();
            users_page(&users, (i < 2).then(|| format!("c{}", i + 1)).as_deref())
        })
        .collect();
    let http = ScriptedHttp::new(pages.iter().map(|p| (200, p.as_str())).collect());
    // A budget of one request at a time: every page after the first is deferred once.
    let ch = configured(
        r#"{"rateLimit": {"requestsPerMinute": 60, "burst": 1}}"#,
        &[("default", CredentialSource::Env)],
    );
    let w = World::new();
    let mut calls = 0;
    let listing = loop {
        calls += 1;
        assert!(calls < 20, "the listing never finished");
        match ch.directory(&w.ports(&http), &query(DirectoryKind::Users, None)) {
            Ok(l) => break l,
            Err(ChannelError::Deferred(ms)) => w.clock.0.set(w.clock.0.get() + ms),
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(users(listing).len(), 300);
    assert_eq!(
        urls(&http),
        [
            "https://api.kakaowork.com/v1/users.list?limit=100",
            "https://api.kakaowork.com/v1/users.list?cursor=c1",
            "https://api.kakaowork.com/v1/users.list?cursor=c2",
        ],
        "no page asked twice"
    );
    assert!(calls > 1, "the budget did defer");
}

fn users(l: DirectoryListing) -> Vec<Member> {
    match l {
        DirectoryListing::Users(u) => u,
        other => panic!("{other:?}"),
    }
}
