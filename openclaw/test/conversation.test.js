// Conversations of many turns inside the real OpenClaw gateway: each turn of a DM through the
// Reply button of the agent's previous reply (which OpenClaw sends to `conversation:<id>`).
// Every turn follows the DM rules, is answered exactly once, and all of them are one OpenClaw
// session: with group conversations disabled, and with the defaults and a user approved through
// `openclaw pairing approve`. A group conversation stays a group: refused under
// `groupPolicy: "disabled"`, answered under `"open"`. The agent is a deterministic model on
// 127.0.0.1; KakaoWork is the emulator.
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
  botSays,
} from "./helpers.js";

const SECRET = "test-callback-secret-0123456789abcdef";
const PATH = "/kakaowork/default/callback";
const TURNS = 5;
const suite = fileScope();

let emu;
let model;

before(async () => {
  emu = await startEmulator(suite);
  model = await startFakeModel(suite);
});

/** A gateway of its own (HOME, port) with this section; stopped by `t`. */
async function gatewayWith(t, section) {
  const home = await openclawHome(t);
  const port = await freePort();
  const full = { appKey: emu.appKey, apiBase: emu.baseUrl, callbackSecret: SECRET, ...section };
  await configureGateway(home, { section: full, port, modelUrl: model.url });
  await startGateway(t, home, port, PATH);
  return { home, callbackUrl: `http://127.0.0.1:${port}${PATH}?token=${SECRET}` };
}

const send = (home, target, text) => botSays(emu, home, target, text);

/** `TURNS` turns, each through the Reply button of the agent's last message; each answered once. */
async function turns({ home, callbackUrl }, user, first, tag) {
  let last = first;
  for (let turn = 1; turn <= TURNS; turn += 1) {
    const click = await emu.click({ callbackUrl, messageId: last.id, label: "답장하기", userId: user });
    assert.equal(click.status, 200, `turn ${turn}: ${JSON.stringify(click)}`);
    assert.ok(click.body.view, `turn ${turn}: the Reply modal opens (${JSON.stringify(click.body)})`);
    const sub = await emu.submit({
      callbackUrl,
      messageId: last.id,
      userId: user,
      view: click.body.view,
      inputs: { reply: `MSG<${tag} ${turn}>` },
    });
    assert.equal(sub.status, 200, `turn ${turn}: ${JSON.stringify(sub)}`);
    last = await until(`the answer to turn ${turn}`, async () =>
      (await emu.posted()).find((p) => p.text === `ECHO[${tag} ${turn}]`),
    );
    assert.equal(last.conversationId, first.conversationId, "the same DM");
  }
  // Exactly once each, also after a moment for any late duplicate.
  await new Promise((r) => setTimeout(r, 3000));
  const posted = await emu.posted();
  for (let turn = 1; turn <= TURNS; turn += 1) {
    assert.equal(posted.filter((p) => p.text === `ECHO[${tag} ${turn}]`).length, 1, `turn ${turn}`);
  }
  // One OpenClaw session holds the whole DM.
  const r = assertOk(await openclaw(home, ["sessions", "--json", "--all-agents"]));
  const rows = JSON.parse(r.stdout).sessions ?? [];
  const kakao = rows.filter((s) => JSON.stringify(s).includes("kakao"));
  assert.equal(kakao.length, 1, JSON.stringify(rows, null, 2));
}

test(`${TURNS} turns of one DM with groups disabled; a group's Reply click is refused`, async (t) => {
  const USER = 10000001;
  const gw = await gatewayWith(t, { dmPolicy: "allowlist", allowFrom: [String(USER)], groupPolicy: "disabled" });
  const first = await send(gw.home, `user:${USER}`, "무엇을 도와드릴까요?");
  await turns(gw, USER, first, "dm");
  // A group the bot opened stays a group: under "disabled" its Reply click opens nothing.
  const group = await send(gw.home, `users:${USER},10000002`, "그룹 공지");
  const click = await emu.click({ callbackUrl: gw.callbackUrl, messageId: group.id, label: "답장하기", userId: USER });
  assert.equal(click.status, 200, JSON.stringify(click));
  assert.equal(click.body.view, undefined, `no modal in a group: ${JSON.stringify(click.body)}`);
});

test(`${TURNS} turns of one DM with the defaults, from a user approved by openclaw pairing approve`, async (t) => {
  const USER = 10000003;
  // The seed's defaults: dmPolicy "pairing", groupPolicy "allowlist", no allowFrom.
  const gw = await gatewayWith(t, {});
  const first = await send(gw.home, `user:${USER}`, "처음 뵙겠습니다");
  const knock = await emu.click({ callbackUrl: gw.callbackUrl, messageId: first.id, label: "답장하기", userId: USER });
  assert.equal(knock.body.view, undefined, "no modal before the approval");
  const codeMsg = await until("the pairing code", async () =>
    (await emu.posted()).find((p) => p.conversationId === first.conversationId && /\b[A-HJ-NP-Z2-9]{8}\b/.test(p.text)),
  );
  const code = /\b([A-HJ-NP-Z2-9]{8})\b/.exec(codeMsg.text)[1];
  assertOk(await openclaw(gw.home, ["pairing", "approve", "kakao", code]));
  await turns(gw, USER, first, "paired");
});

