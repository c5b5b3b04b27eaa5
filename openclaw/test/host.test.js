// The component in Node: the jco-transpiled guest in its worker, the HTTP bridge, SQLite KV,
// against the project's emulator. No OpenClaw process here (see openclaw.test.js for that).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startEmulator, tempDir, fileScope } from "./helpers.js";
import { deliver, withRetries } from "../plugin/src/send.js";

let runtime;
let channel;
let emu;
const state = {};
// Hooks registered inside `before` would end with it; these run when the file's tests end.
const suite = fileScope();
after(() => runtime?.shutdown());

before(async () => {
  // The state directory must be set before the runtime opens its store.
  process.env.OPENCLAW_STATE_DIR = tempDir(suite, "oc-state");
  delete process.env.KAKAOWORK_APP_KEY;
  runtime = await import("../plugin/src/runtime.js");
  channel = await import("../plugin/src/channel.js");
  emu = await startEmulator(suite);
  state.cfg = { channels: { kakao: { appKey: emu.appKey, apiBase: emu.baseUrl, callbackSecret: SECRET } } };
});

// Callbacks are authenticated: every config here has a secret.
const SECRET = "test-callback-secret-0123456789";

let sent = 0;
const send = async (target, text, key = `k-${++sent}`) => {
  const { host } = await runtime.channelFor(state.cfg);
  return deliver(host, { target, text, idempotencyKey: key });
};

test("user:, conversation: and email: targets each post exactly one message", async () => {
  const before = (await emu.sends()).length;
  const r1 = await send("user:10000001", "to a user");
  const r2 = await send("conversation:3000001", "to a room");
  const r3 = await send("email:yh.lee@example.co.kr", "by e-mail");
  const sends = (await emu.sends()).slice(before);
  assert.deepEqual(
    sends.map((r) => [r.path, JSON.parse(r.body).text]),
    [
      ["/v1/messages.send", "to a user"],
      ["/v1/messages.send", "to a room"],
      ["/v1/messages.send_by_email", "by e-mail"],
    ],
  );
  assert.equal(r2.conversationId, "3000001");
  for (const r of [r1, r2, r3]) assert.match(r.messageId, /^\d+$/);
  // The key went with the request, but only the host put it there.
  assert.ok(sends.every((r) => r.authorization === `Bearer ${emu.appKey}`));
});

test("a retried send with the same key posts nothing twice", async () => {
  const before = (await emu.sends()).length;
  const a = await send("conversation:3000002", "once only", "same-key");
  const b = await send("conversation:3000002", "once only", "same-key");
  assert.equal(a.messageId, b.messageId);
  assert.equal((await emu.sends()).length - before, 1);
});

test("OpenClaw's retried delivery (same delivery id and part) posts nothing twice", async () => {
  const before = (await emu.sends()).length;
  const ctx = (part) => ({
    cfg: state.cfg,
    to: "conversation:3000003",
    text: `queued part ${part}`,
    accountId: "default",
    deliveryQueueId: "oc-queue-7",
    deliveryPartIndex: part,
  });
  const { sendText } = channel.kakaoPlugin.outbound;
  const first = await sendText(ctx(0));
  const retried = await sendText(ctx(0));
  const next = await sendText(ctx(1));
  assert.equal(retried.messageId, first.messageId, "the retry answers with the first receipt");
  assert.notEqual(next.messageId, first.messageId, "the next part is a new message");
  const texts = (await emu.sends()).slice(before).map((r) => JSON.parse(r.body).text);
  assert.deepEqual(texts, ["queued part 0", "queued part 1"]);
});

test("the pairing adapter's notify tells the user once, even when asked twice", async () => {
  const { APPROVED_MESSAGE } = await import("../plugin/src/approvals.js");
  const before = (await emu.sends()).length;
  const { notifyApproval } = channel.kakaoPlugin.pairing;
  await notifyApproval({ cfg: state.cfg, id: "10000003", accountId: "default" });
  await notifyApproval({ cfg: state.cfg, id: "10000003", accountId: "default" });
  const sends = (await emu.sends()).slice(before).filter((r) => r.path === "/v1/messages.send");
  assert.deepEqual(sends.map((r) => JSON.parse(r.body).text), [APPROVED_MESSAGE]);
});

