// No secret in any output of the OpenClaw host: everything the `openclaw` CLI prints and the
// gateway prints or logs across a run (a send, a conversation turn, forged callbacks, a wrong
// Redis password) holds none of the app key, the callback secret or the Redis password.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import {
  startEmulator,
  openclawHome,
  openclaw,
  assertOk,
  freePort,
  startFakeModel,
  startGateway,
  startRedis,
  configureGateway,
  until,
} from "./helpers.js";

const APP_KEY = "appkey-SECRET-7f3a9c21d4e8";
const CALLBACK_SECRET = "cbsecret-SECRET-0123456789abcdef";
const REDIS_PASSWORD = "redispw-SECRET-55aa66bb";
const WRONG_PASSWORD = "wrongpw-SECRET-0c0c0c";
const PATH = "/kakaowork/default/callback";
const USER = 10000001;

test("nothing the openclaw CLI and the gateway print or log holds a secret", async (t) => {
  const emu = await startEmulator(t, ["--app-key", APP_KEY]);
  const model = await startFakeModel(t);
  const redis = await startRedis(t, { password: REDIS_PASSWORD });
  assert.ok(redis.url.includes(REDIS_PASSWORD));
  const home = await openclawHome(t);
  const port = await freePort();
  const section = {
    appKey: APP_KEY,
    apiBase: emu.baseUrl,
    callbackSecret: CALLBACK_SECRET,
    dmPolicy: "open",
    state: redis.url,
  };
  await configureGateway(home, { section, port, modelUrl: model.url });
  let printed = "";
  const keep = (r) => {
    printed += r.stdout + r.stderr;
    return r;
  };

  // The CLI: a send, the configuration as OpenClaw shows it.
  assertOk(keep(await openclaw(home, ["message", "send", "--channel", "kakao", "--target", `user:${USER}`, "--message", "안녕하세요"])));
  keep(await openclaw(home, ["config", "get", "channels.kakao"]));
  keep(await openclaw(home, ["channels", "list"]));

  // The gateway: a Reply turn answered by the agent, a forged call, a wrong token.
  const gateway = await startGateway(t, home, port, PATH);
  const url = `http://127.0.0.1:${port}${PATH}?token=${CALLBACK_SECRET}`;
  const message = (await emu.posted()).find((p) => p.text === "안녕하세요");
  const click = await emu.click({ callbackUrl: url, messageId: message.id, label: "답장하기", userId: USER });
  assert.ok(click.body.view, JSON.stringify(click.body));
  await emu.submit({ callbackUrl: url, messageId: message.id, userId: USER, view: click.body.view, inputs: { reply: "MSG<secret check>" } });
  await until("the agent's answer", async () => (await emu.posted()).find((p) => p.text === "ECHO[secret check]"));
  for (const u of [url.replace(CALLBACK_SECRET, "wrong-token-000000000000000000"), url]) {
    await fetch(u, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
  }
  printed += gateway.output();
  const log = join(home, "openclaw.log");
  if (existsSync(log)) printed += readFileSync(log, "utf8");

  // A wrong Redis password: the failure says what is wrong, not the password.
  const wrong = await openclawHome(t);
  await configureGateway(wrong, {
    section: { ...section, state: redis.url.replace(REDIS_PASSWORD, WRONG_PASSWORD) },
    port: await freePort(),
  });
  const failed = keep(await openclaw(wrong, ["message", "send", "--channel", "kakao", "--target", `user:${USER}`, "--message", "x"]));
  assert.notEqual(failed.code, 0);
  assert.match(failed.stdout + failed.stderr, /Redis/);

  for (const secret of [APP_KEY, CALLBACK_SECRET, REDIS_PASSWORD, WRONG_PASSWORD]) {
    const at = printed.indexOf(secret);
    assert.equal(at, -1, `${secret} was printed: …${printed.slice(Math.max(0, at - 300), at + 100)}…`);
  }
  assert.ok(printed.length > 2000, "the run printed what it does");
});
