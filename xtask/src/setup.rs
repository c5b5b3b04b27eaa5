//! What the suites need beyond the Rust toolchain: Debian's `redis-server` (the shared-state
//! suites start their own servers) and Node 24 (OpenClaw 2026.9 needs >= 24.16). Each is taken
//! from `PATH` when it is there, else installed the way a newcomer would, else the set-up stops
//! with the one command to run.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the suites will use, and the `PATH` their processes get.
pub struct Tools {
    pub redis: Found,
    pub node: Option<Found>,
    /// `PATH` with Node 24's directory first when it was fetched.
    pub path: OsString,
}

pub struct Found {
    pub path: PathBuf,
    pub version: Option<String>,
    /// How it got there: `None` when it was already on `PATH`.
    pub installed_by: Option<String>,
}

#[derive(Debug)]
pub enum SetupError {
    RedisNeedsRoot,
    RedisNoAptGet,
    RedisInstallFailed {
        command: String,
        status: String,
    },
    RedisStillMissing {
        command: String,
        path: String,
    },
    Node {
        found: String,
        script: String,
        reason: String,
    },
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RedisNeedsRoot => write!(
                f,
                "redis-server is not on PATH, and this user cannot install it (not root, and sudo \
                 asks for a password). Run `sudo apt-get install -y redis-server`, then this \
                 command again."
            ),
            Self::RedisNoAptGet => write!(
                f,
                "redis-server is not on PATH and there is no apt-get to install Debian's \
                 package. Install Redis 7 (the `redis-server` program) with this system's package \
                 manager, then run this command again."
            ),
            Self::RedisInstallFailed { command, status } => write!(
                f,
                "installing redis-server failed: `{command}` {status}. Run it by hand to see why, \
                 then this command again."
            ),
            Self::RedisStillMissing { command, path } => write!(
                f,
                "`{command}` succeeded but redis-server is still not on PATH ({path}). Add the \
                 directory that holds it to PATH."
            ),
            Self::Node {
                found,
                script,
                reason,
            } => write!(
                f,
                "Node {found} is not the Node OpenClaw needs (>= 24.16 in 24, or >= 26.1), and \
                 fetching Node 24 with {script} failed: {reason}. It needs python3 with venv and \
                 access to PyPI; or install Node 24.16 or newer on PATH yourself."
            ),
        }
    }
}

impl std::error::Error for SetupError {}

/// Finds or installs `redis-server`, and Node 24 when `node` is needed.
pub fn prepare(root: &Path, node: bool) -> Result<Tools, SetupError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let redis = redis(&path)?;
    let (node, path) = if node {
        let (found, path) = node24(root, path)?;
        (Some(found), path)
    } else {
        (None, path)
    };
    Ok(Tools { redis, node, path })
}

impl Tools {
    /// One line per tool: what is used, and what this run installed.
    pub fn describe(&self) -> String {
        let mut lines = vec![describe("redis-server", &self.redis)];
        if let Some(node) = &self.node {
            lines.push(describe("node", node));
        }
        lines.join("\n")
    }
}

fn describe(name: &str, found: &Found) -> String {
    let version = found.version.as_deref().unwrap_or("");
    let how = match &found.installed_by {
        Some(how) if name == "node" => format!("from `{how}`"),
        Some(how) => format!("installed now by `{how}`"),
        None => "already on PATH".to_owned(),
    };
    format!(
        "set-up: {name} {version} at {} ({how})",
        found.path.display()
    )
    .replace("  ", " ")
}

fn redis(path: &OsStr) -> Result<Found, SetupError> {
    if let Some(found) = which("redis-server", path) {
        return Ok(Found {
            version: version_of(&found, path),
            path: found,
            installed_by: None,
        });
    }
    let Some(apt) = which("apt-get", path) else {
        return Err(SetupError::RedisNoAptGet);
    };
    // Root installs directly; anyone else only through sudo that asks no password (a prompt
    // in the middle of a test run would hang CI).
    let mut prefix: Vec<OsString> = Vec::new();
    if !is_root(path) {
        let sudo_works = which("sudo", path).is_some_and(|sudo| {
            Command::new(&sudo)
                .args(["-n", "true"])
                .env("PATH", path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !sudo_works {
            return Err(SetupError::RedisNeedsRoot);
        }
        prefix = vec!["sudo".into(), "-n".into()];
    }
    let mut install = String::new();
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "redis-server"][..],
    ] {
        let mut argv: Vec<OsString> = prefix.clone();
        argv.push(apt.clone().into_os_string());
        argv.extend(args.iter().map(OsString::from));
        let shown = argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        eprintln!("set-up: redis-server is not on PATH; running `{shown}`");
        let status = Command::new(&argv[0])
            .args(&argv[1..])
            .env("PATH", path)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => install = shown,
            Ok(s) => {
                return Err(SetupError::RedisInstallFailed {
                    command: shown,
                    status: format!("exited with {s}"),
                });
            }
            Err(e) => {
                return Err(SetupError::RedisInstallFailed {
                    command: shown,
                    status: format!("could not start: {e}"),
                });
            }
        }
    }
    match which("redis-server", path) {
        Some(found) => Ok(Found {
            version: version_of(&found, path),
            path: found,
            installed_by: Some(install),
        }),
        None => Err(SetupError::RedisStillMissing {
            command: install,
            path: path.to_string_lossy().into_owned(),
        }),
    }
}

