//! Makes sure the toolchain can build the guest for `wasm32-unknown-unknown` before the nested
//! cargo build starts. rustup adds the targets of `rust-toolchain.toml` only when it installs a
//! toolchain, so on a machine that already had 1.95.0 the target is missing; `cargo component`
//! adds it in the same situation, and so does this. Shared by `build.rs` and its test.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-unknown-unknown";

/// What the build found or did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The target's standard library is in the sysroot already.
    Present,
    /// `rustup target add` installed it; the argument list is what was run.
    Added(Vec<String>),
}

/// Why the guest cannot be built; the `Display` text is what the user reads.
#[derive(Debug)]
pub enum TargetError {
    /// rustc did not say where the target's libraries live.
    Rustc(String),
    /// The target is missing and there is no rustup to add it.
    NoRustup { libdir: PathBuf },
    /// rustup was found but could not add the target.
    AddFailed { command: String, output: String },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Rustc(why) => write!(
                f,
                "cannot ask rustc where the {TARGET} standard library lives: {why}\n\
                 fix: make sure `rustc --print target-libdir --target {TARGET}` works"
            ),
            TargetError::NoRustup { libdir } => write!(
                f,
                "the guest is built for {TARGET}, but this toolchain has no standard library \
                 for it (nothing in {}) and rustup is not on the PATH to add it.\n\
                 fix: run `rustup target add {TARGET}` (or install your distribution's rust-std \
                 package for {TARGET}), then build again",
                libdir.display()
            ),
            TargetError::AddFailed { command, output } => write!(
                f,
                "`{command}` failed while adding the {TARGET} target the guest is built for:\n\
                 {output}\nfix: run `{command}` yourself, then build again"
            ),
        }
    }
}

/// The directory that holds the target's standard library, as rustc reports it.
pub fn target_libdir(rustc: &Path) -> Result<PathBuf, TargetError> {
    let out = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|e| TargetError::Rustc(format!("running {}: {e}", rustc.display())))?;
    if !out.status.success() {
        return Err(TargetError::Rustc(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// Whether `libdir` holds a `core` for the target (what "can't find crate for `core`" misses).
pub fn has_core(libdir: &Path) -> bool {
    std::fs::read_dir(libdir)
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libcore-") && name.ends_with(".rlib")
            })
        })
        .unwrap_or(false)
}

/// The first executable called `rustup` on `path` (a `PATH`-style list).
pub fn find_rustup(path: Option<OsString>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(&path)
        .map(|dir| {
            dir.join(if cfg!(windows) {
                "rustup.exe"
            } else {
                "rustup"
            })
        })
        .find(|candidate| candidate.is_file())
}

/// Checks the target and adds it with rustup when it is missing. `toolchain` is the active
/// toolchain as rustup names it (`RUSTUP_TOOLCHAIN`), so the target goes to the toolchain that
/// is building, not to rustup's default one.
pub fn ensure(
    rustc: &Path,
    rustup: Option<&Path>,
    toolchain: Option<&str>,
) -> Result<Outcome, TargetError> {
    let libdir = target_libdir(rustc)?;
    if has_core(&libdir) {
        return Ok(Outcome::Present);
    }
    let Some(rustup) = rustup else {
        return Err(TargetError::NoRustup { libdir });
    };
    let mut args = vec!["target".to_string(), "add".to_string(), TARGET.to_string()];
    if let Some(t) = toolchain.filter(|t| !t.is_empty()) {
        args.extend(["--toolchain".to_string(), t.to_string()]);
    }
    let command = format!("rustup {}", args.join(" "));
    let out = Command::new(rustup)
        .args(&args)
        .output()
        .map_err(|e| TargetError::AddFailed {
            command: command.clone(),
            output: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(TargetError::AddFailed {
            command,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    if !has_core(&libdir) {
        return Err(TargetError::AddFailed {
            output: format!(
                "rustup reported success, but {} still holds no `core` for the target \
                 (is rustc from another toolchain than the one rustup changed?)",
                libdir.display()
            ),
            command,
        });
    }
    Ok(Outcome::Added(args))
}
