// A gateway with one component instance (channels.kakao.workers = 1), so that one slow KakaoWork
// call holds all of them: callbacks beyond the queue get a quick 503 and succeed again once
// KakaoWork answers, without a restart. Then a crash: the gateway killed with SIGKILL after
// KakaoWork got the answer to a submission and before the agent ran; restarted, it answers that
// submission exactly once, and the same callback delivered again makes no second event: the proof
// of the message adapter's declared receive ack policy, `after_receive_record`.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { verifyChannelMessageReceiveAckPolicyAdapterProofs } from "openclaw/plugin-sdk/channel-outbound";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  startEmulator,
  openclawHome,
  freePort,
  startFakeModel,
  startGateway,
  fileScope,
  until,
  configureGateway,
  tempDir,
  botSays,
  replyClick,
} from "./helpers.js";

const SECRET = "test-callback-secret-0123456789abcdef";
const PATH = "/kakaowork/default/callback";
const USER = 10000001;
const suite = fileScope();

let emu;
let home;
let model;
let port;
let callbackUrl;

before(async () => {
  emu = await startEmulator(suite);
  model = await startFakeModel(suite);
  home = await openclawHome(suite);
  port = await freePort();
  const section = {
    appKey: emu.appKey,
    apiBase: emu.baseUrl,
    dmPolicy: "allowlist",
    allowFrom: [String(USER)],
    groupPolicy: "disabled",
    callbackSecret: SECRET,
    workers: 1,
  };
  await configureGateway(home, { section, port, modelUrl: model.url });
  callbackUrl = `http://127.0.0.1:${port}${PATH}?token=${SECRET}`;
});

const dmTo = (user, text) => botSays(emu, home, `user:${user}`, text);
const click = (message, user = USER) => replyClick(emu, callbackUrl, message, user);

const count = async (text) => (await emu.posted()).filter((p) => p.text === text).length;

test("with the only instance held and the queue full, callbacks get a quick 503; then succeed again", async (t) => {
  const gateway = await startGateway(t, home, port, PATH);
  const first = await dmTo(USER, "첫 메시지");
  const open = await click(first);
  assert.ok(open.body.view, JSON.stringify(open.body));
  await emu.fault({ path: "/v1/messages.send", fault: { delayMs: 8000 } });
  await emu.submit({ callbackUrl, messageId: first.id, userId: USER, view: open.body.view, inputs: { reply: "MSG<held>" } });
  await until("the held reply", async () => (await count("ECHO[held]")) === 1);
  // The queue's bound (64) fills up; from then on a callback is refused at once.
  const burst = Promise.all(Array.from({ length: 80 }, () => click(first)));
  await new Promise((r) => setTimeout(r, 1000));
  // Straight to the gateway (no emulator in between): what KakaoWork itself would see.
  const probes = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = await fetch(callbackUrl, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    probes.push({ status: r.status, body: await r.json(), ms: performance.now() - t0 });
  }
  const answers = await burst;
  assert.ok(answers.every((a) => a.status === 503 || a.status === 200), answers.map((a) => a.status).join());
  assert.ok(answers.some((a) => a.status === 503), "the burst overflowed the queue");
  for (const p of probes) assert.equal(p.status, 503, JSON.stringify(p.body));
  const ms = probes.map((p) => p.ms).sort((x, y) => x - y);
  assert.ok(ms[2] < 100, `the refusals took ${ms.map(Math.round).join(" ")} ms (median over 100)`);
  t.diagnostic(`refusals with the queue full (ms): ${probes.map((a) => Math.round(a.ms)).join(" ")}`);
  // Once KakaoWork answers again, the same gateway serves callbacks.
  await new Promise((r) => setTimeout(r, 8000));
  const later = await until("a served click", async () => {
    const a = await click(first);
    return a.status === 200 ? a : null;
  }, 20_000);
  assert.ok(later.body.view);
  await gateway.kill();
});

/** Killed after KakaoWork got the answer and before the agent ran: answered once after a restart. */
async function ackedAfterTheRecord(t) {
  const hold = join(tempDir(t, "hold"), "held");
  const crashing = await startGateway(t, home, port, PATH, { env: { KAKAOWORK_TEST_HOLD_INBOUND: hold } });
  const message = await dmTo(USER, "충돌 전 메시지");
  const open = await click(message);
  assert.ok(open.body.view, JSON.stringify(open.body));
  const submission = { callbackUrl, messageId: message.id, userId: USER, view: open.body.view, inputs: { reply: "MSG<crash>" } };
  const sub = await emu.submit(submission);
  assert.equal(sub.status, 200, "KakaoWork got its answer");
  await until("the stored event", async () => existsSync(hold), 30_000).catch(async (e) => {
    const texts = (await emu.posted()).map((p) => p.text);
    throw new Error(`${e.message}; posted: ${JSON.stringify(texts)}`);
  });
  assert.match(readFileSync(hold, "utf8"), /inbox\/v1\/default\/event:/);
  await crashing.kill();
  assert.equal(model.asked.filter((m) => m === "crash").length, 0, "the agent had not run");
  await startGateway(t, home, port, PATH);
  await until("the answer after the restart", async () => (await count("ECHO[crash]")) === 1, 90_000);
  // KakaoWork delivering the same callback again makes no second event.
  const again = await emu.submit(submission);
  assert.equal(again.status, 200);
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(await count("ECHO[crash]"), 1, "answered exactly once");
  assert.equal(model.asked.filter((m) => m === "crash").length, 1, "the agent ran once");
}

test("killed after KakaoWork got the answer and before the agent ran, the gateway answers once after a restart", async (t) => {
  process.env.OPENCLAW_STATE_DIR ??= tempDir(t, "oc-state");
  const { kakaoPlugin } = await import("../plugin/src/channel.js");
  const results = await verifyChannelMessageReceiveAckPolicyAdapterProofs({
    adapterName: "kakao",
    adapter: kakaoPlugin.message,
    proofs: { after_receive_record: () => ackedAfterTheRecord(t) },
  });
  // Fails if the declaration goes: the proof would not run.
  assert.deepEqual(
    results.filter((r) => r.status === "verified").map((r) => r.policy),
    ["after_receive_record"],
  );
  assert.equal(kakaoPlugin.message.receive.defaultAckPolicy, "after_receive_record");
});