fn is_root(path: &OsStr) -> bool {
    which("id", path)
        .and_then(|id| Command::new(id).arg("-u").env("PATH", path).output().ok())
        .is_some_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `node` on `PATH` when it is one OpenClaw takes, else Node 24 from the pinned PyPI wheel
/// through `openclaw/scripts/node24.sh`, with its directory put first on `PATH`.
fn node24(root: &Path, path: OsString) -> Result<(Found, OsString), SetupError> {
    let current = which("node", &path).map(|node| {
        let version = version_of(&node, &path);
        (node, version)
    });
    let found = match &current {
        Some((node, Some(v))) if node_is_supported(v) => {
            return Ok((
                Found {
                    path: node.clone(),
                    version: Some(v.clone()),
                    installed_by: None,
                },
                path,
            ));
        }
        Some((_, Some(v))) => v.clone(),
        Some((_, None)) => "of unknown version".to_owned(),
        None => "(none on PATH)".to_owned(),
    };
    let script = root.join("openclaw/scripts/node24.sh");
    let fail = |reason: String| SetupError::Node {
        found: found.clone(),
        script: script.display().to_string(),
        reason,
    };
    eprintln!("set-up: node {found} is not >= 24.16; fetching Node 24 with {script:?}");
    let out = Command::new(&script)
        .env("PATH", &path)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| fail(format!("could not start it: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!("it exited with {}", out.status)));
    }
    let printed = String::from_utf8_lossy(&out.stdout);
    let Some(dir) = printed.lines().map(str::trim).rfind(|l| !l.is_empty()) else {
        return Err(fail("it printed no directory".to_owned()));
    };
    let dir = PathBuf::from(dir);
    let node = dir.join("node");
    let version = version_of(&node, &path);
    match &version {
        Some(v) if node_is_supported(v) => {}
        other => {
            return Err(fail(format!(
                "the node it gave ({}) reports version {}",
                node.display(),
                other.as_deref().unwrap_or("nothing")
            )));
        }
    }
    let mut dirs = vec![dir];
    dirs.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs).map_err(|e| fail(format!("bad PATH: {e}")))?;
    Ok((
        Found {
            path: node,
            version,
            installed_by: Some("openclaw/scripts/node24.sh".to_owned()),
        },
        path,
    ))
}

/// The rule of `engines.node` in `openclaw/package.json` (`>=24.16.0 <25 || >=26.1.0`).
pub fn node_is_supported(version: &str) -> bool {
    let mut parts = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        return false;
    };
    (major == 24 && minor >= 16) || (major == 26 && minor >= 1) || major > 26
}

/// The first word that looks like a version in `<program> --version`'s answer.
fn version_of(program: &Path, path: &OsStr) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .env("PATH", path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(|c: char| c.is_whitespace() || c == '=')
        .map(|w| w.trim_start_matches('v'))
        .find(|w| w.split('.').count() >= 3 && w.split('.').all(|p| p.parse::<u32>().is_ok()))
        .map(str::to_owned)
}

/// The first executable file called `name` in the directories of `path`.
pub fn which(name: &str, path: &OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_as_openclaw_package_json_states_them() {
        for ok in ["v24.16.0", "v24.19.0", "24.99.1", "v26.1.0", "v27.0.0"] {
            assert!(node_is_supported(ok), "{ok}");
        }
        for no in [
            "v24.15.9", "v20.20.2", "v25.9.0", "v26.0.3", "v", "", "node",
        ] {
            assert!(!node_is_supported(no), "{no}");
        }
    }

    #[test]
    fn the_rule_is_the_one_openclaw_package_json_declares() {
        let package = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../openclaw/package.json"
        ))
        .unwrap();
        assert!(
            package.contains(r#""node": ">=24.16.0 <25 || >=26.1.0""#),
            "openclaw/package.json's engines.node changed: change node_is_supported with it"
        );
    }
}
