// @ts-check
// The gateway side: each account's callback path on OpenClaw's HTTP server. A callback goes to
// the component's `handle-callback` (which authenticates, parses and decides policy); its answer
// goes back to KakaoWork, its events to the agent through OpenClaw's inbound pipeline, and the
// agent's replies back through `send` to the conversation the event came from.
import { writeFileSync } from "node:fs";
import { registerPluginHttpRoute } from "openclaw/plugin-sdk/webhook-ingress";
import { runDetachedWebhookWork } from "openclaw/plugin-sdk/webhook-request-guards";
import { resolveChannelInboundRouteEnvelope } from "openclaw/plugin-sdk/channel-inbound";
import { defineStableChannelIngressIdentity } from "openclaw/plugin-sdk/channel-ingress-runtime";
import { timingSafeEqual, createHash } from "node:crypto";
import { channelFor, approvalNotices, callbackToken, hostKv, PoolError } from "./runtime.js";
import { Inbox } from "./inbox.js";
import { deliver } from "./send.js";
import { renderPresentation, agentButtons, isCommandButton } from "./presentation.js";
import { getRuntime } from "./openclaw-runtime.js";
import { mediaUrlsOf, withMedia } from "./media.js";
import { CHANNEL_ID, sectionOf, resolveAccount } from "./config.js";
/** @import { CallbackOutcome, InboundEvent } from "../dist/component/interfaces/moltbot-channel-channel.js" */
/**
 * An inbound event as the inbox hands it back: its time went through JSON as a decimal string.
 * @typedef {Omit<InboundEvent, "timestampMs"> & {timestampMs: bigint | string}} StoredEvent
 */

// The guest refuses bodies over 64 KiB (413); reading one byte more is enough to know.
const MAX_CALLBACK_BYTES = 64 * 1024 + 1;
const READ_TIMEOUT_MS = 10_000;
/** How often each account's stored inbound items are looked at (left by a crash, or failed). */
const DRAIN_INTERVAL_MS = 5_000;

/** Reads at most `cap` bytes of the request body, within a deadline. */
function readCapped(req, cap) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let n = 0;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error("the callback body was not received in time"));
    }, READ_TIMEOUT_MS);
    req.on("data", (chunk) => {
      if (n >= cap) return;
      parts.push(chunk.subarray(0, cap - n));
      n += chunk.length;
      if (n >= cap) {
        clearTimeout(timer);
        req.pause();
        resolve(Buffer.concat(parts));
      }
    });
    req.on("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function headerPairs(req) {
  const out = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    out.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
  }
  return out;
}

const identity = defineStableChannelIngressIdentity({
  key: "kakaowork-user-id",
  normalize: (raw) => String(raw).replace(/^(kakaowork|kakao|kw):/i, "").trim(),
  sensitivity: "pii",
});

/** What `commandBody` holds for a click on the agent's button: nothing OpenClaw runs. */
export const CLICK_COMMAND_BODY = "[button click]";

/**
 * An event's message for OpenClaw. A click on one of OpenClaw's command buttons runs its command;
 * a click on any other button (the agent's, with a value it chose) reaches the agent as the
 * component describes it, and its `commandBody` holds no text of the agent's, so that a value or
 * caption such as `/reset` is never run as a command in the clicking user's name.
 * @param {Pick<InboundEvent, "kind" | "actionName" | "actionValue" | "text">} event
 */
export function messageOf(event) {
  if (event.kind === "action" && isCommandButton(event.actionName)) {
    const command = event.actionValue ?? "";
    return { bodyForAgent: command, rawBody: command, commandBody: command };
  }
  if (event.kind === "action") {
    return { bodyForAgent: event.text, rawBody: event.text, commandBody: CLICK_COMMAND_BODY };
  }
  return { bodyForAgent: event.text, rawBody: event.text, commandBody: event.text };
}

/**
 * One inbound event to the agent; its replies go back to the event's conversation.
 * @param {{cfg: any, accountId: string, host: import("./component.js").ComponentHost,
 *          event: StoredEvent, log?: any}} params
 */
