// The durable inbox on its own: stored items run once across processes sharing the state,
// an item held by a dead process is run again after its lease, failures are tried again later,
// items of one conversation run in order, and an item past its age is dropped with a log line.
// Two Inbox objects on one SQLite file stand for two processes; the clock is the test's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./helpers.js";
import { SqliteKv } from "../plugin/src/kv.js";
import { Inbox, LEASE_MS, MAX_AGE_MS, PREFIX } from "../plugin/src/inbox.js";

function setup(t) {
  const path = join(tempDir(t, "inbox"), "state.sqlite3");
  const clock = { now: 1_800_000_000_000 };
  const stores = [];
  const open = (run, log) => {
    const kv = new SqliteKv(path, { now: () => clock.now });
    stores.push(kv);
    return new Inbox({ kv, run, log, now: () => clock.now });
  };
  t.after(() => stores.forEach((s) => s.close()));
  return { clock, open };
}

const event = (id, conversation = "3000001") => ({
  kind: "event",
  id,
  lane: `conversation:${conversation}`,
  // As the component gives it: its time is a u64 (BigInt).
  body: { messageId: id, conversationId: conversation, text: `text ${id}`, timestampMs: 1_800_000_000_000n },
});

test("an admitted item runs once, even when two processes drain together", async (t) => {
  const { open } = setup(t);
  const ran = [];
  const seen = [];
  const run = async (item) => {
    ran.push(item.body.messageId);
    seen.push(item);
    await new Promise((r) => setTimeout(r, 20));
  };
  const a = open(run);
  const b = open(run);
  const keys = await a.admit("default", [event("m1"), event("m2", "3000002")]);
  assert.equal(keys.length, 2);
  await Promise.all([a.drain({ keys }), b.drain({ account: "default" }), a.drain({ account: "default" })]);
  assert.deepEqual(ran.sort(), ["m1", "m2"]);
  assert.equal(Number(seen[0].body.timestampMs), 1_800_000_000_000, "the event's time survives the store");
  assert.deepEqual(await a.kv.listKeys(PREFIX), [], "delivered items are gone");
});

test("the same event admitted twice is stored and run once", async (t) => {
  const { open } = setup(t);
  const ran = [];
  const inbox = open(async (item) => ran.push(item.body.messageId));
  await inbox.admit("default", [event("m1")]);
  await inbox.admit("default", [event("m1")]);
  await inbox.drain({ account: "default" });
  assert.deepEqual(ran, ["m1"]);
});

test("an item held by a process that died is run by the next one once the lease is over", async (t) => {
  const { open, clock } = setup(t);
  // The first process claims the item and never finishes (it was killed).
  const dead = open(() => new Promise(() => {}));
  await dead.admit("default", [event("m1")]);
  dead.drain({ account: "default" });
  await new Promise((r) => setTimeout(r, 50));
  const ran = [];
  const next = open(async (item) => ran.push(item.body.messageId));
  await next.drain({ account: "default" });
  assert.deepEqual(ran, [], "not while the lease holds");
  clock.now += LEASE_MS + 1;
  await next.drain({ account: "default" });
  assert.deepEqual(ran, ["m1"]);
  await next.drain({ account: "default" });
  assert.deepEqual(ran, ["m1"], "and only once");
});

test("a failing item is tried again later, not at once, and then delivered", async (t) => {
  const { open, clock } = setup(t);
  let calls = 0;
  const errors = [];
  const inbox = open(
    async () => {
      calls += 1;
      if (calls === 1) throw new Error("the agent is not ready");
    },
    { error: (m) => errors.push(m) },
  );
  await inbox.admit("default", [event("m1")]);
  await inbox.drain({ account: "default" });
  assert.equal(calls, 1);
  assert.match(errors.join("\n"), /failed \(try 1\).*the agent is not ready/);
  await inbox.drain({ account: "default" });
  assert.equal(calls, 1, "waits before the next try");
  clock.now += 2_001;
  await inbox.drain({ account: "default" });
  assert.equal(calls, 2);
  assert.deepEqual(await inbox.kv.listKeys(PREFIX), []);
});

test("items of one conversation run in the order they came; other conversations do not wait", async (t) => {
  const { open } = setup(t);
  const log = [];
  let release;
  const gate = new Promise((r) => (release = r));
  const inbox = open(async (item) => {
    log.push(`start ${item.body.messageId}`);
    if (item.body.messageId === "a1") await gate;
    log.push(`end ${item.body.messageId}`);
  });
  await inbox.admit("default", [event("a1", "1"), event("a2", "1"), event("b1", "2")]);
  const draining = inbox.drain({ account: "default" });
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(log.includes("end b1"), `another conversation ran meanwhile: ${log}`);
  assert.ok(!log.includes("start a2"), `a2 waits for a1: ${log}`);
  release();
  await draining;
  assert.ok(log.indexOf("end a1") < log.indexOf("start a2"), log.join());
});

test("an item not delivered within a day is dropped with a log line", async (t) => {
  const { open, clock } = setup(t);
  const errors = [];
  const inbox = open(
    async () => {
      throw new Error("never works");
    },
    { error: (m) => errors.push(m) },
  );
  await inbox.admit("default", [event("m1")]);
  await inbox.drain({ account: "default" });
  clock.now += MAX_AGE_MS + 1;
  await inbox.drain({ account: "default" });
  assert.match(errors.at(-1), /dropped the inbound event .*m1 after 1 tries/);
  assert.deepEqual(await inbox.kv.listKeys(PREFIX), []);
  assert.equal(inbox.stats.dropped, 1);
});

test("a stored item that cannot be read is dropped with a log line, not retried forever", async (t) => {
  const { open } = setup(t);
  const errors = [];
  const inbox = open(async () => assert.fail("not run"), { error: (m) => errors.push(m) });
  inbox.kv.set(`${PREFIX}default/event:broken`, new TextEncoder().encode("{not json"));
  await inbox.drain({ account: "default" });
  assert.match(errors.join("\n"), /cannot be read; dropped/);
  assert.deepEqual(await inbox.kv.listKeys(PREFIX), []);
});
