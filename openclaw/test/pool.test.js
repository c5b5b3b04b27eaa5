// The component's pool in Node: calls waiting on KakaoWork in one instance never hold another;
// a full queue refuses at once; a dead worker and a call past its deadline fail clearly and the
// next calls succeed. Against the project's emulator, with standalone pools (no OpenClaw).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startEmulator, tempDir, fileScope } from "./helpers.js";
import { ComponentHost, PoolError } from "../plugin/src/component.js";
import { COMPONENT_DIR } from "../plugin/src/runtime.js";
import { sendRequest } from "../plugin/src/send.js";

const suite = fileScope();
let emu;
const SECRET = "test-callback-secret-0123456789";

before(async () => {
  emu = await startEmulator(suite);
});

/** A configured pool of its own, on a SQLite file of its own; closed by the test. */
async function pool(t, opts) {
  const host = new ComponentHost({
    componentDir: COMPONENT_DIR,
    state: { kind: "sqlite", path: join(tempDir(t, "pool"), "state.sqlite3") },
    ...opts,
  });
  t.after(() => host.close());
  // Nobody approved yet, and no room for a pairing request: policy answers without OpenClaw.
  host.pairing = { readAllowFrom: async () => [], upsertRequest: async () => null };
  const section = JSON.stringify({ appKey: true, apiBase: emu.baseUrl, callbackSecret: SECRET });
  await host.call("configure", section, [{ account: "default", source: "config", keyId: "0123456789abcdef" }]);
  host.endpoints = new Map([["default", { origin: new URL(emu.baseUrl).origin, key: emu.appKey }]]);
  return host;
}

let n = 0;
const send = (host, text) =>
  host.call("send", sendRequest({ target: "conversation:3000001", text, idempotencyKey: `pool-${++n}` }));

/** Resolves when `p` settles, with how it settled; never rejects. */
const settled = (p) =>
  p.then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  );

test("a call waiting on KakaoWork holds one instance: policy calls go to the others meanwhile", async (t) => {
  const host = await pool(t, { workers: 3 });
  await emu.fault({ path: "/v1/messages.send", fault: { delayMs: 4000 } });
  let sendDone = false;
  const slow = send(host, "slow").finally(() => (sendDone = true));
  // Twenty calls while the send waits: each answered, all before the send is.
  for (let i = 0; i < 20; i++) {
    const d = await host.callUrgent("checkPolicy", undefined, `1000${1000 + i}`, "direct");
    assert.ok(["allow", "deny", "pairing-required"].includes(d.tag), JSON.stringify(d));
    assert.equal(sendDone, false, `call ${i} was answered only after the slow send`);
  }
  const receipt = await slow;
  assert.match(receipt.messageId, /^\d+$/);
  assert.ok(host.stats.started <= 3, `${host.stats.started} workers started for a pool of 3`);
});

test("with every instance busy and the queue full, a callback is refused at once; later ones succeed", async (t) => {
  const host = await pool(t, { workers: 1, queueLimit: 2, urgentWaitMs: 60_000 });
  await emu.fault({ path: "/v1/messages.send", fault: { delayMs: 3000 } });
  let sendDone = false;
  const slow = send(host, "holds the only instance").finally(() => (sendDone = true));
  while (host.stats.taken < 2) await new Promise((r) => setTimeout(r, 20));
  const queued = [1, 2].map(() => settled(host.callUrgent("checkPolicy", undefined, "10000001", "direct")));
  const refused = await settled(host.callUrgent("checkPolicy", undefined, "10000001", "direct"));
  assert.equal(refused.ok, false);
  assert.ok(refused.error instanceof PoolError && refused.error.kind === "busy", String(refused.error));
  assert.equal(sendDone, false, "refused while the instance was still held, not after");
  assert.equal(host.stats.refused, 1);
  await slow;
  for (const q of await Promise.all(queued)) assert.equal(q.ok, true, String(q.error));
  const after = await host.callUrgent("checkPolicy", undefined, "10000001", "direct");
  assert.ok(after.tag);
});

test("a callback waiting longer than KakaoWork would is refused, not left hanging", async (t) => {
  const host = await pool(t, { workers: 1, urgentWaitMs: 300 });
  await emu.fault({ path: "/v1/messages.send", fault: { delayMs: 2000 } });
  const slow = send(host, "holds the only instance");
  while (host.stats.taken < 2) await new Promise((r) => setTimeout(r, 20));
  const r = await settled(host.callUrgent("checkPolicy", undefined, "10000001", "direct"));
  assert.equal(r.ok, false);
  assert.equal(r.error.kind, "busy", String(r.error));
  await slow;
});

test("a worker killed mid-call is replaced: its call fails with an error, the next calls succeed", async (t) => {
  const host = await pool(t, { workers: 1 });
  await emu.fault({ path: "/v1/messages.send", fault: { delayMs: 3000 } });
  const victim = settled(send(host, "in the killed worker"));
  while (host.stats.taken < 2) await new Promise((r) => setTimeout(r, 20));
  await host.slots[0].worker.terminate();
  const r = await victim;
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof PoolError && r.error.kind === "worker-died", String(r.error));
  assert.match(r.error.message, /send.*replaced/);
  assert.equal(host.stats.replaced, 1);
  // The new worker is configured as the old one was, without another `configure`.
  const receipt = await send(host, "after the replacement");
  assert.match(receipt.messageId, /^\d+$/);
  const d = await host.callUrgent("checkPolicy", undefined, "10000001", "direct");
  assert.ok(d.tag);
});

test("a call past its deadline fails; its late answer settles no other call", async (t) => {
  const host = await pool(t, { workers: 1, callDeadlineMs: 1000 });
  await emu.fault({ path: "/v1/bots.info", fault: { delayMs: 1800 } });
  const late = await settled(host.call("probe", undefined));
  assert.equal(late.ok, false);
  assert.equal(late.error.kind, "deadline", String(late.error));
  // Calls made while the late answer is still coming get their own answers.
  const answers = await Promise.all(
    ["10000001", "10000002", "10000003"].map((u) => host.call("checkPolicy", undefined, u, "direct")),
  );
  for (const a of answers) assert.ok(["allow", "deny", "pairing-required"].includes(a.tag), JSON.stringify(a));
  await new Promise((r) => setTimeout(r, 1200));
  const receipt = await send(host, "after the late answer");
  assert.match(receipt.messageId, /^\d+$/);
});