async function dispatchEvent({ cfg, accountId, host, event, log }) {
  const rt = getRuntime();
  const kind = event.chatType === "group" ? "group" : "direct";
  const peerId = kind === "group" ? event.conversationId : event.senderId;
  const { route, buildEnvelope } = resolveChannelInboundRouteEnvelope({
    cfg,
    channel: CHANNEL_ID,
    accountId,
    peer: { kind, id: peerId },
  });
  const account = resolveAccount(sectionOf(cfg), accountId);
  const section = sectionOf(cfg);
  const ingress = await rt.channel.inbound.ingress.resolve({
    channelId: CHANNEL_ID,
    accountId,
    identity,
    subject: { stableId: event.senderId },
    conversation: { kind, id: event.conversationId },
    contextBinding: {
      agentId: route.agentId,
      sessionKey: route.sessionKey,
      messageId: event.messageId,
      inboundEventKind: "user_request",
      nativeChannelId: event.conversationId,
    },
    event: { kind: "message", authMode: "inbound", mayPair: false },
    policy: {
      dmPolicy: account.dmPolicy,
      groupPolicy: section.groupPolicy ?? "allowlist",
      groupAllowFromFallbackToAllowFrom: true,
    },
    allowFrom: account.allowFrom,
    groupAllowFrom: section.groupAllowFrom,
    useDefaultPairingStore: true,
  });
  const from = event.senderName ?? event.senderId;
  const message = messageOf(event);
  const body = buildEnvelope({
    channel: "KakaoWork",
    from,
    timestamp: Number(event.timestampMs),
    body: message.bodyForAgent,
  });
  const to = `conversation:${event.conversationId}`;
  const ctxPayload = rt.channel.inbound.buildContext({
    channelIngress: ingress,
    channel: CHANNEL_ID,
    accountId,
    messageId: event.messageId,
    timestamp: Number(event.timestampMs),
    from: event.from,
    sender: { id: event.senderId, name: event.senderName ?? undefined },
    conversation: { kind, id: event.conversationId, nativeChannelId: event.conversationId },
    route: { agentId: route.agentId, accountId, routeSessionKey: route.sessionKey },
    reply: { to, nativeChannelId: event.conversationId },
    message: { body, ...message },
  });
  let part = 0;
  await rt.channel.inbound.dispatch({
    cfg,
    channel: CHANNEL_ID,
    accountId,
    route,
    ctxPayload,
    delivery: {
      deliver: async (payload) => {
        // A reply with a presentation (a card, buttons): as `openclaw message send` renders it.
        const shown = payload?.presentation
          ? renderPresentation({ payload, presentation: payload.presentation })
          : payload;
        const text = withMedia(shown?.text ?? "", mediaUrlsOf(payload));
        if (!text) return;
        part += 1;
        // The agent writes markdown: the component shows it as Block Kit.
        const receipt = await deliver(host, {
          account: accountId,
          target: to,
          text,
          // Rendered from a presentation, or the agent's own channel data (no command buttons).
          buttons: payload?.presentation
            ? (shown.channelData?.[CHANNEL_ID]?.buttons ?? [])
            : agentButtons(shown.channelData?.[CHANNEL_ID]?.buttons),
          format: "markdown",
          idempotencyKey: `openclaw:reply:${event.messageId}:${part}`,
        });
        // OpenClaw reads a delivery's ids from `messageIds` (its `ChannelDeliveryResult`).
        return { messageIds: receipt.messageId === undefined ? [] : [receipt.messageId] };
      },
      onError: (/** @type {any} */ e) => log?.error?.(`kakao: delivering the agent's reply failed: ${e?.message ?? e}`),
    },
  });
}

/**
 * What a callback accepted, as inbox items: the plugin's replies first, then the events.
 * @param {CallbackOutcome} outcome
 */
function inboxItems(outcome) {
  return [
    ...outcome.outbound.map((req) => ({ kind: "send", id: req.idempotencyKey, lane: req.target, body: req })),
    ...outcome.events.map((event) => ({
      kind: "event",
      id: event.messageId,
      lane: `conversation:${event.conversationId}`,
      body: event,
    })),
  ];
}

/** Runs one stored item: a reply the plugin left to the host, or an event for the agent. */
function runItem(ctx) {
  return async ({ kind, account, body }) => {
    const { host } = await channelFor(ctx.cfg);
    if (kind === "send") {
      await deliver(host, body);
    } else {
      await dispatchEvent({ cfg: ctx.cfg, accountId: account, host, event: body, log: ctx.log });
    }
  };
}

/** The callback's `token` query parameter against the expected one, in constant time. */
export function tokenMatches(query, expected) {
  const given = query
    .replace(/^\?/, "")
    .split("&")
    .map((kv) => kv.split("="))
    .find(([k, v]) => k === "token" && v !== undefined)?.[1] ?? "";
  // Hashed first: equal lengths for timingSafeEqual, and no length leaks.
  const h = (v) => createHash("sha256").update(v).digest();
  return timingSafeEqual(h(given), h(expected));
}

function answer(res, status, body, headers = {}) {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(JSON.stringify(body));
  return true;
}

/** Set by tests only: the gateway stops between KakaoWork's answer and the agent (a crash window). */
const HOLD_FILE = process.env.KAKAOWORK_TEST_HOLD_INBOUND;

