// OpenClaw's durable delivery queue and this plugin's send ledger, with real crashes: the
// `openclaw message send` process is killed (SIGKILL) before the component's request, or after
// KakaoWork stored the message and the plugin recorded it but before OpenClaw recorded it; or
// KakaoWork stores the message and answers 500. A gateway started afterwards recovers the queue
// (OpenClaw's replay, under the same idempotency key, then the plugin's `reconcileUnknownSend`).
// The emulator holds exactly one copy every time.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startEmulator, openclawHome, openclaw, freePort, startGateway, fileScope, until, configureGateway, tempDir } from "./helpers.js";

const PATH = "/kakaowork/default/callback";
const TARGET = "conversation:3000001";
const suite = fileScope();

let emu;

before(async () => {
  emu = await startEmulator(suite);
});

const copies = async (text) => (await emu.posted()).filter((p) => p.text === text).length;

/** A HOME of its own (its own delivery queue), configured for the emulator and a gateway. */
async function freshHome(t) {
  const home = await openclawHome(t);
  const port = await freePort();
  const section = { appKey: emu.appKey, apiBase: emu.baseUrl, callbackSecret: "test-callback-secret-0123456789abcdef" };
  await configureGateway(home, { section, port });
  return { home, port };
}

/** `openclaw message send` stopped at `stage` of the plugin's send, then killed with SIGKILL. */
async function killedAt(t, home, stage, text) {
  const hold = join(tempDir(t, "hold"), "held");
  let child;
  const run = openclaw(home, ["message", "send", "--channel", "kakao", "--target", TARGET, "--message", text], {
    env: { KAKAOWORK_TEST_HOLD_SEND: `${stage}:${hold}` },
    onChild: (c) => (child = c),
  });
  let ended = null;
  run.then((r) => (ended = r));
  await until(`the send held ${stage} the request`, async () => existsSync(hold) || ended !== null, 120_000);
  assert.ok(existsSync(hold), `the send reached the hold: ${JSON.stringify(ended)}`);
  // The command's own process (OpenClaw's CLI starts it in a session of its own), then the rest.
  const pid = Number(readFileSync(hold, "utf8"));
  process.kill(-pid, "SIGKILL");
  process.kill(-child.pid, "SIGKILL");
  const r = await run;
  assert.equal(r.code, 128, "killed");
}

/** Starts a gateway in `home` and waits for its queue recovery to say `what` about the entry. */
async function recover(t, home, port, what) {
  const gateway = await startGateway(t, home, port, PATH);
  // On a timeout, startGateway's hook prints the gateway's output.
  await until(`the gateway's recovery: ${what}`, async () => what.test(gateway.output()), 120_000);
  return gateway;
}

// OpenClaw leaves a queued send to the process that queued it for 60 s (its producer claim's
// lease) before another process may recover it: the three crashes are made first, so that they
// wait out one lease together.
const OWNER_LEASE_MS = 60_000;
const SENT = /reconciled unknown_after_send as already sent/;
// OpenClaw 2026.9.6's CLI does not record that the platform send started, so a failed send is
// retried (with backoff) rather than reconciled; the ledger refuses to post it again.
const REFUSED = /Retry failed for delivery [^:]+: KakaoWork may or may not have posted this message/;

test("crashes and a fault around a send, recovered by a gateway: one copy each time", async (t) => {
  const before = { ...(await freshHome(t)), text: "crash before the request" };
  await killedAt(t, before.home, "before", before.text);
  assert.equal(await copies(before.text), 0, "nothing reached KakaoWork");

  const after = { ...(await freshHome(t)), text: "crash after the request" };
  await killedAt(t, after.home, "after", after.text);
  assert.equal(await copies(after.text), 1, "KakaoWork holds it");

  const failed = { ...(await freshHome(t)), text: "stored then 500" };
  await emu.fault({ path: "/v1/messages.send", fault: { statusAfterWork: 500 } });
  const r = await openclaw(failed.home, ["message", "send", "--channel", "kakao", "--target", TARGET, "--message", failed.text]);
  assert.notEqual(r.code, 0, "the send did not report success");
  assert.match(r.stdout + r.stderr, /may or may not have posted this message/);
  assert.equal(await copies(failed.text), 1, "KakaoWork holds it");

  await new Promise((r) => setTimeout(r, OWNER_LEASE_MS + 5000));
  before.settled = SENT;
  after.settled = SENT;
  failed.settled = REFUSED;
  for (const c of [before, after, failed]) {
    const gateway = await recover(t, c.home, c.port, c.settled);
    // A few more of OpenClaw's retry passes (every 5 s): nothing is sent again.
    await new Promise((r) => setTimeout(r, 12_000));
    c.log = gateway.output().split("\n").filter((l) => /delivery-recovery/.test(l)).join("\n");
    await gateway.kill();
    assert.equal(await copies(c.text), 1, `exactly one copy of "${c.text}":\n${c.log}`);
    t.diagnostic(`${c.text}:\n${c.log}`);
  }
  // Killed before the request: the recovery's send went out (once); after it: the plugin's
  // ledger answered for the stored message without posting, and the queue settled it as sent.
  // Stored, then a 500: whether it shows cannot be told from here, so it is never sent again.
  assert.doesNotMatch(failed.log, /as already sent|Recovered delivery/);
});
