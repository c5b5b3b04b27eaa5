//! Writes `openclaw/plugin/openclaw.plugin.json`: the package's fields from
//! `openclaw/openclaw.plugin.template.json`, and `channelConfigs.kakao` (the schema of
//! `channels.kakao` and its `uiHints`) generated from the guest's configuration model. Run by
//! `npm run build`; `tests/openclaw_manifest.rs` fails when the committed file differs.
//!
//! Not a `kakaowork-host` command: it is a build step of this repository, not a user's tool.

use std::path::Path;
use std::process::ExitCode;

use kakaowork_channel::model::config::schema::manifest_text;
use serde_json::{Map, Value};

fn main() -> ExitCode {
    let host_test = Path::new(env!("CARGO_MANIFEST_DIR"));
    let openclaw = host_test.parent().unwrap_or(host_test).join("openclaw");
    let template = openclaw.join("openclaw.plugin.template.json");
    let out = openclaw.join("plugin").join("openclaw.plugin.json");
    let parsed = std::fs::read_to_string(&template)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).map_err(|e| e.to_string()));
    let template_fields = match parsed {
        Ok(fields) => fields,
        Err(e) => {
            eprintln!("openclaw-manifest: {}: {e}", template.display());
            return ExitCode::FAILURE;
        }
    };
    let text = manifest_text(&template_fields);
    // Unchanged files keep their time stamps: nothing downstream rebuilds for nothing.
    if std::fs::read_to_string(&out).is_ok_and(|old| old == text) {
        return ExitCode::SUCCESS;
    }
    match std::fs::write(&out, text) {
        Ok(()) => {
            println!("openclaw-manifest: wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("openclaw-manifest: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
