//! The emulated workspace's directory: its members and departments (seeded with 255 members in
//! 5 departments, or from a JSON file), and KakaoWork's answers to the directory methods with
//! their cursor rules.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::answer::{Answer, fail, ok};

/// The workspace's id (`spaces.info`, users' `space_id`).
pub const SPACE_ID: u64 = 230_021;

/// A member of the emulated workspace.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub id: u64,
    pub name: String,
    /// The e-mail the member signs in with (`users.find_by_email`, `messages.send_by_email`).
    pub email: String,
    #[serde(default)]
    pub nickname: Option<String>,
    /// Other e-mails on the profile (not matched by `users.find_by_email`).
    #[serde(default)]
    pub emails: Vec<String>,
    /// The department's name, as KakaoWork reports it on a member.
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub position: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDepartment {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub code: Option<String>,
    /// None for the root.
    #[serde(default)]
    pub parent_id: Option<u64>,
    #[serde(default)]
    pub leader_ids: Vec<u64>,
}

/// What the emulated workspace holds: members and departments. A department's members are
/// the users whose `department` is its name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub departments: Vec<SeedDepartment>,
}

const TEAMS: [(u64, &str, &str); 4] = [
    (400_010, "플랫폼개발팀", "DEV-PLT"),
    (400_011, "디자인팀", "DESIGN"),
    (400_012, "영업팀", "SALES"),
    (400_013, "인사팀", "HR"),
];

impl Default for Seed {
    /// Five named members (ids 10000001-10000005, the first team) and 250 more (ids
    /// 10000006-10000255, `member006@example.co.kr` ...) spread over four teams under a root.
    fn default() -> Self {
        let named = [
            (10_000_001, "김민수", "minsu.kim@example.co.kr"),
            (10_000_002, "이영희", "yh.lee@example.co.kr"),
            (10_000_003, "박지훈", "jihoon.park@example.co.kr"),
            (10_000_004, "최수진", "sujin.choi@example.co.kr"),
            (10_000_005, "정우성", "woosung.jung@example.co.kr"),
        ];
        let surnames = ["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"];
        let given = [
            "민준", "서연", "도윤", "지우", "하준", "서윤", "시우", "지민", "주원", "하은", "예준",
            "수아", "건우", "지유", "현우",
        ];
        let mut users: Vec<SeedUser> = named
            .into_iter()
            .map(|(id, name, email)| SeedUser {
                id,
                name: name.into(),
                email: email.into(),
                nickname: None,
                emails: vec![],
                department: Some(TEAMS[0].1.into()),
                position: None,
            })
            .collect();
        for n in 6..=255u64 {
            let i = n as usize;
            users.push(SeedUser {
                id: 10_000_000 + n,
                name: format!("{}{}", surnames[i % 10], given[(i / 10) % 15]),
                email: format!("member{n:03}@example.co.kr"),
                nickname: None,
                emails: vec![],
                department: Some(TEAMS[i % 4].1.into()),
                position: None,
            });
        }
        let mut departments = vec![SeedDepartment {
            id: 400_002,
            name: "Example Corp.".into(),
            code: Some("ROOT01".into()),
            parent_id: None,
            leader_ids: vec![],
        }];
        departments.extend(TEAMS.iter().map(|(id, name, code)| SeedDepartment {
            id: *id,
            name: (*name).into(),
            code: Some((*code).into()),
            parent_id: Some(400_002),
            leader_ids: vec![],
        }));
        departments[1].leader_ids = vec![10_000_001];
        Self { users, departments }
    }
}

