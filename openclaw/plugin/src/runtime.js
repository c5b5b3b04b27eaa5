// @ts-check
// One pool of component instances per process, configured from the current OpenClaw config: the
// guest parses and validates `channels.kakao`; this file only resolves credentials, keeps the
// HTTP allowlist in step with the guest's accounts, and knows where the state lives.
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { ComponentHost, ChannelError, PoolError } from "./component.js";
import { ApprovalNotices, APPROVED_MESSAGE } from "./approvals.js";
import { stateSpec, openStore, statePath, StateConfigError, STATE_ENV } from "./state.js";
import { deliver } from "./send.js";
import { endpoint } from "./http.js";
import {
  sectionOf,
  redact,
  resolveCredentials,
  keyId,
  keyFileStamps,
  APP_KEY_ENV,
  CHANNEL_ID,
} from "./config.js";
import { maybeRuntime } from "./openclaw-runtime.js";
/** @import { ConfigureResult, CredentialStatus } from "../dist/component/interfaces/moltbot-channel-channel.js" */
/**
 * A configured component: the guest's view of the accounts, their keys, their callback tokens.
 * @typedef {{result: ConfigureResult, credentials: ReturnType<typeof resolveCredentials>,
 *            tokens: Map<string, string | null>}} Configured
 */

const here = dirname(fileURLToPath(import.meta.url));
export const COMPONENT_DIR = join(here, "..", "dist", "component");

/** @type {ComponentHost | null} */
let host = null;
/** @type {({fingerprint: string} & Configured) | null} */
let configured = null;
/** @type {Promise<Configured> | null} */
let configuring = null;
/** @type {ApprovalNotices | null} */
let notices = null;
/**
 * Where the state lives, and the host's view of it.
 * @type {{key: string, spec: ReturnType<typeof stateSpec>, store: ReturnType<typeof openStore>} | null}
 */
let state = null;

export { statePath };

/**
 * The state the section asks for; when that changes (a config reload pointing elsewhere), the
 * worker and the stores are replaced, so that no process writes to two states.
 */
async function useState(section) {
  const spec = stateSpec(section);
  const key = JSON.stringify(spec);
  if (state?.key === key) return state;
  await shutdown();
  state = { key, spec, store: openStore(spec) };
  return state;
}

/** The current state (from the environment alone before any config was seen). */
function currentState() {
  if (!state) {
    const spec = stateSpec({});
    state = { key: JSON.stringify(spec), spec, store: openStore(spec) };
  }
  return state;
}

/** @returns {ComponentHost} */
function componentHost() {
  if (!host) {
    if (!existsSync(join(COMPONENT_DIR, "kakaowork_channel.js"))) {
      throw new Error(
        `the KakaoWork component is not built (${COMPONENT_DIR} is empty); run \`npm run build\` in the plugin's directory`,
      );
    }
    const { spec, store } = currentState();
    host = new ComponentHost({
      componentDir: COMPONENT_DIR,
      // A Redis spec opens a RedisKv (openStore).
      state:
        spec.kind === "redis"
          ? { kind: "redis", store: /** @type {import("./kv-redis.js").RedisKv} */ (store) }
          : { kind: "sqlite", path: spec.path },
    });
    reportStats(host);
  }
  const rt = maybeRuntime();
  if (rt?.channel?.pairing) host.pairing = openclawPairing(rt.channel.pairing);
  return host;
}

/** Tests only: the pool's counters, written to a file every 200 ms (what took an instance). */
function reportStats(h) {
  const file = process.env.KAKAOWORK_TEST_STATS;
  if (!file) return;
  const timer = setInterval(() => {
    if (h.closed) return clearInterval(timer);
    writeFileSync(file, JSON.stringify(h.stats));
  }, 200);
  timer.unref();
}

/** The `pairing` import in OpenClaw: OpenClaw's own pairing store, codes and reply text. */
export function openclawPairing(pairing) {
  return {
    readAllowFrom: (account) => pairing.readAllowFromStore({ channel: CHANNEL_ID, accountId: account }),
    async upsertRequest(account, sender) {
      const r = await pairing.upsertPairingRequest({ channel: CHANNEL_ID, id: sender, accountId: account });
      // No code: OpenClaw has no room for another pending request now.
      if (!r?.code) return null;
      await approvalNotices().recordChallenge(account, sender);
      const reply = pairing.buildPairingReply({
        channel: CHANNEL_ID,
        idLine: `Your KakaoWork user id: ${sender}`,
        code: r.code,
      });
      return { code: r.code, created: Boolean(r.created), reply };
    },
  };
}

/** The host's own view of the plugin's state (salt, approval records, the inbox). */
export function hostKv() {
  return currentState().store;
}

const SALT_KEY = "host/key-id-salt";

