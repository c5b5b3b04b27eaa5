// OpenClaw's `message` adapter: every capability it declares is proved by OpenClaw's own contract
// helpers against the emulator (the native side effect and the receipt), and a declaration
// without a working implementation fails them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { verifyChannelMessageAdapterCapabilityProofs } from "openclaw/plugin-sdk/channel-outbound";
import { startEmulator, tempDir, fileScope } from "./helpers.js";

let runtime;
let channel;
let emu;
let cfg;
const suite = fileScope();
after(() => runtime?.shutdown());

before(async () => {
  process.env.OPENCLAW_STATE_DIR = tempDir(suite, "oc-state");
  delete process.env.KAKAOWORK_APP_KEY;
  runtime = await import("../plugin/src/runtime.js");
  channel = await import("../plugin/src/channel.js");
  emu = await startEmulator(suite);
  cfg = { channels: { kakao: { appKey: emu.appKey, apiBase: emu.baseUrl, callbackSecret: "test-callback-secret-0123456789" } } };
});

let n = 0;
/** The one message the emulator holds with this text, and the receipt's platform ids. */
async function posted(text) {
  const hits = (await emu.posted()).filter((p) => p.text === text);
  assert.equal(hits.length, 1, `exactly one message "${text}"`);
  return hits[0];
}

/** Proofs of each capability this channel can declare: the native side effect and the receipt. */
function proofs(adapter) {
  return {
    text: async () => {
      const text = `proof text ${++n}`;
      const r = await adapter.send.text({ cfg, to: "conversation:3000001", text, deliveryQueueId: `q-${n}` });
      const m = await posted(text);
      assert.deepEqual(r.receipt.platformMessageIds, [m.id]);
      assert.equal(r.messageId, m.id);
      assert.equal(r.receipt.parts[0].kind, "text");
    },
    media: async () => {
      const text = `proof media ${++n}`;
      const url = `https://img.example.com/proof-${n}.png`;
      const r = await adapter.send.media({ cfg, to: "conversation:3000001", text, mediaUrl: url, deliveryQueueId: `q-${n}` });
      const m = (await emu.posted()).find((p) => p.text.includes(text));
      assert.ok(m, "posted");
      assert.deepEqual(
        m.blocks.filter((b) => b.type === "image_link").map((b) => b.url),
        [url],
        "the image URL is an image_link block",
      );
      assert.deepEqual(r.receipt.platformMessageIds, [m.id]);
      assert.equal(r.receipt.parts[0].kind, "media");
    },
    reconcileUnknownSend: async () => {
      const reconcile = (queueId, text) =>
        adapter.durableFinal.reconcileUnknownSend({ cfg, queueId, channel: "kakao", to: "conversation:3000003", payloads: [{ text }], enqueuedAt: 0, retryCount: 1 });
      const copies = async (text) => (await emu.posted()).filter((p) => p.text === text).length;
      // Stored by KakaoWork, then a 5xx: whether it was posted cannot be told from here.
      const stored = `proof stored-5xx ${++n}`;
      await emu.fault({ path: "/v1/messages.send", fault: { statusAfterWork: 500 } });
      // The send says it may have been posted (an error, so that OpenClaw keeps it as unknown).
      await assert.rejects(
        adapter.send.text({ cfg, to: "conversation:3000003", text: stored, deliveryQueueId: `r-${n}` }),
        /may or may not have posted this message/,
      );
      const unknown = await reconcile(`r-${n}`, stored);
      assert.equal(unknown.status, "unresolved", JSON.stringify(unknown));
      assert.equal(await copies(stored), 1, "one copy, nothing resent");
      // Killed before the request: nothing went out, so a fresh send is safe, and sends it once.
      const before = `proof before-request ${++n}`;
      assert.deepEqual(await reconcile(`r-${n}`, before), { status: "not_sent" });
      await adapter.send.text({ cfg, to: "conversation:3000003", text: before, deliveryQueueId: `r-${n}` });
      assert.equal(await copies(before), 1);
      // Stored and recorded by the plugin, lost by OpenClaw: sent, with the real message id.
      const lost = `proof lost-receipt ${++n}`;
      await adapter.send.text({ cfg, to: "conversation:3000003", text: lost, deliveryQueueId: `r-${n}` });
      const m = await posted(lost);
      const sent = await reconcile(`r-${n}`, lost);
      assert.equal(sent.status, "sent");
      assert.equal(sent.messageId, m.id);
      assert.deepEqual(sent.receipt.platformMessageIds, [m.id]);
      assert.equal(await copies(lost), 1);
    },
    payload: async () => {
      const text = `proof card ${++n}`;
      const presentation = {
        title: "배포 승인",
        blocks: [{ type: "buttons", buttons: [{ label: "승인", action: { type: "callback", value: "deploy:1" } }] }],
      };
      const payload = channel.kakaoPlugin.outbound.renderPresentation({ payload: { text, presentation }, presentation });
      const r = await adapter.send.payload({ cfg, to: "user:10000001", text, payload, deliveryQueueId: `q-${n}` });
      const m = (await emu.posted()).find((p) => JSON.stringify(p.blocks).includes("deploy:1") && p.text.includes(text));
      assert.ok(m, "the card was posted");
      const buttons = m.blocks.filter((b) => b.type === "action").flatMap((b) => b.elements);
      assert.ok(buttons.some((b) => b.text === "승인"), JSON.stringify(m.blocks));
      assert.deepEqual(r.receipt.platformMessageIds, [m.id]);
    },
  };
}

