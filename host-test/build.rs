//! Builds the guest for `wasm32-unknown-unknown` with a nested cargo and turns it into a
//! component, so that `cargo test` alone is enough. The nested build has its own target dir
//! (sharing the outer one deadlocks on cargo's lock) and none of the host's rust flags.

#[path = "build/wasm_target.rs"]
mod wasm_target;

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest
        .parent()
        .expect("host-test lives inside the workspace")
        .to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = out.join("wasm-target");

    for p in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    // `KAKAOWORK_GUEST_NAMES=1` keeps the guest's function names, so that a profile
    // (`KAKAOWORK_PERFMAP=1` in the benchmarks) names its functions. Profiling only.
    println!("cargo:rerun-if-env-changed=KAKAOWORK_GUEST_NAMES");
    let names = env::var_os("KAKAOWORK_GUEST_NAMES").is_some_and(|v| v == "1");

    let rustc = PathBuf::from(env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()));
    let rustup = wasm_target::find_rustup(env::var_os("PATH"));
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    match wasm_target::ensure(&rustc, rustup.as_deref(), toolchain.as_deref()) {
        Ok(wasm_target::Outcome::Present) => {}
        Ok(wasm_target::Outcome::Added(args)) => {
            println!(
                "cargo:warning=added the {} target the guest is built for (rustup {})",
                wasm_target::TARGET,
                args.join(" ")
            );
            // Cargo replays a build script's warnings until the script runs again; a path that
            // does not exist makes the next build run it once more, and the warning goes.
            println!(
                "cargo:rerun-if-changed={}",
                out.join("rerun-once-after-adding-the-target").display()
            );
        }
        Err(e) => {
            // A plain message and exit status: cargo shows it under the build script's stderr.
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--package",
            "kakaowork-channel",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "guest",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_BUILD_BUILD_DIR", &target_dir)
        // 128-bit SIMD (standard WebAssembly, in wasmtime and in V8 by default): UTF-8
        // checks, searches and copies over message texts go several bytes at a time.
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+simd128")
        .env(
            "CARGO_PROFILE_GUEST_STRIP",
            if names { "debuginfo" } else { "true" },
        )
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .expect("failed to run the nested cargo build of the guest");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        panic!("building the guest component failed:\n{stderr}");
    }

    let core = target_dir.join("wasm32-unknown-unknown/guest/kakaowork_channel.wasm");
    // binaryen at -O3: 3.3% fewer instructions per send than at -Oz, for 3 KB (README,
    // Benchmarks); still smaller than what rustc and LTO leave.
    let optimized = out.join("kakaowork_channel.opt.wasm");
    let mut opts = wasm_opt::OptimizationOptions::new_opt_level_3();
    opts.set_converge();
    opts.debug_info(names);
    for f in [
        wasm_opt::Feature::MutableGlobals,
        wasm_opt::Feature::TruncSat,
        wasm_opt::Feature::BulkMemory,
        wasm_opt::Feature::SignExt,
        wasm_opt::Feature::ReferenceTypes,
        wasm_opt::Feature::Multivalue,
        wasm_opt::Feature::Simd,
    ] {
        opts.enable_feature(f);
    }
    opts.run(&core, &optimized)
        .unwrap_or_else(|e| panic!("wasm-opt on {}: {e}", core.display()));
    let bytes = std::fs::read(&optimized)
        .unwrap_or_else(|e| panic!("reading {}: {e}", optimized.display()));
    let component = wit_component::ComponentEncoder::default()
        .module(&bytes)
        .and_then(|e| e.validate(true).encode())
        .unwrap_or_else(|e| panic!("componentizing {}: {e:?}", core.display()));
    let path = out.join("kakaowork_channel.component.wasm");
    std::fs::write(&path, component).unwrap();
    println!("cargo:rustc-env=GUEST_COMPONENT={}", path.display());
}
