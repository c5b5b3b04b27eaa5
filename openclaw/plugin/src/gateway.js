// The gateway side: each account's callback path on OpenClaw's HTTP server. A callback goes to
// the component's `handle-callback` (which authenticates, parses and decides policy); its answer
// goes back to KakaoWork, its events to the agent through OpenClaw's inbound pipeline, and the
// agent's replies back through `send` to the conversation the event came from.
import { registerPluginHttpRoute } from "openclaw/plugin-sdk/webhook-ingress";
import { runDetachedWebhookWork } from "openclaw/plugin-sdk/webhook-request-guards";
import { resolveChannelInboundRouteEnvelope } from "openclaw/plugin-sdk/channel-inbound";
import { defineStableChannelIngressIdentity } from "openclaw/plugin-sdk/channel-ingress-runtime";
import { channelFor, approvalNotices } from "./runtime.js";
import { deliver } from "./send.js";
import { renderPresentation } from "./presentation.js";
import { getRuntime } from "./openclaw-runtime.js";
import { CHANNEL_ID, sectionOf, resolveAccount } from "./config.js";

// The guest refuses bodies over 64 KiB (413); reading one byte more is enough to know.
const MAX_CALLBACK_BYTES = 64 * 1024 + 1;
const READ_TIMEOUT_MS = 10_000;

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

/** One inbound event to the agent; its replies go back to the event's conversation. */
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
  const body = buildEnvelope({
    channel: "KakaoWork",
    from,
    timestamp: Number(event.timestampMs),
    body: event.text,
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
    message: { body, bodyForAgent: event.text, rawBody: event.text, commandBody: event.text },
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
        if (!shown?.text) return;
        part += 1;
        // The agent writes markdown: the component shows it as Block Kit.
        const receipt = await deliver(host, {
          account: accountId,
          target: to,
          text: shown.text,
          buttons: shown.channelData?.[CHANNEL_ID]?.buttons ?? [],
          format: "markdown",
          idempotencyKey: `openclaw:reply:${event.messageId}:${part}`,
        });
        return { messageId: receipt.messageId };
      },
      onError: (e) => log?.error?.(`kakao: delivering the agent's reply failed: ${e?.message ?? e}`),
    },
  });
}

/** After KakaoWork has its answer: replies the plugin left to the host, then the events. */
async function afterCallback({ cfg, accountId, host, outcome, log }) {
  for (const req of outcome.outbound) {
    try {
      await deliver(host, req);
    } catch (e) {
      log?.error?.(`kakao: a pairing reply could not be sent: ${e.message}`);
    }
  }
  for (const event of outcome.events) {
    try {
      await dispatchEvent({ cfg, accountId, host, event, log });
    } catch (e) {
      log?.error?.(`kakao: the event ${event.messageId} did not reach the agent: ${e?.stack ?? e}`);
    }
  }
}

async function onCallback(ctx, req, res) {
  const log = ctx.log;
  let outcome;
  let host;
  try {
    const body = await readCapped(req, MAX_CALLBACK_BYTES);
    const url = new URL(req.url ?? "/", "http://gateway.invalid");
    ({ host } = await channelFor(ctx.cfg));
    outcome = await host.call("handleCallback", {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      headers: headerPairs(req),
      body: new Uint8Array(body),
    });
  } catch (e) {
    // The plugin's own failure (storage, a trap): KakaoWork may retry; no internals in the answer.
    log?.error?.(`kakao: callback failed: ${e?.stack ?? e}`);
    res.statusCode = 503;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ error: "temporarily unavailable; try again" }));
    return true;
  }
  if (outcome.events.length > 0 || outcome.outbound.length > 0) {
    // Started before answering: work left running after the response is refused by the gateway.
    runDetachedWebhookWork(() =>
      afterCallback({ cfg: ctx.cfg, accountId: ctx.accountId, host, outcome, log }),
    ).catch((e) => log?.error?.(`kakao: ${e?.message ?? e}`));
  }
  const r = outcome.response;
  res.statusCode = r.status;
  for (const [k, v] of r.headers) res.setHeader(k, v);
  res.end(Buffer.from(r.body));
  return true;
}

/** `gateway.startAccount`: serve the account's callback path until OpenClaw stops it. */
export async function startAccount(ctx) {
  const { result } = await channelFor(ctx.cfg);
  const info = result.accounts.find((a) => a.id === ctx.accountId);
  if (!info) throw new Error(`kakao: no account \`${ctx.accountId}\` in channels.kakao`);
  const path = info.callbackPath;
  const unregister = registerPluginHttpRoute({
    auth: "plugin",
    path,
    pluginId: CHANNEL_ID,
    accountId: ctx.accountId,
    replaceExisting: true,
    handler: (req, res) => onCallback(ctx, req, res),
    log: (m) => ctx.log?.info?.(m),
  });
  ctx.log?.info?.(`kakao: account ${ctx.accountId} receives KakaoWork callbacks on ${path}`);
  // Tells users approved by `openclaw pairing approve` (a process without this plugin).
  approvalNotices().watch(ctx.accountId, ctx.abortSignal);
  await new Promise((resolve) => {
    if (ctx.abortSignal.aborted) return resolve();
    ctx.abortSignal.addEventListener("abort", resolve, { once: true });
  });
  unregister();
}