test("every capability the message adapter declares is proved by OpenClaw's contract helper", async () => {
  const adapter = channel.kakaoPlugin.message;
  assert.ok(adapter, "the plugin exposes a message adapter");
  const results = await verifyChannelMessageAdapterCapabilityProofs({ adapterName: "kakao", adapter, proofs: proofs(adapter) });
  const verified = results.filter((r) => r.status === "verified").map((r) => r.capability);
  assert.deepEqual(verified.sort(), Object.keys(channel.DURABLE_FINAL_CAPABILITIES).sort());
  // What KakaoWork has no means for is not declared.
  for (const c of ["replyTo", "thread", "silent", "poll", "nativeQuote"]) {
    assert.equal(results.find((r) => r.capability === c)?.status, "not_declared", c);
  }
});

test("a declaration whose implementation is gone fails the contract helper", async () => {
  const adapter = channel.kakaoPlugin.message;
  // Declared, but the send function removed: the proof fails.
  const broken = { ...adapter, send: { ...adapter.send, text: undefined } };
  await assert.rejects(
    verifyChannelMessageAdapterCapabilityProofs({ adapterName: "kakao", adapter: broken, proofs: proofs(broken) }),
  );
  // Declared without a proof: the helper refuses it.
  const overclaimed = { ...adapter, durableFinal: { capabilities: { ...adapter.durableFinal.capabilities, thread: true } } };
  await assert.rejects(
    verifyChannelMessageAdapterCapabilityProofs({ adapterName: "kakao", adapter: overclaimed, proofs: proofs(overclaimed) }),
    /thread/,
  );
});

test("media: an image URL is an image, another URL a link, a local file is refused with the reason", async () => {
  const adapter = channel.kakaoPlugin.message;
  const before = (await emu.sends()).length;
  await adapter.send.media({ cfg, to: "conversation:3000002", text: "보고서", mediaUrl: "https://docs.example.com/report.pdf", deliveryQueueId: "m-link" });
  const m = (await emu.posted()).find((p) => p.text.includes("보고서"));
  assert.equal(m.blocks.filter((b) => b.type === "image_link").length, 0);
  assert.match(JSON.stringify(m.blocks), /"url":"https:\/\/docs\.example\.com\/report\.pdf"/, "a link");
  await assert.rejects(
    adapter.send.media({ cfg, to: "conversation:3000002", text: "x", mediaUrl: "/tmp/photo.png", deliveryQueueId: "m-local" }),
    /upload.*not supported|not supported.*upload/,
  );
  // A payload's media (an agent's reply) goes the same way.
  const url = "https://img.example.com/reply.jpg";
  await adapter.send.payload({ cfg, to: "conversation:3000002", text: "답장", payload: { text: "답장", mediaUrls: [url] }, deliveryQueueId: "m-payload" });
  const p = (await emu.posted()).find((x) => x.text.includes("답장"));
  assert.deepEqual(p.blocks.filter((b) => b.type === "image_link").map((b) => b.url), [url]);
  assert.equal((await emu.sends()).length, before + 2, "the refused one made no request");
});
