// A DM of many turns inside the real OpenClaw gateway: each turn through the Reply button of the
// agent's previous reply (which OpenClaw sends to `conversation:<id>`), with group conversations
// disabled. Every turn follows the DM rules, is answered exactly once, and all of them are one
// OpenClaw session. The agent is a deterministic model on 127.0.0.1; KakaoWork is the emulator.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  startEmulator,
  openclawHome,
  openclaw,
  assertOk,
  freePort,
  startFakeModel,
  startGateway,
  fileScope,
} from "./helpers.js";

const SECRET = "test-callback-secret-0123456789abcdef";
const PATH = "/kakaowork/default/callback";
const USER = 10000001;
const TURNS = 5;
const suite = fileScope();

let emu;
let home;
let callbackUrl;

before(async () => {
  emu = await startEmulator(suite);
  const model = await startFakeModel(suite);
  home = await openclawHome(suite);
  const port = await freePort();
  const section = {
    appKey: emu.appKey,
    apiBase: emu.baseUrl,
    dmPolicy: "allowlist",
    allowFrom: [String(USER)],
    groupPolicy: "disabled",
    callbackSecret: SECRET,
  };
  const ops = [
    { path: "channels.kakao", value: section },
    { path: "gateway.mode", value: "local" },
    { path: "gateway.bind", value: "loopback" },
    { path: "gateway.port", value: port },
    { path: "gateway.auth", value: { mode: "token", token: "test-gateway-token-0123456789" } },
    { path: "models.mode", value: "merge" },
    {
      path: "models.providers.fake",
      value: {
        baseUrl: model.url,
        apiKey: "fake-local-key",
        api: "openai-completions",
        timeoutSeconds: 60,
        models: [
          {
            id: "echo-1",
            name: "Echo 1",
            reasoning: false,
            input: ["text"],
            cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
            contextWindow: 128000,
            maxTokens: 4096,
          },
        ],
      },
    },
    { path: "agents.defaults.model", value: { primary: "fake/echo-1" } },
    { path: "agents.defaults.heartbeat", value: { every: "0m" } },
  ];
  const file = join(home, "ops.json");
  writeFileSync(file, JSON.stringify(ops));
  assertOk(await openclaw(home, ["config", "set", "--batch-file", file]));
  await startGateway(suite, home, port, PATH);
  callbackUrl = `http://127.0.0.1:${port}${PATH}?token=${SECRET}`;
});

async function until(what, f, ms = 120_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

test(`${TURNS} turns of one DM, each through the Reply button of the agent's last reply, each answered once`, async () => {
  assertOk(
    await openclaw(home, ["message", "send", "--channel", "kakao", "--target", `user:${USER}`, "--message", "무엇을 도와드릴까요?"]),
  );
  let last = (await emu.posted()).find((p) => p.text === "무엇을 도와드릴까요?");
  assert.ok(last);
  for (let turn = 1; turn <= TURNS; turn += 1) {
    const click = await emu.click({ callbackUrl, messageId: last.id, label: "답장하기", userId: USER });
    assert.equal(click.status, 200, `turn ${turn}: ${JSON.stringify(click)}`);
    assert.ok(click.body.view, `turn ${turn}: the Reply modal opens (${JSON.stringify(click.body)})`);
    const sub = await emu.submit({
      callbackUrl,
      messageId: last.id,
      userId: USER,
      view: click.body.view,
      inputs: { reply: `MSG<turn ${turn}>` },
    });
    assert.equal(sub.status, 200, `turn ${turn}: ${JSON.stringify(sub)}`);
    last = await until(`the answer to turn ${turn}`, async () =>
      (await emu.posted()).find((p) => p.text === `ECHO[turn ${turn}]`),
    );
    assert.equal(last.conversationId, (await emu.posted())[0].conversationId, "the same DM");
  }
  // Exactly once each, also after a moment for any late duplicate.
  await new Promise((r) => setTimeout(r, 3000));
  const posted = await emu.posted();
  for (let turn = 1; turn <= TURNS; turn += 1) {
    assert.equal(posted.filter((p) => p.text === `ECHO[turn ${turn}]`).length, 1, `turn ${turn}`);
  }
  // One OpenClaw session holds the whole DM.
  const r = assertOk(await openclaw(home, ["sessions", "--json", "--all-agents"]));
  const rows = JSON.parse(r.stdout).sessions ?? [];
  const kakao = rows.filter((s) => JSON.stringify(s).includes("kakao"));
  assert.equal(kakao.length, 1, JSON.stringify(rows, null, 2));
});
