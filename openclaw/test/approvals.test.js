// Approval notices: a user who was given a pairing code is told once when OpenClaw's allow
// store lists them, whichever process sees it first, and a failed notice is tried again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteKv } from "../plugin/src/kv.js";
import { ApprovalNotices, MAX_ATTEMPTS, PENDING_TTL_MS, LEASE_MS } from "../plugin/src/approvals.js";
import { readFileSync } from "node:fs";
import { REPO } from "./helpers.js";

const CAS = readFileSync(join(REPO, "host-test", "src", "runtime", "kv", "cas.lua"), "utf8");

/** Notices over one SQLite file; `allowed` is OpenClaw's allow store, `told` what was sent. */
function setup(t, { now } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "kw-approvals-"));
  const kvs = [];
  t.after(() => {
    for (const kv of kvs) kv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const allowed = new Set();
  const told = [];
  let failures = 0;
  const open = (over = {}) => {
    const kv = new SqliteKv(join(dir, "state.sqlite3"), now ? { now } : {});
    kvs.push(kv);
    return new ApprovalNotices({
      kv,
      now,
      readAllowFrom: async () => [...allowed],
      notify:
        over.notify ??
        (async (account, sender, since) => {
          if (failures > 0) {
            failures -= 1;
            throw new Error("KakaoWork is down");
          }
          told.push({ account, sender, since });
        }),
    });
  };
  return { open, allowed, told, failNext: (n) => (failures = n) };
}

test("a challenged user is told once, after OpenClaw approves them, and nobody else is", async (t) => {
  const s = setup(t);
  const n = s.open();
  await n.recordChallenge("default", "10000004");
  await n.recordChallenge("default", "10000005");
  assert.deepEqual(await n.sweep("default"), [], "nobody approved yet");
  s.allowed.add("10000004");
  s.allowed.add("10000009"); // allowed by config or by hand, never challenged: not told
  assert.deepEqual(await n.sweep("default"), ["10000004"]);
  assert.deepEqual(await n.sweep("default"), [], "told once");
  assert.deepEqual(s.told.map((x) => x.sender), ["10000004"]);
  assert.deepEqual(await n.sweep("other"), [], "accounts are separate");
});

test("the gateway's watcher and an explicit notify in another process tell the user once", async (t) => {
  const s = setup(t);
  const gateway = s.open();
  const cli = s.open();
  await gateway.recordChallenge("default", "10000004");
  s.allowed.add("10000004");
  const [swept, explicit] = await Promise.all([
    gateway.sweep("default"),
    cli.tell("default", "10000004", { force: true }),
  ]);
  assert.equal(s.told.length, 1, JSON.stringify({ swept, explicit }));
  assert.equal(await cli.tell("default", "10000004", { force: true }), "already-told");
  assert.equal(s.told.length, 1);
});

test("an explicit notify tells a user who was never challenged; the watcher does not", async (t) => {
  const s = setup(t);
  const n = s.open();
  assert.equal(await n.tell("default", "10000007"), "not-pending");
  assert.equal(s.told.length, 0);
  assert.equal(await n.tell("default", "10000007", { force: true }), "told");
  assert.deepEqual(s.told.map((x) => x.sender), ["10000007"]);
});

test("a notice that fails is tried again at the next sweep, and given up after a few tries", async (t) => {
  const s = setup(t);
  const n = s.open();
  await n.recordChallenge("default", "10000004");
  s.allowed.add("10000004");
  s.failNext(1);
  assert.deepEqual(await n.sweep("default"), [], "the first try failed");
  assert.deepEqual(await n.sweep("default"), ["10000004"], "the next sweep tells them");
  assert.equal(s.told.length, 1);

  await n.recordChallenge("default", "10000005");
  s.allowed.add("10000005");
  s.failNext(1000);
  for (let i = 0; i < MAX_ATTEMPTS + 3; i++) await n.sweep("default");
  s.failNext(0);
  assert.deepEqual(await n.sweep("default"), [], "given up: no endless retries");
  assert.equal(s.told.length, 1);
});

test("a challenge OpenClaw has dropped (after an hour) is not announced", async (t) => {
  let now = 1_000_000;
  const s = setup(t, { now: () => now });
  const n = s.open();
  await n.recordChallenge("default", "10000004");
  now += PENDING_TTL_MS;
  s.allowed.add("10000004");
  assert.deepEqual(await n.sweep("default"), []);
  assert.equal(s.told.length, 0);
});

test("a second code for the same user keeps one pending record; a later approval is a new notice", async (t) => {
  const s = setup(t);
  const n = s.open();
  await n.recordChallenge("default", "10000004");
  await n.recordChallenge("default", "10000004");
  s.allowed.add("10000004");
  assert.deepEqual(await n.sweep("default"), ["10000004"]);
  // Removed from the allow store and challenged again later: a new record, a new stamp.
  await new Promise((r) => setTimeout(r, 5));
  await n.recordChallenge("default", "10000004");
  assert.deepEqual(await n.sweep("default"), ["10000004"]);
  assert.equal(s.told.length, 2);
  assert.notEqual(s.told[0].since, s.told[1].since, "a different idempotency key each time");
});

test("the watcher sweeps until its signal aborts", async (t) => {
  const s = setup(t);
  const n = s.open();
  const ac = new AbortController();
  n.watch("default", ac.signal, 10);
  await n.recordChallenge("default", "10000004");
  s.allowed.add("10000004");
  for (let i = 0; i < 200 && s.told.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(s.told.length, 1, "the watcher told the approved user");
  ac.abort();
  await n.recordChallenge("default", "10000005");
  s.allowed.add("10000005");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.told.length, 1, "nothing after the abort");
});

test("a notice claimed by a process that died is sent by another, once", async (t) => {
  let now = 1_000_000;
  const s = setup(t, { now: () => now });
  const dying = s.open({ notify: () => new Promise(() => {}) });
  const other = s.open();
  await dying.recordChallenge("default", "10000004");
  s.allowed.add("10000004");
  // The first process claims the notice and never finishes (killed, or stuck).
  void dying.sweep("default");
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await other.sweep("default"), [], "claimed, and the claim is fresh");
  now += LEASE_MS + 1;
  assert.deepEqual(await other.sweep("default"), ["10000004"], "the lease ran out: sent by another");
  now += LEASE_MS + 1;
  assert.deepEqual(await other.sweep("default"), [], "once");
  assert.equal(s.told.length, 1);
});

