// @ts-check
// The OpenClaw channel: adapters that translate OpenClaw's calls into the component's exports.
// No KakaoWork knowledge lives here; the component (through runtime.js) has all of it.
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createChatChannelPlugin } from "openclaw/plugin-sdk/channel-core";
import {
  createChannelMessageAdapterFromOutbound,
  createMessageReceiptFromOutboundResults,
} from "openclaw/plugin-sdk/channel-outbound";
import { channelFor, ChannelError, approvalNotices, callbackToken } from "./runtime.js";
import { APPROVED_MESSAGE } from "./approvals.js";
import { deliver, withRetries } from "./send.js";
import { directory, inferTargetChatType } from "./directory.js";
import { PRESENTATION, renderPresentation } from "./presentation.js";
import { mediaUrlsOf, withMedia } from "./media.js";
import {
  CHANNEL_ID,
  sectionOf,
  listAccountIds,
  defaultAccountId,
  resolveAccount,
} from "./config.js";

export const TARGET_HINT =
  "a KakaoWork target: conversation:<id> (or a bare numeric id), user:<user id>, users:<id>,<id> (a new group) or email:<address>";

// The guest's grammar (src/model/target.rs), restated so that OpenClaw learns before any call
// whether a string is a target or a name to look up; both run the cases of spec/targets.json.
const CHANNEL_PREFIX = /^(kakaowork|kakao|kw):/i;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const MAX_GROUP_USERS = 100;

/** @param {string} s */
function numericId(s) {
  const t = s.trim();
  return /^[0-9]{1,20}$/.test(t) && BigInt(t) <= U64_MAX ? t : undefined;
}

/** @param {string} s */
function validEmail(s) {
  const at = s.lastIndexOf("@");
  if (at < 0) return false;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  return (
    local.length > 0 &&
    domain.includes(".") &&
    !domain.startsWith(".") &&
    !domain.endsWith(".") &&
    Buffer.byteLength(s, "utf8") <= 254 &&
    !/[\p{White_Space}\p{Cc}]/u.test(s)
  );
}

/**
 * The kind of target `raw` is, as the guest parses it, or `undefined` when it is none.
 * @returns {"conversation" | "user" | "users" | "email" | undefined}
 */
export function targetKind(raw) {
  let t = String(raw ?? "").trim();
  const m = CHANNEL_PREFIX.exec(t);
  if (m) t = t.slice(m[0].length).trim();
  if (!t) return undefined;
  // Forms compare in ASCII without case (no `u` flag: a non-ASCII letter never matches).
  const form = /^(conversation|user|users|email):/i.exec(t);
  const rest = form ? t.slice(form[0].length) : t;
  switch (form?.[1].toLowerCase()) {
    case "conversation":
      return numericId(rest) ? "conversation" : undefined;
    case "user":
      return numericId(rest) ? "user" : undefined;
    case "users": {
      const ids = rest.split(",").map(numericId);
      if (ids.some((id) => id === undefined)) return undefined;
      return new Set(ids).size <= MAX_GROUP_USERS ? "users" : undefined;
    }
    case "email":
      return validEmail(rest.trim()) ? "email" : undefined;
    default:
      return numericId(rest) ? "conversation" : undefined;
  }
}

/** Strips `kakao:`/`kakaowork:`/`kw:` and whitespace; `undefined` when it cannot be a target. */
export function normalizeTarget(raw) {
  if (targetKind(raw) === undefined) return undefined;
  let t = String(raw ?? "").trim();
  const m = CHANNEL_PREFIX.exec(t);
  if (m) t = t.slice(m[0].length).trim();
  const i = t.indexOf(":");
  return i < 0 ? t : `${t.slice(0, i).toLowerCase()}:${t.slice(i + 1)}`;
}

/** The idempotency key of one delivery: OpenClaw's durable identity when it gives one. */
export function idempotencyKey(ctx) {
  if (ctx.deliveryQueueId) {
    return `openclaw:${ctx.deliveryQueueId}:${ctx.deliveryPartIndex ?? 0}`;
  }
  if (ctx.preparedMessageId) return `openclaw:prepared:${ctx.preparedMessageId}`;
  return `openclaw:${randomUUID()}`;
}