test("a 6,000-character message arrives as ordered parts, none lost", async () => {
  const words = Array.from({ length: 1000 }, (_, i) => `w${String(i).padStart(3, "0")}`);
  const text = words.join(" ") + " " + "끝".repeat(1000);
  assert.ok(text.length >= 6000);
  const before = (await emu.posted()).length;
  const r = await send("conversation:3000003", text);
  const parts = (await emu.posted()).slice(before).map((p) => p.text);
  assert.ok(parts.length >= 3, `${parts.length} parts`);
  assert.equal(r.chunks.length, parts.length);
  assert.deepEqual(parts.join(" ").split(/\s+/).join(""), text.split(/\s+/).join(""));
});

test("the event loop keeps serving while a send waits 5 s on KakaoWork", async (t) => {
  const server = createServer((req, res) => res.end("pong"));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => server.close(r)));
  const url = `http://127.0.0.1:${server.address().port}/`;
  await emu.fault({ path: "/v1/messages.send", fault: { delayMs: 5000 } });
  const started = Date.now();
  const slow = send("conversation:3000004", "slow answer");
  await new Promise((r) => setTimeout(r, 300));
  const t0 = performance.now();
  assert.equal(await (await fetch(url)).text(), "pong");
  const answeredMs = performance.now() - t0;
  await slow;
  const sendMs = Date.now() - started;
  assert.ok(sendMs >= 4500, `the send took ${sendMs} ms, so it did wait on the slow answer`);
  assert.ok(answeredMs < 200, `the other request took ${answeredMs} ms`);
});

test("a wrong app key is an authentication error naming the fix", async () => {
  const cfg = { channels: { kakao: { appKey: "wrong-key", apiBase: emu.baseUrl, callbackSecret: SECRET } } };
  const { host } = await runtime.channelFor(cfg);
  await assert.rejects(withRetries(() => host.call("probe", undefined)), (e) => {
    assert.equal(e.payload.tag, "authentication");
    assert.match(e.message, /app key/);
    return true;
  });
});

test("an invalid section is rejected with each problem's path", async () => {
  const cfg = { channels: { kakao: { appKey: "k", dmPolicy: "sometimes", rateLimit: { burst: 0 } } } };
  await assert.rejects(runtime.channelFor(cfg), (e) => {
    const paths = e.payload.map((i) => i.path);
    assert.ok(paths.includes("channels.kakao.dmPolicy"), paths.join());
    assert.ok(paths.includes("channels.kakao.rateLimit.burst"), paths.join());
    // No callbackSecret is not a problem: the plugin makes a callback token itself.
    assert.ok(!paths.includes("channels.kakao.callbackSecret"), paths.join());
    return true;
  });
});

test("OpenClaw's pairing store answers the pairing import: its codes and its text", async () => {
  const calls = [];
  const { openclawPairing } = await import("../plugin/src/runtime.js");
  const store = openclawPairing({
    readAllowFromStore: async (p) => (calls.push(["read", p]), ["10000002"]),
    upsertPairingRequest: async (p) => (calls.push(["upsert", p]), { code: "OCPAIR22", created: true }),
    buildPairingReply: ({ code }) => `OpenClaw: openclaw pairing approve kakao ${code}`,
  });
  const cfg = {
    channels: { kakao: { appKey: emu.appKey, apiBase: emu.baseUrl, dmPolicy: "pairing", callbackSecret: SECRET } },
  };
  const { host } = await runtime.channelFor(cfg);
  const saved = host.pairing;
  host.pairing = store;
  try {
    const allowed = await host.call("checkPolicy", undefined, "10000002", "direct");
    assert.equal(allowed.tag, "allow");
    const pair = await host.call("checkPolicy", undefined, "kw:10000003", "direct");
    assert.equal(pair.tag, "pairing-required");
    assert.deepEqual(pair.val, {
      code: "OCPAIR22",
      created: true,
      reply: "OpenClaw: openclaw pairing approve kakao OCPAIR22",
    });
    assert.deepEqual(calls.find(([k]) => k === "upsert")[1], {
      channel: "kakao",
      id: "10000003",
      accountId: "default",
    });
    // A store that cannot answer fails closed: a storage error, no decision.
    host.pairing = { readAllowFrom: async () => { throw new Error("down"); } };
    await assert.rejects(host.call("checkPolicy", undefined, "10000004", "direct"), (e) => e.payload.tag === "storage");
  } finally {
    host.pairing = saved;
  }
});

