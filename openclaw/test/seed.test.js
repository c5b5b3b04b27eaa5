// The seed's own setup in OpenClaw: `channels.kakao` with `enabled`, `appKey` and `dmPolicy`
// only (no callbackSecret), pointed at the emulator. Sending works, the gateway serves the
// callback route, and callbacks need the token `kakaowork-host callback-url` shows from the
// plugin's state (the documented way to see the URL to register). Loopback only; every process
// is stopped by this file.
import { test, before } from "node:test";
import assert from "node:assert/strict";
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
  configureGateway,
  startRedis,
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
  await configureGateway(home, { section, port });
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

/** The account's `webhookUrl` in `openclaw channels status --json` of `dir`. */
async function statusUrl(dir) {
  const r = assertOk(await openclaw(dir, ["channels", "status", "--json"]));
  const m = /"webhookUrl":\s*"([^"]+)"/.exec(r.stdout);
  assert.ok(m, `no webhookUrl in the status:\n${r.stdout}`);
  return m[1];
}

test("openclaw channels status shows the same URL as callback-url, token included", async () => {
  const url = await shownUrl();
  assert.equal(await statusUrl(home), url);
});

test("two gateways on one Redis show the same callback token", async (t) => {
  const redis = await startRedis(t);
  const homes = await Promise.all(
    [1, 2].map(async () => {
      const dir = await openclawHome(t);
      const gwPort = await freePort();
      const section = { enabled: true, appKey: SEED_KEY, dmPolicy: "pairing", apiBase: emu.baseUrl, state: redis.url };
      await configureGateway(dir, { section, port: gwPort });
      return { dir, gwPort };
    }),
  );
  // Started together: the first to need the token makes it, the other reads the same one.
  await Promise.all(homes.map(({ dir, gwPort }) => startGateway(t, dir, gwPort, PATH)));
  const [a, b] = await Promise.all(homes.map(({ dir }) => statusUrl(dir)));
  const token = (u) => new URL(u).searchParams.get("token");
  assert.match(token(a), /^[0-9a-f]{64}$/, a);
  assert.equal(token(a), token(b), "the token made by one is the token of the other");
  assert.notEqual(token(a), new URL(await shownUrl()).searchParams.get("token"), "and not the SQLite one");
});

test("the seed's other configuration examples send with openclaw message send, unchanged", async (t) => {
  const dir = await openclawHome(t);
  const examples = [
    ["the environment variable alone", {}, true],
    [
      "several accounts with defaultAccount",
      {
        enabled: true,
        accounts: {
          support: { appKey: SEED_KEY, dmPolicy: "open" },
          internal: { appKey: "INTERNAL_BOT_APP_KEY", dmPolicy: "allowlist", allowFrom: ["12345", "67890"] },
        },
        defaultAccount: "support",
      },
      false,
    ],
    ["callbackUrl and callbackPath", { callbackUrl: "https://your-domain.com/kakao/callback", callbackPath: "/kakao/callback" }, true],
  ];
  for (const [name, example, envKey] of examples) {
    // As written, plus where this test's KakaoWork is.
    await configureGateway(dir, { section: { ...example, apiBase: emu.baseUrl }, port: 19100 });
    const text = `시드 예제: ${name}`;
    const r = await openclaw(dir, ["message", "send", "--channel", "kakao", "--target", "user:10000002", "--message", text], {
      env: envKey ? { KAKAOWORK_APP_KEY: SEED_KEY } : {},
    });
    assert.equal(r.code, 0, `${name}: ${r.stdout}\n${r.stderr}`);
    assert.ok((await emu.posted()).some((p) => p.text === text), name);
  }
});
