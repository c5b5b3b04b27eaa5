// Builds the plugin's runnable form: the component that the Rust build produces (the same
// bytes `kakaowork-host component` writes), transpiled by jco into JavaScript plus core wasm.
// There is no second copy of the KakaoWork logic: dist/component is generated, not written.
// So is plugin/openclaw.plugin.json's schema of channels.kakao: host-test's openclaw-manifest
// writes it from the guest's configuration model (and openclaw.plugin.template.json).
// The Redis client is bundled into one file, dist/redis-client.cjs: OpenClaw copies a plugin's
// package and every dependency it declares on each start (its reload capture), and
// `@redis/client` as a dependency is 1,955 files, which took 2.4 s of every `openclaw` command.
//
//   npm run build                      # takes the component from the Rust build (cargo)
//   KAKAOWORK_COMPONENT=x.wasm npm run build   # or from a file
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, copyFileSync, existsSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(pkg, "..");
const dist = join(pkg, "plugin", "dist");
const out = join(dist, "component");

mkdirSync(dist, { recursive: true });
// Not in dist/: only what runs is there (OpenClaw copies all of it on each start).
rmSync(join(dist, "kakaowork_channel.component.wasm"), { force: true });
const given = process.env.KAKAOWORK_COMPONENT;
const wasm = given ?? join(repo, "target", "openclaw", "kakaowork_channel.component.wasm");
if (given) {
  if (!existsSync(given)) {
    console.error(`KAKAOWORK_COMPONENT=${given}: no such file`);
    process.exit(2);
  }
} else {
  // The manifest first: the same dev build as the component's (host-test's build script
  // builds the guest for either), so it adds one small binary.
  // With KAKAOWORK_COMPONENT the committed manifest is packaged; a Rust test keeps it generated.
  execFileSync("cargo", ["run", "-q", "-p", "host-test", "--bin", "openclaw-manifest"], {
    cwd: repo,
    stdio: ["ignore", "inherit", "inherit"],
  });
  mkdirSync(dirname(wasm), { recursive: true });
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
copyFileSync(join(repo, "host-test", "src", "runtime", "kv", "cas.lua"), join(dist, "cas.lua"));
// The SQLite schema and pragmas, the file the Rust host runs too (spec/README.md).
copyFileSync(join(repo, "spec", "sqlite.sql"), join(dist, "sqlite.sql"));

// The Redis client, one file. Its optional OpenTelemetry and digest packages stay optional.
const require = createRequire(import.meta.url);
const redis = require("@redis/client/package.json");
require("esbuild").buildSync({
  entryPoints: [require.resolve("@redis/client")],
  outfile: join(dist, "redis-client.cjs"),
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node24",
  minify: true,
  keepNames: true,
  external: ["@opentelemetry/api", "@node-rs/xxhash"],
  // `@ts-nocheck`: `npm run typecheck` checks the host, not this bundle (kv-redis.js reads it
  // through @redis/client's own declarations).
  banner: { js: `/* ${redis.name} ${redis.version} (${redis.license}, ${redis.repository?.url ?? ""}), bundled by openclaw/scripts/build.js */\n// @ts-nocheck` },
  logLevel: "warning",
});
console.log(`built ${out} and ${join(dist, "redis-client.cjs")}`);
