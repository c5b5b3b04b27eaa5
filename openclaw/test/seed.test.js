// The seed's own setup in OpenClaw: `channels.kakao` with `enabled`, `appKey` and `dmPolicy`
// only (no callbackSecret), pointed at the emulator. Sending works, the gateway serves the
// callback route, and callbacks need the token `kakaowork-host callback-url` shows from the
// plugin's state (the documented way to see the URL to register). Loopback only; every process
// is stopped by this file.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
  startEmulator,
  openclawHome,
  openclaw,
  assertOk,
  freePort,
  startGateway,
  fileScope,
  hostBin,
} from "./helpers.js";

const SEED_KEY = "your-app-key-here";
const PATH = "/kakaowork/default/callback";
const suite = fileScope();

let emu;
let home;
let port;

before(async () => {
  emu = await startEmulator(suite, ["--app-key", SEED_KEY]);
  home = await openclawHome(suite);
  port = await freePort();
  // The seed's example as written, plus where this test's KakaoWork is.
  const section = { enabled: true, appKey: SEED_KEY, dmPolicy: "pairing", apiBase: emu.baseUrl };
  const ops = [
    { path: "channels.kakao", value: section },
    { path: "gateway.mode", value: "local" },
    { path: "gateway.bind", value: "loopback" },
    { path: "gateway.port", value: port },
    { path: "gateway.auth", value: { mode: "token", token: "test-gateway-token-0123456789" } },
  ];
  const file = join(home, "ops.json");
  writeFileSync(file, JSON.stringify(ops));
  assertOk(await openclaw(home, ["config", "set", "--batch-file", file]));
});

/** `kakaowork-host callback-url` on the gateway's config and state, as the README shows it. */
async function shownUrl() {
  const { stdout } = await promisify(execFile)(hostBin(), [
    "callback-url",
    "--config",
    join(home, ".openclaw", "openclaw.json"),
    "--state-dir",
    join(home, ".openclaw", "kakaowork"),
    "--base",
    `http://127.0.0.1:${port}`,
  ], { env: { PATH: process.env.PATH, HOME: home } });
  return stdout.trim();
}

test("the seed's setup sends with openclaw message send, without any callbackSecret", async () => {
  const r = assertOk(
    await openclaw(home, ["message", "send", "--channel", "kakao", "--target", "user:10000001", "--message", "시드 설정"]),
  );
  assert.doesNotMatch(r.stdout + r.stderr, /callbackSecret/);
  assert.ok((await emu.posted()).some((p) => p.text === "시드 설정"));
});

test("callbacks without the shown token get 401; with it they are handled", async () => {
  await startGateway(suite, home, port, PATH);
  const url = await shownUrl();
  const m = new RegExp(`^http://127\\.0\\.0\\.1:${port}${PATH}\\?token=([0-9a-f]{64})$`).exec(url);
  assert.ok(m, url);
  // Asked again: the same token (it is kept in the plugin's state, not made per process).
  assert.equal(await shownUrl(), url);
  const msg = (await emu.posted()).find((p) => p.text === "시드 설정");
  const click = (callbackUrl) => emu.click({ callbackUrl, messageId: msg.id, label: "답장하기", userId: 10000001 });
  assert.equal((await click(`http://127.0.0.1:${port}${PATH}`)).status, 401);
  assert.equal((await click(`http://127.0.0.1:${port}${PATH}?token=${"0".repeat(64)}`)).status, 401);
  // With the token: handled. The user is unknown under dmPolicy "pairing": OpenClaw's code.
  const ok = await click(url);
  assert.equal(ok.status, 200, JSON.stringify(ok));
  const deadline = Date.now() + 30_000;
  let code;
  while (!code && Date.now() < deadline) {
    code = (await emu.posted()).find((p) => p.conversationId === msg.conversationId && /\b[A-HJ-NP-Z2-9]{8}\b/.test(p.text));
    if (!code) await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(code, "the pairing reply reached the user");
});
