// The README's side-by-side benchmark runs as documented (one pair, `message send` only, to keep
// the test short): both plugins installed into OpenClaw, measured, and the ratios printed. The
// figures themselves are the benchmark's, not this test's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { PKG, hostBin } from "./helpers.js";

test("bench/side-by-side.mjs measures both plugins and prints their ratios", () => {
  const r = spawnSync(process.execPath, [join(PKG, "bench", "side-by-side.mjs"), "--pairs", "1", "--only", "send"], {
    cwd: PKG,
    env: { ...process.env, KAKAOWORK_HOST: hostBin() },
    encoding: "utf8",
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const metric of ["wall", "cpu", "mem"]) {
    assert.match(r.stdout, new RegExp(`^send +${metric} +[\\d.]+ (s|MiB) / [\\d.]+ (s|MiB) = [\\d.]+x$`, "m"), r.stdout);
  }
  const results = JSON.parse(r.stdout.split("\n").find((l) => l.startsWith("{")));
  assert.equal(results.send.component.length, 1);
  assert.equal(results.send.plain.length, 1);
});