test("the channel's probe reports the bot, or an authentication problem", async () => {
  const { kakaoPlugin } = await import("../plugin/src/channel.js");
  const { resolveAccount, sectionOf } = await import("../plugin/src/config.js");
  const probe = (cfg) =>
    kakaoPlugin.status.probeAccount({ account: resolveAccount(sectionOf(cfg)), cfg, timeoutMs: 10_000 });
  const good = await probe(state.cfg);
  assert.equal(good.ok, true, JSON.stringify(good));
  assert.ok(good.bot.name, JSON.stringify(good));
  const bad = await probe({
    channels: { kakao: { appKey: "not-the-key", apiBase: emu.baseUrl, callbackSecret: SECRET } },
  });
  assert.equal(bad.ok, false);
  assert.equal(bad.kind, "auth", JSON.stringify(bad));
});

test("key ids are keyed by a salt kept in the state, made once", async () => {
  const { keyId } = await import("../plugin/src/config.js");
  const { SqliteKv } = await import("../plugin/src/kv.js");
  const { createHash } = await import("node:crypto");
  const a = new SqliteKv(join(tempDir(suite, "salt-a"), "s.sqlite3"));
  const b = new SqliteKv(join(tempDir(suite, "salt-b"), "s.sqlite3"));
  try {
    const salt = await runtime.stateSalt(a);
    assert.equal(salt.length, 32);
    assert.deepEqual(await runtime.stateSalt(a), salt, "kept");
    const other = await runtime.stateSalt(b);
    assert.notDeepEqual(other, salt, "each state has its own");
    const id = keyId("the-app-key", salt);
    assert.match(id, /^[0-9a-f]{16}$/);
    assert.notEqual(id, createHash("sha256").update("the-app-key").digest("hex").slice(0, 16));
    assert.notEqual(id, keyId("the-app-key", other));
    assert.notEqual(id, keyId("another-key", salt));
  } finally {
    a.close();
    b.close();
  }
});

test("a rotated key file is picked up by the running process without a config change", async () => {
  const { kakaoPlugin } = await import("../plugin/src/channel.js");
  const { resolveAccount, sectionOf } = await import("../plugin/src/config.js");
  const file = join(tempDir(suite, "keyfile"), "app-key");
  const cfg = { channels: { kakao: { keyFile: file, apiBase: emu.baseUrl, callbackSecret: SECRET } } };
  const probe = () =>
    kakaoPlugin.status.probeAccount({ account: resolveAccount(sectionOf(cfg)), cfg, timeoutMs: 10_000 });
  writeFileSync(file, `${emu.appKey}\n`);
  assert.equal((await probe()).ok, true);
  // Same length, so only the content tells the two apart.
  writeFileSync(file, `${"x".repeat(emu.appKey.length)}\n`);
  const rotatedAway = await probe();
  assert.equal(rotatedAway.kind, "auth", JSON.stringify(rotatedAway));
  writeFileSync(file, `${emu.appKey}\n`);
  assert.equal((await probe()).ok, true, "and back");
});

test("a proxy, which this host cannot honour, is refused with its path instead of ignored", async () => {
  const cfg = {
    channels: { kakao: { appKey: "k", callbackSecret: SECRET, accounts: { a: { proxy: "http://127.0.0.1:3128" } } } },
  };
  await assert.rejects(runtime.channelFor(cfg), (e) => {
    assert.deepEqual(
      e.payload.map((i) => i.path),
      ["channels.kakao.accounts.a.proxy"],
    );
    assert.match(e.message, /proxy/);
    return true;
  });
});

test("the OpenClaw host tells targets as the guest parses them (spec/targets.json)", async () => {
  const spec = JSON.parse(readFileSync(new URL("../../spec/targets.json", import.meta.url), "utf8"));
  const { targetKind, normalizeTarget } = await import("../plugin/src/channel.js");
  assert.ok(spec.cases.length > 0);
  for (const c of spec.cases) {
    assert.equal(targetKind(c.input) ?? null, c.kind, c.about);
    // What OpenClaw is told looks like an id is what the guest accepts.
    assert.equal(normalizeTarget(c.input) !== undefined, c.kind !== null, c.about);
  }
});