/** The state's key-id salt: made once at random, shared by every process on the state. */
export async function stateSalt(store = hostKv()) {
  const current = await store.get(SALT_KEY);
  if (current) return Buffer.from(current);
  // Two processes may race: whoever wrote first wins, and both read the winner.
  await store.compareAndSwap(SALT_KEY, undefined, new Uint8Array(randomBytes(32)));
  // Whoever won wrote it: it is there.
  return Buffer.from(/** @type {Uint8Array} */ (await store.get(SALT_KEY)));
}

/**
 * Who was given a code and must be told of their approval (see approvals.js). The notice is
 * sent through the component configured by the last `channelFor`.
 */
export function approvalNotices() {
  if (!notices) {
    notices = new ApprovalNotices({
      kv: hostKv(),
      readAllowFrom: (account) => componentHost().pairing.readAllowFrom(account),
      notify: (account, sender, since) =>
        deliver(componentHost(), {
          account,
          target: `user:${sender}`,
          text: APPROVED_MESSAGE,
          idempotencyKey: `openclaw:pairing-approved:${account}:${sender}:${since}`,
        }),
    });
  }
  return notices;
}

/** Settings the guest accepts that this host cannot honour yet: refused, never ignored. */
function unsupported(section) {
  const issues = [];
  if (section.proxy !== undefined) issues.push("channels.kakao");
  for (const [id, a] of Object.entries(section.accounts ?? {})) {
    if (a && typeof a === "object" && a.proxy !== undefined) issues.push(`channels.kakao.accounts.${id}`);
  }
  return issues.map((path) => ({
    path: `${path}.proxy`,
    message: "the OpenClaw host sends with Node's fetch, which has no per-account proxy yet",
    fix: "remove proxy, or send through kakaowork-host, which supports it",
  }));
}

/** @returns {Promise<Configured>} */
async function configure(cfg) {
  const section = sectionOf(cfg);
  const refused = unsupported(section);
  if (refused.length > 0) throw new ChannelError("configure", refused);
  try {
    await useState(section);
  } catch (e) {
    if (e instanceof StateConfigError) throw new ChannelError("configure", [e.issue]);
    throw e;
  }
  const h = componentHost();
  h.resize(section.workers);
  const redacted = JSON.stringify(redact(section));
  // First pass: the guest names the accounts and the default one; then the host resolves
  // their keys and configures again with what it found.
  const first = await h.call("configure", redacted, []);
  const credentials = resolveCredentials(
    section,
    first.accounts.map((a) => a.id),
    first.defaultAccount,
  );
  let salt;
  try {
    salt = await stateSalt();
  } catch (e) {
    // The state cannot be reached (Redis down): a storage error, before any request.
    throw new ChannelError("configure", { tag: "storage", val: e?.payload?.val ?? String(e?.message ?? e) });
  }
  /** @type {CredentialStatus[]} */
  const statuses = [...credentials].map(([account, c]) => ({
    account,
    source: c.source,
    keyId: c.key ? keyId(c.key, salt) : undefined,
  }));
  const result = await h.call("configure", redacted, statuses);
  h.endpoints = new Map(
    result.accounts.map((a) => [
      a.id,
      endpoint(a.apiBase, credentials.get(a.id)?.key),
    ]),
  );
  // Each account's callback token, asked of the component once per configuration.
  return { result, credentials, tokens: new Map() };
}

/**
 * The token a callback to `account` must carry (`?token=`), or `null` when the account takes
 * unauthenticated callbacks: the configured secret, else the one the component made and keeps
 * in the state. `channel` is what `channelFor` gave (the token is cached with its configuration).
 */
/**
 * @param {{host: ComponentHost, tokens: Map<string, string | null>}} channel
 * @param {string} account
 * @returns {Promise<string | null>}
 */
export async function callbackToken({ host, tokens }, account) {
  if (!tokens.has(account)) {
    const token = (await host.call("callbackToken", account)) ?? null;
    tokens.set(account, token);
  }
  return /** @type {string | null} */ (tokens.get(account));
}

/**
 * The configured component for this config; reconfigured when the section, the
 * environment's key or a key file's content changes. Rejects with a `ChannelError` whose payload lists the config
 * issues when the section is invalid.
 * @returns {Promise<{host: ComponentHost} & Configured>}
 */
export async function channelFor(cfg) {
  const section = sectionOf(cfg);
  const fingerprint = JSON.stringify([
    section,
    process.env[APP_KEY_ENV] ?? null,
    process.env[STATE_ENV] ?? null,
    keyFileStamps(section),
  ]);
  while (configuring) await configuring.catch(() => {});
  if (configured?.fingerprint !== fingerprint) {
    configuring = configure(cfg);
    try {
      configured = { fingerprint, ...(await configuring) };
    } finally {
      configuring = null;
    }
  }
  return { host: componentHost(), .../** @type {Configured} */ (configured) };
}

export { ChannelError, PoolError };

/** Stops the worker (tests; the gateway keeps it for its lifetime). */
export async function shutdown() {
  if (host) await host.close();
  state?.store.close();
  state = null;
  notices = null;
  host = null;
  configured = null;
}
