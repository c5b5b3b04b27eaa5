// Callbacks inside the real OpenClaw gateway never wait behind KakaoWork: the plugin runs a pool
// of component instances, so a slow `messages.send` or `users.info` in one holds no Reply click
// in another; and a flood of forged callbacks is refused before it takes an instance, with the
// gateway's memory flat. The agent is a deterministic model; KakaoWork is the emulator.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
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
  until,
  configureGateway,
  rssOf,
  tempDir,
  botSays,
  replyClick,
} from "./helpers.js";

const SECRET = "test-callback-secret-0123456789abcdef";
const PATH = "/kakaowork/default/callback";
const USER = 10000001;
const OTHER = 10000002;
const suite = fileScope();

let emu;
let home;
let model;
let gateway;
let callbackUrl;
let statsFile;

before(async () => {
  emu = await startEmulator(suite);
  model = await startFakeModel(suite);
  home = await openclawHome(suite);
  const port = await freePort();
  const section = {
    appKey: emu.appKey,
    apiBase: emu.baseUrl,
    dmPolicy: "allowlist",
    allowFrom: [String(USER), String(OTHER)],
    groupPolicy: "disabled",
    callbackSecret: SECRET,
  };
  await configureGateway(home, { section, port, modelUrl: model.url });
  statsFile = join(tempDir(suite, "stats"), "pool.json");
  gateway = await startGateway(suite, home, port, PATH, { env: { KAKAOWORK_TEST_STATS: statsFile } });
  callbackUrl = `http://127.0.0.1:${port}${PATH}?token=${SECRET}`;
});

const dmTo = (user, text) => botSays(emu, home, `user:${user}`, text);
const click = (message, user) => replyClick(emu, callbackUrl, message, user);

/** `n` Reply clicks `gapMs` apart, each waited for; their answers. */
async function clicks(message, user, n, gapMs = 300) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(await click(message, user));
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return out;
}

function assertModals(answers, what) {
  for (const [i, a] of answers.entries()) {
    assert.equal(a.status, 200, `${what}: click ${i}: ${JSON.stringify(a.body)}`);
    assert.ok(a.body.view, `${what}: click ${i} opened the modal`);
    assert.ok(a.ms < 1000, `${what}: click ${i} was answered in ${Math.round(a.ms)} ms`);
  }
}

const stats = () => JSON.parse(readFileSync(statsFile, "utf8"));
const diff = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]).filter(([, n]) => n));

test("while the agent's reply waits 8 s on messages.send, 20 Reply clicks are each answered at once", async (t) => {
  const first = await dmTo(USER, "첫 메시지");
  const open = await click(first, USER);
  assert.ok(open.body.view, JSON.stringify(open.body));
  await emu.fault({ path: "/v1/messages.send", fault: { delayMs: 8000 } });
  const sub = await emu.submit({ callbackUrl, messageId: first.id, userId: USER, view: open.body.view, inputs: { reply: "MSG<slow send>" } });
  assert.equal(sub.status, 200);
  // The reply reached KakaoWork, which holds its answer for 8 s from now.
  await until("the agent's reply", async () => (await emu.posted()).some((p) => p.text === "ECHO[slow send]"));
  const heldUntil = performance.now() + 8000;
  const answers = await clicks(first, USER, 20);
  assert.ok(performance.now() < heldUntil + 1000, "the clicks were made while the send was held");
  assertModals(answers, "slow send");
  t.diagnostic(`click latencies (ms): ${answers.map((a) => Math.round(a.ms)).join(" ")}`);
});

test("while a submission's users.info hangs, 20 Reply clicks are each answered at once", async (t) => {
  const mine = await dmTo(USER, "두 번째 메시지");
  const theirs = await dmTo(OTHER, "다른 사용자에게");
  const open = await click(theirs, OTHER);
  assert.ok(open.body.view, JSON.stringify(open.body));
  // OTHER's name is not known yet: the submission asks users.info, which hangs.
  await emu.fault({ path: "/v1/users.info", fault: { delayMs: 8000 } });
  const submitted = emu.submit({ callbackUrl, messageId: theirs.id, userId: OTHER, view: open.body.view, inputs: { reply: "MSG<slow name>" } });
  await until("the users.info request", async () => (await emu.requests()).some((r) => r.path === "/v1/users.info"));
  const answers = await clicks(mine, USER, 20);
  assertModals(answers, "slow users.info");
  // The submission itself got its answer without the name, and the agent answered it.
  assert.equal((await submitted).status, 200);
  await until("the answer to the slow-name turn", async () => (await emu.posted()).some((p) => p.text === "ECHO[slow name]"));
  t.diagnostic(`click latencies (ms): ${answers.map((a) => Math.round(a.ms)).join(" ")}`);
});

test("2,000 forged 64 KiB callbacks, 100 at a time, are refused before taking an instance; memory stays flat", async (t) => {
  const message = await dmTo(USER, "세 번째 메시지");
  assertModals([await click(message, USER)], "warm-up");
  await new Promise((r) => setTimeout(r, 500));
  const before = stats();
  const rssBefore = rssOf(gateway.child.pid);
  const forged = callbackUrl.replace(`token=${SECRET}`, "token=forged-0000000000000000000000000000");
  const body = JSON.stringify({ type: "submission", value: "x".repeat(64 * 1024 - 40), react_user_id: USER });
  const statuses = new Map();
  let valid = [];
  let done = false;
  // Real clicks all the while, answered as usual.
  const clicking = (async () => {
    while (!done) valid.push(await click(message, USER));
  })();
  for (let round = 0; round < 20; round++) {
    const batch = await Promise.all(
      Array.from({ length: 100 }, () =>
        fetch(forged, { method: "POST", headers: { "content-type": "application/json" }, body })
          .then(async (r) => (await r.arrayBuffer(), r.status))
          .catch((e) => `error ${e.cause?.code ?? e.message}`),
      ),
    );
    for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  done = true;
  await clicking;
  await new Promise((r) => setTimeout(r, 500));
  const after = stats();
  const rssAfter = rssOf(gateway.child.pid);
  assert.deepEqual([...statuses], [[401, 2000]], "every forged callback got 401");
  assert.ok(valid.length >= 5, `${valid.length} real clicks during the flood`);
  assertModals(valid, "during the flood");
  // Counted by function: the gateway's own periodic work (OpenClaw's status probes) may take an
  // instance during the flood too, which is not what this test is about.
  const callbacks = (s) => s.takenFor.handleCallback ?? 0;
  assert.equal(callbacks(after) - callbacks(before), valid.length, "only the real clicks took an instance");
  t.diagnostic(`instances taken during the flood, by function: ${JSON.stringify(diff(before.takenFor, after.takenFor))}`);
  const grewMb = (rssAfter - rssBefore) / 2 ** 20;
  assert.ok(grewMb < 100, `the gateway's RSS grew by ${grewMb.toFixed(1)} MB`);
  t.diagnostic(`RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MB; ${valid.length} real clicks`);
});

test("the account's status shows the callback URL with its token, which callbacks then need", async () => {
  const r = assertOk(await openclaw(home, ["channels", "status", "--json"]));
  assert.ok(r.stdout.includes(`${PATH}?token=${SECRET}`), r.stdout);
  // Never in the gateway's log.
  assert.ok(!gateway.output().includes(SECRET), "the token is not in the gateway's output");
});