impl Seed {
    /// A seed from a JSON file (`{"users": [...], "departments": [...]}`), checked.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the seed file {}: {e}", path.display()))?;
        let seed: Seed = serde_json::from_str(&text).map_err(|e| {
            format!(
                "the seed file {} is not a valid seed: {e} (expected {{\"users\": [{{\"id\": 10000001, \"name\": \"...\", \"email\": \"...\"}}], \"departments\": [...]}})",
                path.display()
            )
        })?;
        seed.check()
            .map_err(|e| format!("the seed file {}: {e}", path.display()))?;
        Ok(seed)
    }

    fn check(&self) -> Result<(), String> {
        if self.users.is_empty() {
            return Err("it has no users".into());
        }
        let mut ids: Vec<u64> = self.users.iter().map(|u| u.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("user id {} appears twice", w[0]));
        }
        if let Some(u) = self.users.iter().find(|u| !u.email.contains('@')) {
            return Err(format!("user {} has no valid e-mail (`{}`)", u.id, u.email));
        }
        for d in &self.departments {
            if let Some(p) = d.parent_id
                && self.departments.iter().all(|x| x.id != p)
            {
                return Err(format!("department {} has an unknown parent {p}", d.id));
            }
        }
        Ok(())
    }

    /// The ids from the root to `d`.
    fn path_of(&self, d: &SeedDepartment) -> Vec<u64> {
        let mut path = vec![d.id];
        let mut cur = d.parent_id;
        // Bounded: a cycle in a seed must not hang the emulator.
        while let Some(p) = cur.filter(|_| path.len() <= self.departments.len()) {
            path.push(p);
            cur = self
                .departments
                .iter()
                .find(|x| x.id == p)
                .and_then(|x| x.parent_id);
        }
        path.reverse();
        path
    }

    pub(super) fn user_json(&self, u: &SeedUser) -> Value {
        json!({
            "id": u.id.to_string(), "space_id": SPACE_ID.to_string(), "name": u.name,
            "display_name": u.name, "nickname": u.nickname, "avatar_url": null,
            "department": u.department, "position": u.position, "responsibility": "팀원",
            "identifications": [{"type": "email", "value": u.email}],
            "emails": u.emails, "mobiles": [], "tels": [], "status": "activated",
            "work_start_time": null, "work_end_time": null,
            "vacation_start_time": null, "vacation_end_time": null
        })
    }

    fn department_json(&self, d: &SeedDepartment) -> Value {
        let path = self.path_of(d);
        let ids = |p: &[u64]| p.iter().map(u64::to_string).collect::<Vec<_>>().join("/");
        let members: Vec<u64> = self
            .users
            .iter()
            .filter(|u| u.department.as_deref() == Some(&d.name))
            .map(|u| u.id)
            .collect();
        json!({
            "id": d.id.to_string(), "ids_path": ids(&path), "parent_id": d.parent_id.unwrap_or(0),
            "space_id": SPACE_ID.to_string(), "name": d.name, "code": d.code.clone().unwrap_or_default(),
            "user_count": members.len(),
            "has_child": self.departments.iter().any(|x| x.parent_id == Some(d.id)),
            "depth": path.len() - 1, "users_ids": members, "leader_ids": d.leader_ids,
            "ancestry": ids(&path[..path.len() - 1]), "order": 0
        })
    }

    pub(super) fn users_list(&self, params: &Map<String, Value>) -> Answer {
        let items = self.users.iter().map(|u| self.user_json(u)).collect();
        paginate(params, items, "users")
    }

    pub(super) fn departments_list(&self, params: &Map<String, Value>) -> Answer {
        let items = self
            .departments
            .iter()
            .map(|d| self.department_json(d))
            .collect();
        paginate(params, items, "departments")
    }
}

/// One page of `items` under `key`, by KakaoWork's cursor rules: the cursor (base64 of
/// `cursor_id=<offset>&limit=<n>`) must come alone.
pub(super) fn paginate(params: &Map<String, Value>, items: Vec<Value>, key: &str) -> Answer {
    let (offset, limit) = if let Some(cursor) = params.get("cursor") {
        if params.len() > 1 {
            return fail(400, "invalid_parameter", "cursor must be passed alone");
        }
        let decoded = cursor
            .as_str()
            .and_then(|c| B64.decode(c).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let parsed = decoded.as_deref().and_then(|d| {
            let (a, b) = d.split_once('&')?;
            Some((
                a.strip_prefix("cursor_id=")?.parse::<usize>().ok()?,
                b.strip_prefix("limit=")?.parse::<usize>().ok()?,
            ))
        });
        match parsed {
            Some(p) => p,
            None => return fail(400, "invalid_parameter", "cursor is not valid"),
        }
    } else {
        let limit = match params.get("limit") {
            None => 10,
            Some(v) => match v.as_u64().or_else(|| v.as_str()?.parse().ok()) {
                Some(n @ 1..=100) => n as usize,
                _ => return fail(400, "invalid_parameter", "limit must be between 1 and 100"),
            },
        };
        (0, limit)
    };
    let end = (offset + limit).min(items.len());
    let page: Vec<Value> = items.get(offset..end).unwrap_or_default().to_vec();
    let cursor = (end < items.len()).then(|| B64.encode(format!("cursor_id={end}&limit={limit}")));
    let mut body = Map::new();
    body.insert("cursor".into(), cursor.map_or(Value::Null, Value::String));
    body.insert(key.into(), Value::Array(page));
    ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_seed_has_255_members_and_consistent_departments() {
        let s = Seed::default();
        assert_eq!(s.users.len(), 255);
        s.check().unwrap();
        let team = s.department_json(&s.departments[1]);
        assert_eq!(team["ids_path"], "400002/400010");
        assert_eq!(team["depth"], 1);
        assert_eq!(
            team["user_count"],
            team["users_ids"].as_array().unwrap().len()
        );
        let total: usize = s.departments[1..]
            .iter()
            .map(|d| s.department_json(d)["user_count"].as_u64().unwrap() as usize)
            .sum();
        assert_eq!(total, 255);
    }

    #[test]
    fn bad_seeds_are_refused_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("kw-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (body, why) in [
            ("{", "not a valid seed"),
            (r#"{"users": []}"#, "no users"),
            (
                r#"{"users": [{"id": 1, "name": "a", "email": "a@x.co"}, {"id": 1, "name": "b", "email": "b@x.co"}]}"#,
                "appears twice",
            ),
            (
                r#"{"users": [{"id": 1, "name": "a", "mail": "a@x.co"}]}"#,
                "unknown field",
            ),
            (
                r#"{"users": [{"id": 1, "name": "a", "email": "a@x.co"}], "departments": [{"id": 2, "name": "d", "parent_id": 9}]}"#,
                "unknown parent",
            ),
        ] {
            let p = dir.join("seed.json");
            std::fs::write(&p, body).unwrap();
            let e = Seed::load(&p).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
        let e = Seed::load(&dir.join("missing.json")).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