/** KakaoWork may have posted the message; it is not sent again (it could show twice). */
export class AmbiguousSendError extends Error {
  constructor(key) {
    super(
      `KakaoWork may or may not have posted this message (it failed after storing it, or its answer was lost); it is not sent again, so that it cannot show twice. Check the conversation; the same idempotency key (${key}) never posts it twice`,
    );
    this.name = "AmbiguousSendError";
  }
}

/**
 * Set by tests only (`before:<file>` or `after:<file>`): the process writes its pid to `file` and
 * stops just before the component's send, or just after it returned, so that a test can kill it.
 */
const HOLD_SEND = /^(before|after):(.+)$/.exec(process.env.KAKAOWORK_TEST_HOLD_SEND ?? "");

async function holdForTest(stage) {
  if (!HOLD_SEND || HOLD_SEND[1] !== stage) return;
  // The pid: OpenClaw's CLI runs the command in a process of its own, in a session of its own.
  writeFileSync(HOLD_SEND[2], String(process.pid));
  await new Promise(() => setInterval(() => {}, 1 << 30));
}

/** One message: OpenClaw's text is markdown (the component shows it as Block Kit). */
async function sendMarkdown(ctx, text, buttons = []) {
  const { host } = await channelFor(ctx.cfg);
  await holdForTest("before");
  const receipt = await deliver(
    host,
    {
      account: ctx.accountId ?? undefined,
      target: ctx.to,
      text,
      format: "markdown",
      buttons,
      idempotencyKey: idempotencyKey(ctx),
    },
    { signal: ctx.signal },
  );
  await holdForTest("after");
  if (receipt.messageId === undefined) {
    // The first part may or may not show (KakaoWork stored it, then failed; or the answer was
    // lost): an error, so that OpenClaw keeps the send as unknown and asks `reconcileUnknownSend`
    // later, instead of a receipt without an id, which it would count as suppressed.
    throw new AmbiguousSendError(receipt.idempotencyKey);
  }
  return {
    channel: CHANNEL_ID,
    // A later part that may or may not show has no id: `meta.ambiguous` says so.
    messageId: receipt.messageId,
    conversationId: receipt.conversationId,
    chatId: receipt.conversationId,
    timestamp: receipt.sendTime === undefined ? undefined : Number(receipt.sendTime),
    meta: {
      parts: receipt.chunks.length,
      ambiguous: receipt.ambiguous,
      idempotencyKey: receipt.idempotencyKey,
    },
  };
}

const sendText = (ctx) => sendMarkdown(ctx, ctx.text);

/** Text with media by URL: images shown as images, other URLs as links (`media.js`). */
const sendMedia = (ctx) => sendMarkdown(ctx, withMedia(ctx.text ?? "", mediaUrlsOf(ctx)));

/** A payload (a presentation, as `renderPresentation` left it, and its media): its buttons are ours. */
const sendPayload = (ctx) =>
  sendMarkdown(
    ctx,
    withMedia(ctx.payload?.text ?? ctx.text ?? "", mediaUrlsOf(ctx, ctx.payload)),
    ctx.payload?.channelData?.[CHANNEL_ID]?.buttons ?? [],
  );

async function probeAccount({ account, cfg }) {
  try {
    const { host } = await channelFor(cfg);
    const p = await withRetries(() => host.call("probe", account.accountId));
    return {
      ok: true,
      bot: { id: p.botId, name: p.title, status: p.status },
      elapsedMs: Number(p.elapsedMs),
    };
  } catch (e) {
    // Config issues (a list) have no tag.
    const tag = e instanceof ChannelError ? ((Array.isArray(e.payload) ? undefined : e.payload?.tag) ?? "config") : "error";
    return { ok: false, error: e.message, kind: tag === "authentication" ? "auth" : tag };
  }
}