test("a group conversation under groupPolicy open: the Reply turn is answered in the group", async (t) => {
  const USER = 10000004;
  const gw = await gatewayWith(t, { dmPolicy: "allowlist", allowFrom: [String(USER)], groupPolicy: "open" });
  const group = await send(gw.home, `users:${USER},10000005`, "그룹에서 질문 받습니다");
  const click = await emu.click({ callbackUrl: gw.callbackUrl, messageId: group.id, label: "답장하기", userId: USER });
  assert.ok(click.body.view, JSON.stringify(click.body));
  const sub = await emu.submit({
    callbackUrl: gw.callbackUrl,
    messageId: group.id,
    userId: USER,
    view: click.body.view,
    inputs: { reply: "MSG<in the group>" },
  });
  assert.equal(sub.status, 200);
  const answer = await until("the answer in the group", async () =>
    (await emu.posted()).find((p) => p.text === "ECHO[in the group]"),
  );
  assert.equal(answer.conversationId, group.conversationId, "answered in the group, not in a DM");
});

/** The ids of the OpenClaw sessions of `home` that belong to this channel. */
async function kakaoSessions(home) {
  const r = assertOk(await openclaw(home, ["sessions", "--json", "--all-agents"]));
  const rows = JSON.parse(r.stdout).sessions ?? [];
  return rows.filter((s) => JSON.stringify(s).includes("kakao")).map((s) => s.sessionId ?? s.id ?? JSON.stringify(s));
}

test("a click on the agent's button whose value is /reset reaches the model as a click and resets nothing", async (t) => {
  const USER = 10000006;
  const gw = await gatewayWith(t, { dmPolicy: "allowlist", allowFrom: [String(USER)] });
  const first = await send(gw.home, `user:${USER}`, "버튼을 보내 드릴게요");
  const open = await emu.click({ callbackUrl: gw.callbackUrl, messageId: first.id, label: "답장하기", userId: USER });
  await emu.submit({
    callbackUrl: gw.callbackUrl,
    messageId: first.id,
    userId: USER,
    view: open.body.view,
    inputs: { reply: "MSG<before the click>" },
  });
  await until("the first answer", async () => (await emu.posted()).find((p) => p.text === "ECHO[before the click]"));
  const before = await kakaoSessions(gw.home);
  assert.equal(before.length, 1, JSON.stringify(before));
  // A button as a prompt-injected reply would make it: a harmless caption, a command as its value.
  const card = { blocks: [{ type: "buttons", buttons: [{ label: "MSG<Details>", action: { type: "callback", value: "/reset" } }] }] };
  assertOk(
    await openclaw(gw.home, [
      "message", "send", "--channel", "kakao", "--target", `user:${USER}`,
      "--message", "자세히 보기", "--presentation", JSON.stringify(card),
    ]),
  );
  const withButton = (await emu.posted()).find((p) => p.text.includes("자세히 보기"));
  const asked = model.seen.length;
  const click = await emu.click({ callbackUrl: gw.callbackUrl, messageId: withButton.id, label: "MSG<Details>", userId: USER });
  assert.equal(click.status, 200, JSON.stringify(click));
  // The model is asked, and reads a click with its caption and value.
  await until("the answer to the click", async () => (await emu.posted()).find((p) => p.text === "ECHO[Details]"));
  const prompt = model.seen.slice(asked).find((s) => s.includes("MSG<Details>")) ?? "";
  assert.match(prompt, /Clicked the button "MSG<Details>" \(value: \/reset\)/);
  // Nothing was reset: the same session, which still holds the turn before the click.
  assert.deepEqual(await kakaoSessions(gw.home), before);
  assert.match(prompt, /MSG<before the click>/, "the earlier turn is still in the session");
});

test("an agent's reply with an image URL arrives as an image", async (t) => {
  const USER = 10000007;
  const gw = await gatewayWith(t, { dmPolicy: "allowlist", allowFrom: [String(USER)] });
  const first = await send(gw.home, `user:${USER}`, "그림을 보내 드릴까요?");
  const open = await emu.click({ callbackUrl: gw.callbackUrl, messageId: first.id, label: "답장하기", userId: USER });
  // The deterministic model echoes the text between the markers: its reply carries a standalone
  // MEDIA: line, which OpenClaw turns into the reply's media.
  const url = "https://images.example.com/charts/weekly.png";
  await emu.submit({
    callbackUrl: gw.callbackUrl,
    messageId: first.id,
    userId: USER,
    view: open.body.view,
    inputs: { reply: `MSG<chart\nMEDIA:${url}\n>` },
  });
  const reply = await until("the agent's reply with the image", async () =>
    (await emu.posted()).find((p) => p.conversationId === first.conversationId && JSON.stringify(p.blocks).includes(url)),
  );
  assert.deepEqual(
    reply.blocks.filter((b) => b.type === "image_link").map((b) => b.url),
    [url],
    JSON.stringify(reply.blocks),
  );
});
