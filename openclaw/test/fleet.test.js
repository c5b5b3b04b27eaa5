// Several processes, both hosts, one Redis: `kakaowork-host message batch` processes and an
// OpenClaw host process (the plugin's outbound adapter in Node) share one rate budget and one
// set of send ledgers through `state: redis://…`, against one standalone emulator whose
// workspace allows `BUDGET` requests a minute. Every process is stopped by its test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostBin, startEmulator, startRedis, tempDir, PKG } from "./helpers.js";

const SECRET = "test-callback-secret-0123456789";
// Lower than KakaoWork's 200 a minute would make the runs longer; higher than 1,000 messages
// would let every run fit in one minute, and the window check could not fail.
const BUDGET = 600;
const ROOMS = ["3000001", "3000002", "3000003", "3000004"];

/** A child process whose output is kept; killed however the test ends. */
function run(t, cmd, args, env = {}) {
  const child = spawn(cmd, args, {
    env: { ...process.env, KAKAOWORK_STATE: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  t.after(() => child.exitCode === null && child.kill("SIGKILL"));
  const done = new Promise((resolve) => {
    child.on("exit", (code) => resolve({ code, stdout: () => stdout, stderr: () => stderr }));
  });
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

/**
 * A fleet of `cli` batch processes and one OpenClaw host process sending `perProcess` messages
 * each (texts `fleet-<run>-p<process>-m<i>`), all through `redisUrl`.
 */
function startFleet(t, { emu, redisUrl, cli, perProcess, name }) {
  const dir = tempDir(t, `fleet-${name}`);
  const section = {
    apiBase: emu.baseUrl,
    callbackSecret: SECRET,
    rateLimit: { requestsPerMinute: BUDGET },
    state: redisUrl,
  };
  // kakaowork-host reads the state from its config's `state`, as OpenClaw's host does.
  const cliConfig = join(dir, "kakao.json");
  writeFileSync(cliConfig, JSON.stringify(section));
  const message = (p, i) => ({
    to: `conversation:${ROOMS[i % ROOMS.length]}`,
    text: `fleet-${name}-p${p}-m${i}`,
  });
  const procs = [];
  for (let p = 0; p < cli; p++) {
    const file = join(dir, `batch-${p}.jsonl`);
    const lines = Array.from({ length: perProcess }, (_, i) => {
      const m = message(p, i);
      return JSON.stringify({ target: m.to, message: m.text });
    });
    writeFileSync(file, `${lines.join("\n")}\n`);
    procs.push(
      run(t, hostBin(), ["message", "batch", "--file", file, "--config", cliConfig], {
        KAKAOWORK_APP_KEY: emu.appKey,
        KAKAOWORK_STATE_DIR: join(dir, `cli-state-${p}`),
      }),
    );
  }
  const ocConfig = join(dir, "openclaw.json");
  writeFileSync(ocConfig, JSON.stringify({ channels: { kakao: { ...section, appKey: emu.appKey } } }));
  const ocMessages = join(dir, "openclaw-messages.json");
  writeFileSync(
    ocMessages,
    JSON.stringify(Array.from({ length: perProcess }, (_, i) => ({ id: `${name}-oc-${i}`, ...message(cli, i) }))),
  );
  procs.push(
    run(t, process.execPath, [join(PKG, "test", "fixtures", "openclaw-sender.js"), ocConfig, ocMessages], {
      OPENCLAW_STATE_DIR: join(dir, "oc-state"),
    }),
  );
  return { procs, total: (cli + 1) * perProcess };
}

/** The most requests any 60-second window at the emulator holds. */
function peakPerMinute(requests) {
  const times = requests.map((r) => r.atMs).sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < times.length; hi++) {
    while (times[hi] - times[lo] >= 60_000) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

async function finished(fleet) {
  const results = await Promise.all(fleet.procs.map((p) => p.done));
  results.forEach((r, i) => assert.equal(r.code, 0, `process ${i}:\n${r.stdout()}\n${r.stderr()}`));
  return results;
}

/** Every message posted exactly once: none lost, none twice. */
async function assertEachOnce(emu, name, total) {
  const texts = (await emu.posted()).map((p) => p.text).filter((x) => x.startsWith(`fleet-${name}-`));
  assert.equal(new Set(texts).size, texts.length, "no message posted twice");
  assert.equal(texts.length, total, "no message lost");
}

test("four processes, three kakaowork-host and one OpenClaw host, share one budget through Redis", async (t) => {
  const redis = await startRedis(t);
  const emu = await startEmulator(t, ["--requests-per-minute", String(BUDGET)]);
  const fleet = startFleet(t, { emu, redisUrl: redis.url, cli: 3, perProcess: 250, name: "sat" });
  const results = await finished(fleet);
  assert.match(results[0].stdout(), /250 sent, 0 failed\./);
  assert.equal(results[3].stdout().trim().split("\n").filter((l) => JSON.parse(l).ok).length, 250);
  await assertEachOnce(emu, "sat", 1000);

  const requests = await emu.requests();
  assert.deepEqual(
    requests.filter((r) => r.status !== 200).map((r) => `${r.path} ${r.status}`),
    [],
    "no request refused (429) or failed",
  );
  const peak = peakPerMinute(requests);
  assert.ok(peak <= BUDGET, `${peak} requests in one 60 s window; the budget is ${BUDGET}`);
  // Saturation: the sends came as fast as the budget allows.
  const sends = requests.filter((r) => r.path === "/v1/messages.send").map((r) => r.atMs).sort((a, b) => a - b);
  const perMinute = ((sends.length - 1) * 60_000) / (sends.at(-1) - sends[0]);
  assert.ok(perMinute >= 0.95 * BUDGET, `${perMinute.toFixed(1)} messages a minute, below 95% of ${BUDGET}`);
  console.log(`fleet: 4 processes, peak ${peak}/60 s, ${perMinute.toFixed(1)} messages a minute of ${BUDGET}`);
});

test("Redis stopped for 10 s in a saturated run: no request meanwhile, then every message once, within budget", async (t) => {
  const redis = await startRedis(t, { persist: true });
  const emu = await startEmulator(t, ["--requests-per-minute", String(BUDGET)]);
  const fleet = startFleet(t, { emu, redisUrl: redis.url, cli: 3, perProcess: 75, name: "out" });
  const deadline = Date.now() + 60_000;
  while ((await emu.posted()).length < 100) {
    assert.ok(Date.now() < deadline, "the fleet posted too little");
    await new Promise((r) => setTimeout(r, 50));
  }
  await redis.stop();
  const stoppedAt = Date.now();
  await new Promise((r) => setTimeout(r, 10_000));
  const restartedAt = Date.now();
  await redis.restart();
  await finished(fleet);
  await assertEachOnce(emu, "out", 300);

  const requests = await emu.requests();
  // A request already past its store calls when Redis went may still arrive (~ms); none later.
  const during = requests.filter((r) => r.atMs > stoppedAt + 500 && r.atMs < restartedAt);
  assert.deepEqual(during.map((r) => r.path), [], "no request while Redis was down");
  const told = fleet.procs.filter((p) => /storage error|cannot be reached/.test(p.stderr()));
  assert.equal(told.length, fleet.procs.length, "every process met the outage as a storage error");
  assert.ok(requests.every((r) => r.status === 200), "no request refused");
  const peak = peakPerMinute(requests);
  assert.ok(peak <= BUDGET, `${peak} requests in one 60 s window; the budget is ${BUDGET}`);
});

test("a message the OpenClaw host sent is found by kakaowork-host under the same key: one ledger", async (t) => {
  const redis = await startRedis(t);
  const emu = await startEmulator(t);
  const dir = tempDir(t, "fleet-ledger");
  const ocConfig = join(dir, "openclaw.json");
  const section = { apiBase: emu.baseUrl, callbackSecret: SECRET, appKey: emu.appKey, state: redis.url };
  writeFileSync(ocConfig, JSON.stringify({ channels: { kakao: section } }));
  const messages = join(dir, "m.json");
  writeFileSync(messages, JSON.stringify([{ id: "shared-7", to: "conversation:3000001", text: "한 번만" }]));
  const oc = run(t, process.execPath, [join(PKG, "test", "fixtures", "openclaw-sender.js"), ocConfig, messages], {
    OPENCLAW_STATE_DIR: join(dir, "oc-state"),
  });
  const r = await oc.done;
  assert.equal(r.code, 0, r.stderr());
  const before = (await emu.sends()).length;

  // The key OpenClaw's delivery id gives (channel.js), the same markdown text; the same section
  // with the key from the environment instead.
  const cliConfig = join(dir, "kakao.json");
  writeFileSync(cliConfig, JSON.stringify({ ...section, appKey: undefined }));
  const cli = run(
    t,
    hostBin(),
    ["message", "send", "--target", "conversation:3000001", "--message", "한 번만", "--markdown",
      "--idempotency-key", "openclaw:shared-7:0", "--config", cliConfig],
    { KAKAOWORK_APP_KEY: emu.appKey, KAKAOWORK_STATE_DIR: join(dir, "cli-state") },
  );
  const c = await cli.done;
  assert.equal(c.code, 0, `${c.stdout()}\n${c.stderr()}`);
  assert.match(c.stdout(), /Sent\./);
  assert.equal((await emu.sends()).length, before, "kakaowork-host posted nothing: the ledger said sent");
});