/** The gateway's own address, where the callback path is served unless `callbackUrl` says. */
const gatewayBase = (cfg) => `http://127.0.0.1:${cfg?.gateway?.port ?? 18789}`;

/**
 * The account's status, with the callback URL to register in KakaoWork (its token included):
 * shown on request (`openclaw channels status --json`), never in a log line.
 * @param {{account: any, cfg: any, runtime?: object, probe?: unknown}} params
 */
async function buildAccountSnapshot({ account, cfg, runtime, probe }) {
  const snapshot = {
    ...runtime,
    accountId: account.accountId,
    name: account.name,
    enabled: account.enabled,
    configured: account.configured,
    dmPolicy: account.dmPolicy,
    probe,
  };
  try {
    const channel = await channelFor(cfg);
    const info = channel.result.accounts.find((a) => a.id === account.accountId);
    if (!info?.callbackPath) return snapshot;
    const token = await callbackToken(channel, account.accountId);
    const base = account.callbackUrl ?? `${gatewayBase(cfg)}${info.callbackPath}`;
    const url = token === null ? base : `${base}${base.includes("?") ? "&" : "?"}token=${token}`;
    return { ...snapshot, webhookPath: info.callbackPath, webhookUrl: url };
  } catch (e) {
    return { ...snapshot, lastError: e.message };
  }
}

export const kakaoPlugin = createChatChannelPlugin({
  base: {
    id: CHANNEL_ID,
    meta: {
      id: CHANNEL_ID,
      label: "KakaoWork",
      selectionLabel: "KakaoWork (bot, WebAssembly component)",
      docsPath: "/channels/kakao",
      blurb: "KakaoWork bots: messages to conversations, users and e-mail addresses.",
      aliases: ["kakaowork", "kw"],
    },
    // Media by URL only (images as images, other URLs as links); a local file is refused.
    capabilities: { chatTypes: ["direct", "group"], media: true },
    reload: { configPrefixes: [`channels.${CHANNEL_ID}`] },
    config: {
      listAccountIds: (cfg) => listAccountIds(sectionOf(cfg)),
      defaultAccountId: (cfg) => defaultAccountId(sectionOf(cfg)),
      resolveAccount: (cfg, accountId) => resolveAccount(sectionOf(cfg), accountId),
      inspectAccount: (cfg, accountId) => {
        const a = resolveAccount(sectionOf(cfg), accountId);
        return {
          enabled: a.enabled,
          configured: a.configured,
          tokenStatus: a.configured ? "available" : "missing",
        };
      },
      isConfigured: (account) => account.configured,
      isEnabled: (account) => account.enabled,
      describeAccount: (account) => ({
        accountId: account.accountId,
        name: account.name,
        enabled: account.enabled,
        configured: account.configured,
      }),
    },
    messaging: {
      targetPrefixes: ["kakao", "kakaowork", "kw"],
      normalizeTarget,
      inferTargetChatType,
      targetResolver: {
        looksLikeId: (raw) => normalizeTarget(raw) !== undefined,
        hint: TARGET_HINT,
      },
    },
    status: { probeAccount, buildAccountSnapshot },
    directory,
    // Loaded when a gateway starts an account: a CLI command does not pay for the inbound
    // side (OpenClaw's channel-inbound modules take most of a second to load).
    gateway: { startAccount: async (ctx) => (await import("./gateway.js")).startAccount(ctx) },
  },
  security: {
    dm: {
      channelKey: CHANNEL_ID,
      resolvePolicy: (account) => account.dmPolicy,
      resolveAllowFrom: (account) => account.allowFrom,
      defaultPolicy: "pairing",
      normalizeEntry: (raw) => String(raw).replace(/^(kakaowork|kakao|kw):/i, "").trim(),
    },
  },
  pairing: {
    text: {
      idLabel: "KakaoWork user id",
      message: APPROVED_MESSAGE,
      normalizeAllowEntry: (raw) => String(raw).replace(/^(kakaowork|kakao|kw):/i, "").trim(),
      // Called by the gateway's approve method with notify. The shared record keeps the
      // gateway's own watcher (approvals.js) from telling the user a second time.
      notify: async ({ cfg, id, accountId }) => {
        const { result } = await channelFor(cfg);
        await approvalNotices().tell(accountId ?? result.defaultAccount, String(id), { force: true });
      },
    },
  },
  outbound: {
    base: {
      deliveryMode: "direct",
      textChunkLimit: 1_000_000,
      presentationCapabilities: PRESENTATION,
      renderPresentation,
      sendPayload,
    },
    attachedResults: { channel: CHANNEL_ID, sendText, sendMedia },
  },
});