test("with 100,000 unrelated keys in Redis, a sweep reads its index and its records only", async (t) => {
  const { startRedis } = await import("./helpers.js");
  const { RedisKv } = await import("../plugin/src/kv-redis.js");
  const { createClient } = await import("@redis/client");
  const redis = await startRedis(t);
  const raw = createClient({ url: redis.url });
  raw.on("error", () => {});
  await raw.connect();
  t.after(() => raw.destroy());
  // The keyspace of a Redis the plugin shares: 100,000 keys of others.
  await raw.sendCommand(["EVAL", "for i = 1, 100000 do redis.call('SET', 'other-app:' .. i, 'x') end return 1", "0"]);
  const kv = new RedisKv(redis.url, { casScript: CAS });
  t.after(() => kv.close());
  const allowed = new Set(["10000004"]);
  const told = [];
  const notices = new ApprovalNotices({
    kv,
    readAllowFrom: async () => [...allowed],
    notify: async (account, sender) => told.push(sender),
  });
  for (const sender of ["10000004", "10000005", "10000006"]) await notices.recordChallenge("default", sender);
  await raw.sendCommand(["CONFIG", "RESETSTAT"]);
  assert.deepEqual(await notices.sweep("default"), ["10000004"]);
  assert.deepEqual(await notices.sweep("default"), [], "and once");
  const stats = String(await raw.sendCommand(["INFO", "commandstats"]));
  const calls = Object.fromEntries(
    [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map(([, name, n]) => [name, Number(n)]),
  );
  assert.equal(calls.scan ?? 0, 0, stats);
  assert.equal(calls.keys ?? 0, 0, stats);
  // Two sweeps: the index and three records each, the claim, the notice's mark, the index update.
  const total = Object.entries(calls).filter(([n]) => n !== "info" && n !== "config").reduce((a, [, n]) => a + n, 0);
  assert.ok(total <= 20, JSON.stringify(calls));
  assert.deepEqual(told, ["10000004"]);
});
