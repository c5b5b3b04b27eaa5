// The plugin inside a running OpenClaw gateway: KakaoWork callbacks on the account's route,
// pairing through OpenClaw's own store and commands, the agent (a deterministic model on
// 127.0.0.1) answering a user who used the Reply button, and a gateway that keeps serving while
// KakaoWork is slow. Loopback only; every process is stopped by the test file.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import {
  startEmulator,
  openclawHome,
  openclaw,
  assertOk,
  freePort,
  startFakeModel,
  startGateway,
  fileScope,
  until,
  configureGateway,
} from "./helpers.js";
import { APPROVED_MESSAGE } from "../plugin/src/approvals.js";

const SECRET = "test-callback-secret-0123456789abcdef";
const PATH = "/kakaowork/default/callback";
const suite = fileScope();

let emu;
let home;
let port;
let model;
let callbackUrl;

before(async () => {
  emu = await startEmulator(suite);
  model = await startFakeModel(suite);
  home = await openclawHome(suite);
  port = await freePort();
  const section = {
    appKey: emu.appKey,
    apiBase: emu.baseUrl,
    dmPolicy: "pairing",
    allowFrom: ["10000001", "10000002"],
    callbackSecret: SECRET,
  };
  await configureGateway(home, { section, port, modelUrl: model.url });
  await startGateway(suite, home, port, PATH);
  callbackUrl = `http://127.0.0.1:${port}${PATH}?token=${SECRET}`;
});

/** The bot's message to a user (with its Reply button), sent by the OpenClaw CLI. */
async function agentSays(user, text) {
  assertOk(await openclaw(home, ["message", "send", "--channel", "kakao", "--target", `user:${user}`, "--message", text]));
  const m = (await emu.posted()).find((p) => p.text === text);
  assert.ok(m, `the emulator has no message "${text}"`);
  return m;
}

test("a callback without the secret gets 401 from the gateway route and reaches no agent", async () => {
  const asked = model.asked.length;
  const r = await fetch(`http://127.0.0.1:${port}${PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "submission", react_user_id: 10000001, actions: { reply: "x" } }),
  });
  assert.equal(r.status, 401);
  const wrong = await fetch(`http://127.0.0.1:${port}${PATH}?token=wrong-secret-wrong-secret-00`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(wrong.status, 401);
  assert.equal(model.asked.length, asked);
});

test("the Reply button's text reaches the agent and its answer reaches the user", async () => {
  const msg = await agentSays(10000001, "무엇을 도와드릴까요?");
  const click = await emu.click({ callbackUrl, messageId: msg.id, label: "답장하기", userId: 10000001 });
  assert.equal(click.status, 200, JSON.stringify(click));
  assert.ok(click.body.view, "the reply modal");
  const sub = await emu.submit({
    callbackUrl,
    messageId: msg.id,
    userId: 10000001,
    view: click.body.view,
    inputs: { reply: "MSG<hello agent>" },
  });
  assert.equal(sub.status, 200, JSON.stringify(sub));
  const answer = await until("the agent's answer", async () =>
    (await emu.posted()).find((p) => p.text.includes("ECHO[") && p.conversationId === msg.conversationId),
  );
  assert.equal(answer.text, "ECHO[hello agent]");
  assert.ok(model.asked.includes("hello agent"), model.asked.join("\n"));
});

test("an unknown user gets OpenClaw's pairing code once; openclaw pairing approve --notify allows and tells them", async () => {
  const msg = await agentSays(10000004, "안녕하세요");
  const click = () => emu.click({ callbackUrl, messageId: msg.id, label: "답장하기", userId: 10000004 });
  const first = await click();
  assert.equal(first.status, 200);
  assert.equal(first.body.view, undefined, "no modal for an unpaired user");
  const codeMsg = await until("the pairing reply", async () =>
    (await emu.posted()).find((p) => p.conversationId === msg.conversationId && /[A-Z2-9]{8}/.test(p.text) && p.text !== msg.text),
  );
  const code = /\b([A-HJ-NP-Z2-9]{8})\b/.exec(codeMsg.text)[1];
  await click();
  await new Promise((r) => setTimeout(r, 1000));
  const replies = (await emu.posted()).filter((p) => p.text.includes(code));
  assert.equal(replies.length, 1, "told once");
  const list = assertOk(await openclaw(home, ["pairing", "list", "kakao"]));
  assert.match(list.stdout, new RegExp(code));
  assert.match(list.stdout, /10000004/);
  const approved = assertOk(await openclaw(home, ["pairing", "approve", "kakao", code, "--notify"]));
  assert.match(approved.stdout, /Approved kakao sender 10000004/);
  // The CLI process cannot reach the plugin (see approvals.js); the gateway that issued the
  // code sees the approval and tells the user, once.
  const notice = await until("the approval notice", async () =>
    (await emu.posted()).find((p) => p.conversationId === msg.conversationId && p.text === APPROVED_MESSAGE),
  );
  assert.ok(notice);
  await new Promise((r) => setTimeout(r, 5000));
  const notices = (await emu.posted()).filter((p) => p.text === APPROVED_MESSAGE);
  assert.equal(notices.length, 1, "told once, and nobody else");
  const again = await click();
  assert.ok(again.body.view, "now the reply modal opens");
});

test("the gateway keeps answering while a callback waits on a 5 s KakaoWork call, which it gives up after 1.5 s", async () => {
  // 10000002 has not written before, so the submission looks up their name (users.info): slow.
  const msg = await agentSays(10000002, "slow day");
  const click = await emu.click({ callbackUrl, messageId: msg.id, label: "답장하기", userId: 10000002 });
  await emu.fault({ path: "/v1/users.info", fault: { delayMs: 5000 } });
  const started = Date.now();
  const slow = emu.submit({ callbackUrl, messageId: msg.id, userId: 10000002, view: click.body.view, inputs: { reply: "MSG<slowly>" } });
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  const other = await fetch(`http://127.0.0.1:${port}/definitely-not-a-route`);
  const ms = performance.now() - t0;
  await other.text();
  const done = await slow;
  assert.equal(done.status, 200);
  const waited = Date.now() - started;
  // The name lookup inside a callback gives up after 1.5 s: KakaoWork gets its answer first.
  assert.ok(waited >= 1400 && waited < 4500, `the callback waited ${waited} ms on users.info`);
  await until("the answer without the name", async () => (await emu.posted()).some((p) => p.text === "ECHO[slowly]"));
  assert.ok(ms < 200, `another request took ${ms.toFixed(0)} ms`);
});

test("openclaw channels status --probe reports the account as working", async () => {
  const r = assertOk(await openclaw(home, ["channels", "status", "--probe"]));
  const out = r.stdout + r.stderr;
  assert.match(out, /kakao|KakaoWork/i, out);
  assert.match(out, /works/i, out);
});

test("a wrong app key shows in openclaw channels status --probe as an authentication problem", async () => {
  assertOk(await openclaw(home, ["config", "set", "channels.kakao.appKey", '"not-the-app-key"', "--strict-json"]));
  // The gateway reloads the section; poll until the probe runs with the new key.
  let out = "";
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const r = await openclaw(home, ["channels", "status", "--probe"]);
    out = r.stdout + r.stderr;
    if (/app key|authentication/i.test(out)) break;
    await new Promise((res) => setTimeout(res, 2000));
  }
  assert.match(out, /app key|authentication/i, out);
  assert.doesNotMatch(out, /not-the-app-key/, "the key itself is never printed");
});