/**
 * OpenClaw's reconciliation of a queued send whose outcome it lost (a crash, a timeout): the
 * component's send ledger answers, for the one key this delivery used. `sent` with the real
 * message ids; `not_sent` when no part left, or when the first parts were stored and the rest
 * never left (the same key then posts only the rest); `unresolved` when a part may or may not
 * have been posted. A batch of several payloads is not this plugin's to prove.
 * @returns {Promise<import("openclaw/plugin-sdk/channel-message").ChannelMessageUnknownSendReconciliationResult>}
 */
export async function reconcileUnknownSend(ctx) {
  if ((ctx.payloads?.length ?? 0) !== 1) {
    return { status: "unresolved", error: "only a single-payload send can be reconciled", retryable: false };
  }
  const { host } = await channelFor(ctx.cfg);
  const key = idempotencyKey({ deliveryQueueId: ctx.queueId, deliveryPartIndex: 0 });
  const state = await host.call("sendStatus", ctx.accountId ?? undefined, key);
  switch (state.tag) {
    case "not-sent":
    case "partly-sent":
      return { status: "not_sent" };
    case "sent": {
      const r = state.val;
      const results = r.chunks.map((c) => ({
        channel: CHANNEL_ID,
        messageId: c.messageId ?? "",
        conversationId: r.conversationId,
      }));
      return {
        status: "sent",
        receipt: createMessageReceiptFromOutboundResults({ results, kind: ctx.payloads[0]?.mediaUrl || ctx.payloads[0]?.mediaUrls?.length ? "media" : "text" }),
        messageId: r.messageId ?? undefined,
      };
    }
    default:
      return { status: "unresolved", error: String(state.val ?? state.tag), retryable: false };
  }
}

/**
 * What a final send through this channel preserves, and nothing more: text (markdown, shown as
 * Block Kit), media by URL (an image URL as an image, another as a link; a local file is refused)
 * and payloads (a presentation's card and buttons). No reply-to, threads, silent
 * sends or polls: KakaoWork has none of them. Each one is proved by OpenClaw's contract helper in
 * `test/message-adapter.test.js`.
 */
export const DURABLE_FINAL_CAPABILITIES = Object.freeze({
  text: true,
  media: true,
  payload: true,
  reconcileUnknownSend: true,
});

/** OpenClaw's `message` adapter, from the outbound adapter's send functions: one send path. */
const derived = createChannelMessageAdapterFromOutbound({
  id: CHANNEL_ID,
  // Given above, so there.
  outbound: /** @type {NonNullable<typeof kakaoPlugin.outbound>} */ (kakaoPlugin.outbound),
  capabilities: { ...DURABLE_FINAL_CAPABILITIES },
});
kakaoPlugin.message = {
  ...derived,
  durableFinal: {
    ...derived.durableFinal,
    // Every send shape goes through one ledger entry per delivery; OpenClaw applies the
    // automatic reconciliation to single-payload sends only, as its rules say.
    reconcileUnknownSendKinds: { text: true, media: true, payload: true },
    automaticUnknownSendReconciliation: true,
    reconcileUnknownSend,
  },
  // KakaoWork has its answer to a callback only once the callback's events are in the inbox
  // (gateway.js): a crash after the answer loses nothing. Proved in `test/durable.test.js`.
  // (When the store fails between the component's checks and the inbox, the events are
  // delivered from memory and the failure logged, rather than refused after being marked seen.)
  receive: { defaultAckPolicy: "after_receive_record", supportedAckPolicies: ["after_receive_record"] },
};

