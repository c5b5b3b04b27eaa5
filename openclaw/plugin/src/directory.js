// @ts-check
// OpenClaw's directory adapter over the component's directory exports: members as `user:<id>`
// peers, the bot's group conversations as `conversation:<id>` groups. The component reads the
// pages and filters by the query; this file only maps the records.
import { channelFor } from "./runtime.js";
import { withRetries } from "./send.js";
/** @import { DirectoryKind, DirectoryListing } from "../dist/component/interfaces/moltbot-channel-channel.js" */

/** @param {import("../dist/component/interfaces/moltbot-channel-channel.js").Member} m */
const peer = (m) => ({
  kind: "user",
  id: `user:${m.id}`,
  name: m.name,
  handle: m.email ?? undefined,
  raw: m,
});

const limited = (entries, limit) =>
  Number.isInteger(limit) && limit > 0 ? entries.slice(0, limit) : entries;

/**
 * The entries of one kind: the guest answers in the kind it was asked.
 * @template {DirectoryKind & DirectoryListing["tag"]} K
 * @param {K} kind
 * @returns {Promise<Extract<DirectoryListing, {tag: K}>["val"]>}
 */
async function list(cfg, accountId, kind, query) {
  const { host } = await channelFor(cfg);
  const listing = await withRetries(() =>
    host.call("directory", { account: accountId ?? undefined, kind, query: query?.trim() || undefined }),
  );
  return /** @type {any} */ (listing.val);
}

/** @type {import("openclaw/plugin-sdk/channel-contract").ChannelDirectoryAdapter} */
export const directory = {
  async self({ cfg, accountId }) {
    const { host } = await channelFor(cfg);
    const p = await withRetries(() => host.call("probe", accountId ?? undefined));
    return { kind: "user", id: String(p.botId), name: p.title };
  },
  async listPeers({ cfg, accountId, query, limit }) {
    return limited((await list(cfg, accountId, "users", query)).map(peer), limit);
  },
  async listGroups({ cfg, accountId, query, limit }) {
    const convs = await list(cfg, accountId, "conversations", query);
    return limited(
      convs
        .filter((c) => c.chatType === "group")
        .map((c) => ({ kind: "group", id: `conversation:${c.id}`, name: c.name ?? undefined, raw: c })),
      limit,
    );
  },
  async listGroupMembers({ cfg, accountId, groupId, limit }) {
    const { host } = await channelFor(cfg);
    const members = await withRetries(() =>
      host.call("conversationMembers", accountId ?? undefined, String(groupId)),
    );
    return limited(members.map(peer), limit);
  },
};

/** Names and e-mail addresses are looked up among members; `#name` among group conversations. */
export function inferTargetChatType({ to }) {
  const t = String(to ?? "").trim().replace(/^(kakaowork|kakao|kw):/i, "");
  if (t.startsWith("#") || /^(conversation|users):/i.test(t) || /^\d+$/.test(t)) return "group";
  return "direct";
}
