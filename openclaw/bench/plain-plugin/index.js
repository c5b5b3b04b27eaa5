// A benchmark fixture, not a product: the smallest plain-JavaScript KakaoWork channel that makes
// the same API calls as the component plugin for `openclaw message send --target
// conversation:<id>` (one `messages.send`), and serves a webhook route as the gateway's start-up
// of the component plugin does. `bench/side-by-side.mjs` runs the two against each other.
import { defineChannelPluginEntry } from "openclaw/plugin-sdk/channel-core";
import { createChatChannelPlugin } from "openclaw/plugin-sdk/channel-core";
import { registerPluginHttpRoute } from "openclaw/plugin-sdk/webhook-ingress";

const ID = "kakao";
const section = (cfg) => cfg?.channels?.[ID] ?? {};

async function sendText(ctx) {
  const s = section(ctx.cfg);
  const conversation = String(ctx.to).replace(/^conversation:/, "");
  const r = await fetch(`${s.apiBase ?? "https://api.kakaowork.com"}/v1/messages.send`, {
    method: "POST",
    headers: { authorization: `Bearer ${s.appKey}`, "content-type": "application/json" },
    body: JSON.stringify({ conversation_id: conversation, text: ctx.text }),
  });
  const body = await r.json();
  if (!body.success) throw new Error(`KakaoWork: ${body.error?.code}`);
  return { channel: ID, messageId: String(body.message.id), conversationId: conversation };
}

const plugin = createChatChannelPlugin({
  base: {
    id: ID,
    meta: { id: ID, label: "KakaoWork (plain)", selectionLabel: "KakaoWork (plain)", docsPath: "/channels/kakao", blurb: "fixture" },
    capabilities: { chatTypes: ["direct", "group"], media: false },
    config: {
      listAccountIds: () => ["default"],
      defaultAccountId: () => "default",
      resolveAccount: (cfg) => ({ accountId: "default", enabled: true, configured: Boolean(section(cfg).appKey) }),
      isConfigured: (a) => a.configured,
      isEnabled: (a) => a.enabled,
    },
    messaging: { normalizeTarget: (raw) => String(raw).trim(), targetResolver: { looksLikeId: () => true, hint: "conversation:<id>" } },
    gateway: {
      startAccount: async (ctx) => {
        const unregister = registerPluginHttpRoute({
          auth: "plugin",
          path: section(ctx.cfg).callbackPath ?? "/kakaowork/default/callback",
          pluginId: ID,
          accountId: ctx.accountId,
          replaceExisting: true,
          handler: (req, res) => {
            res.statusCode = 200;
            res.setHeader("content-type", "application/json");
            res.end("{}");
            return true;
          },
        });
        await new Promise((resolve) => {
          if (ctx.abortSignal.aborted) return resolve();
          ctx.abortSignal.addEventListener("abort", resolve, { once: true });
        });
        unregister();
      },
    },
  },
  outbound: { base: { deliveryMode: "direct", textChunkLimit: 1_000_000 }, attachedResults: { channel: ID, sendText } },
});

export default defineChannelPluginEntry({ id: ID, name: "KakaoWork (plain)", description: "benchmark fixture", plugin, setRuntime: () => {} });