async function onCallback(ctx, inbox, req, res) {
  const log = ctx.log;
  /** @type {CallbackOutcome} */
  let outcome;
  let host;
  try {
    const url = new URL(req.url ?? "/", "http://gateway.invalid");
    const channel = await channelFor(ctx.cfg);
    host = channel.host;
    // Checked before the request takes an instance (the component checks it again).
    const token = await callbackToken(channel, ctx.accountId);
    if (token !== null && !tokenMatches(url.search, token)) {
      req.resume();
      return answer(res, 401, { error: "missing or wrong token" });
    }
    const body = await readCapped(req, MAX_CALLBACK_BYTES);
    outcome = await host.callUrgent("handleCallback", {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      headers: headerPairs(req),
      body: new Uint8Array(body),
    });
  } catch (e) {
    if (e instanceof PoolError && e.kind === "busy") {
      // Every instance is at work and the queue is full: KakaoWork is told at once.
      return answer(res, 503, { error: "busy; try again" }, { "retry-after": "1" });
    }
    // The plugin's own failure (storage, a trap): KakaoWork may retry; no internals in the answer.
    log?.error?.(`kakao: callback failed: ${e?.stack ?? e}`);
    return answer(res, 503, { error: "temporarily unavailable; try again" });
  }
  const items = inboxItems(outcome);
  let keys = [];
  if (items.length > 0) {
    try {
      // Stored before KakaoWork has its answer: a crash from here on loses nothing.
      keys = await inbox.admit(ctx.accountId, items);
    } catch (e) {
      log?.error?.(`kakao: the inbound items could not be stored; delivering from memory: ${e?.message ?? e}`);
      const run = runItem(ctx);
      runDetachedWebhookWork(async () => {
        for (const item of items) {
          await run({ kind: item.kind, account: ctx.accountId, body: item.body }).catch((err) =>
            log?.error?.(`kakao: the inbound ${item.kind} ${item.id} was lost: ${err?.message ?? err}`),
          );
        }
      }).catch(() => {});
      keys = [];
    }
  }
  const r = outcome.response;
  res.statusCode = r.status;
  for (const [k, v] of r.headers) res.setHeader(k, v);
  res.end(Buffer.from(r.body));
  if (keys.length > 0 && HOLD_FILE) {
    writeFileSync(HOLD_FILE, keys.join("\n"));
    return true;
  }
  if (keys.length > 0) {
    runDetachedWebhookWork(() => inbox.drain({ keys })).catch((e) => log?.error?.(`kakao: ${e?.message ?? e}`));
  }
  return true;
}

/** `gateway.startAccount`: serve the account's callback path until OpenClaw stops it. */
export async function startAccount(ctx) {
  const channel = await channelFor(ctx.cfg);
  const { result } = channel;
  const info = result.accounts.find((a) => a.id === ctx.accountId);
  if (!info) throw new Error(`kakao: no account \`${ctx.accountId}\` in channels.kakao`);
  // Made before the route, so that the first callback does not pay for it; a state that cannot
  // be reached now is tried again by that callback.
  await callbackToken(channel, ctx.accountId).catch((e) =>
    ctx.log?.warn?.(`kakao: the callback token could not be read yet: ${e?.message ?? e}`),
  );
  const inbox = new Inbox({ kv: hostKv(), run: runItem(ctx), log: ctx.log });
  const path = info.callbackPath;
  const unregister = registerPluginHttpRoute({
    auth: "plugin",
    path,
    pluginId: CHANNEL_ID,
    accountId: ctx.accountId,
    replaceExisting: true,
    handler: (req, res) => onCallback(ctx, inbox, req, res),
    log: (m) => ctx.log?.info?.(m),
  });
  ctx.log?.info?.(
    `kakao: account ${ctx.accountId} receives KakaoWork callbacks on ${path} (the URL to register, with its token, is in the account's status)`,
  );
  // Tells users approved by `openclaw pairing approve` (a process without this plugin).
  approvalNotices().watch(ctx.accountId, ctx.abortSignal);
  // What an earlier process accepted and did not deliver (a crash), then whatever fails now.
  // Drains may overlap (one waits on a slow agent run): a claim is taken once, by CAS.
  const drain = () => {
    if (HOLD_FILE) return;
    inbox.drain({ account: ctx.accountId }).catch((e) => ctx.log?.error?.(`kakao: inbox: ${e?.message ?? e}`));
  };
  drain();
  const timer = setInterval(drain, DRAIN_INTERVAL_MS);
  /** @type {Promise<void>} */
  const stopped = new Promise((resolve) => {
    if (ctx.abortSignal.aborted) return resolve();
    ctx.abortSignal.addEventListener("abort", () => resolve(), { once: true });
  });
  await stopped;
  clearInterval(timer);
  unregister();
}