test("the delivery loop follows the cases both hosts share (spec/delivery.json)", async () => {
  const spec = JSON.parse(readFileSync(new URL("../../spec/delivery.json", import.meta.url), "utf8"));
  const { retryHint, MAX_CALLS } = await import("../plugin/src/send.js");
  const { ChannelError } = await import("../plugin/src/component.js");
  // As jco hands them over: a u64 is a BigInt.
  const wit = (e) => {
    if (e.tag === "deferred") return { tag: e.tag, val: BigInt(e.val) };
    if (e.val?.retryAfterMs !== undefined) return { tag: e.tag, val: { ...e.val, retryAfterMs: BigInt(e.val.retryAfterMs) } };
    return e;
  };
  assert.equal(MAX_CALLS, spec.maxCalls);
  assert.ok(spec.hints.length > 0);
  for (const c of spec.hints) assert.equal(retryHint(wit(c.error)), c.wait, c.about);
  assert.ok(spec.loops.length > 0);
  for (const c of spec.loops) {
    let calls = 0;
    let waited = 0;
    let outcome;
    try {
      await withRetries(async () => {
        const a = c.answers[Math.min(calls, c.answers.length - 1)];
        assert.ok(calls < c.answers.length || c.repeatLast, `${c.about}: called past the answers`);
        calls += 1;
        if (a === "ok") return "receipt";
        throw new ChannelError("send", wit(a));
      }, { onWait: (ms) => (waited += ms) });
      outcome = "ok";
    } catch (e) {
      assert.ok(e instanceof ChannelError, `${c.about}: ${e}`);
      outcome = e.payload.tag;
    }
    assert.deepEqual({ outcome, calls, waited }, { outcome: c.outcome, calls: c.calls, waited: c.waited }, c.about);
  }
});

test("credentials are resolved in the order both hosts share (spec/credentials.json)", async (t) => {
  const spec = JSON.parse(readFileSync(new URL("../../spec/credentials.json", import.meta.url), "utf8"));
  const { resolveCredentials, listAccountIds, defaultAccountId } = await import("../plugin/src/config.js");
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  assert.ok(spec.cases.length > 0);
  for (const c of spec.cases) {
    const dir = mkdtempSync(join(tmpdir(), "kw-cred-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const [name, text] of Object.entries(c.files)) writeFileSync(join(dir, name), text);
    const section = JSON.parse(JSON.stringify(c.section).replaceAll("$DIR", dir));
    const resolve = () => resolveCredentials(section, listAccountIds(section), defaultAccountId(section), c.env);
    if (c.error) {
      assert.throws(resolve, (e) => {
        for (const word of c.error) assert.ok(e.message.includes(word), `${c.about}: ${e.message}`);
        return true;
      }, c.about);
    } else {
      const got = Object.fromEntries([...resolve()].map(([id, r]) => [id, { source: r.source, key: r.key ?? null }]));
      assert.deepEqual(got, c.accounts, c.about);
    }
  }
});

test("a malformed app key is refused at configuration, naming the account, without the key", async () => {
  const spec = JSON.parse(readFileSync(new URL("../../spec/app-keys.json", import.meta.url), "utf8"));
  const { appKeyProblem } = await import("../plugin/src/config.js");
  for (const key of spec.valid) assert.equal(appKeyProblem(key), undefined, key);
  assert.ok(spec.invalid.length >= 6);
  for (const { key, says } of spec.invalid) {
    assert.match(appKeyProblem(key) ?? "", new RegExp(says), JSON.stringify(key));
    // Through the gateway's own configuration path, as a running gateway meets it.
    const cfg = { channels: { kakao: { accounts: { ops: { appKey: key } }, callbackSecret: "test-callback-secret-0123456789" } } };
    await assert.rejects(runtime.channelFor(cfg), (e) => {
      assert.match(e.message, /channels\.kakao\.accounts\.ops\.appKey/);
      assert.match(e.message, /`ops`/);
      assert.ok(e.message.includes(says), e.message);
      assert.ok(!e.message.includes(key), "the key is not echoed");
      return true;
    });
  }
});
