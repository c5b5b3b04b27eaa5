// Builds the plugin's runnable form: the component that the Rust build produces (the same
// bytes `kakaowork-host component` writes), transpiled by jco into JavaScript plus core wasm.
// There is no second copy of the KakaoWork logic: dist/component is generated, not written.
//
//   npm run build                      # takes the component from the Rust build (cargo)
//   KAKAOWORK_COMPONENT=x.wasm npm run build   # or from a file
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, copyFileSync, existsSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(pkg, "..");
const dist = join(pkg, "plugin", "dist");
const wasm = join(dist, "kakaowork_channel.component.wasm");
const out = join(dist, "component");

mkdirSync(dist, { recursive: true });
const given = process.env.KAKAOWORK_COMPONENT;
if (given) {
  if (!existsSync(given)) {
    console.error(`KAKAOWORK_COMPONENT=${given}: no such file`);
    process.exit(2);
  }
  copyFileSync(given, wasm);
} else {
  // The README's build (dev profile, optimised dependencies): nothing is compiled twice.
  execFileSync("cargo", ["run", "-q", "-p", "host-test", "--", "component", "--out", wasm], {
    cwd: repo,
    stdio: ["ignore", "inherit", "inherit"],
  });
}

rmSync(out, { recursive: true, force: true });
const jco = join(pkg, "node_modules", "@bytecodealliance", "jco", "dist", "jco.js");
execFileSync(
  process.execPath,
  [jco, "transpile", wasm, "-o", out, "--name", "kakaowork_channel", "--instantiation", "sync",
    "--valid-lifting-optimization", "--quiet"],
  { stdio: "inherit" },
);
// The generated module is ESM.
writeFileSync(join(out, "package.json"), '{ "type": "module" }\n');
// The Redis compare-and-swap script: the Rust host's file, so that both hosts run the same one.
copyFileSync(join(repo, "host-test", "src", "kv", "cas.lua"), join(dist, "cas.lua"));
console.log(`built ${out}`);
