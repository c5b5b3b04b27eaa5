// @ts-check
// The `moltbot:channel/kv` import on Redis, in the Rust host's layout (`host-test/src/runtime/kv/redis.rs`),
// so that an OpenClaw gateway and `kakaowork-host --state redis://…` share one rate budget, one set
// of send ledgers and one key-id salt:
// - every key under the namespace `kakaowork-channel/`;
// - a value stored as `<expires_at>\n<bytes>` (ms on this host's clock; 0: never), so expiry
//   follows the host's clock; Redis's own PX only collects an entry an hour after it expired;
// - compare-and-swap as one Lua script run atomically by Redis: the Rust host's own file,
//   copied into `dist/` by `npm run build`, not a second copy written by hand;
// - keys listed with SCAN, never KEYS.
// Node's Redis clients are asynchronous: this store lives on the main thread, and the worker's
// synchronous KV import reaches it the way it reaches HTTP (component.js).
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { KvError, checkKey, checkValue } from "./kv.js";

export const REDIS_NAMESPACE = "kakaowork-channel/";
const COLLECT_AFTER_MS = 3600 * 1000;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const TIMEOUT_MS = 2000;

/** @type {typeof import("@redis/client") | null} */
let clientModule = null;
async function redisClient() {
  try {
    // node-redis, bundled into one file by the build (see scripts/build.js for why); its types
    // are those of the package it was bundled from.
    clientModule ??= /** @type {typeof import("@redis/client")} */ (
      /** @type {unknown} */ (await import("../dist/redis-client.cjs"))
    );
    return clientModule;
  } catch (e) {
    throw new KvError(
      "unavailable",
      `the Redis state needs the plugin's bundled Redis client, dist/redis-client.cjs (${e.message}); run \`npm run build\` in the plugin's package`,
    );
  }
}

/** `value` as stored: `<expires_at>\n<bytes>`. */
export function encode(value, expiresAt) {
  return Buffer.concat([Buffer.from(`${expiresAt ?? 0}\n`), Buffer.from(value)]);
}

/** The stored bytes' value if it is still live at `now`, else undefined. */
export function decode(raw, now) {
  if (!raw) return undefined;
  const nl = raw.indexOf(10);
  if (nl < 0) return undefined;
  // Read as the Rust host reads it (a u64; spec/kv-layout.json): decimal digits, an optional
  // leading +, nothing else.
  const digits = raw.subarray(0, nl).toString("latin1");
  if (!/^\+?[0-9]+$/.test(digits)) return undefined;
  const exp = BigInt(digits);
  if (exp > U64_MAX) return undefined;
  return exp === 0n || exp > BigInt(Math.floor(now)) ? new Uint8Array(raw.subarray(nl + 1)) : undefined;
}

/** `prefix` as a SCAN pattern that matches it literally. */
export function globEscape(prefix) {
  return `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
}

/**
 * Redis's own expiry for an entry: an hour after it expired, counted from `wall` (wall clock);
 * 0 (none) if it never does.
 * @param {number | null | undefined} expiresAt
 */
export function px(expiresAt, wall = Date.now()) {
  if (expiresAt === null || expiresAt === undefined) return 0;
  return Math.max(0, expiresAt - wall) + COLLECT_AFTER_MS;
}

/**
 * Where a Redis URL points, for messages: scheme, host, port and database, never the user or the
 * password (nor anything of a string that does not parse). The Rust host's `shown_url` agrees.
 */
export function shownUrl(url) {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname && u.pathname !== "/" ? u.pathname : "/0"}`;
  } catch {
    return "(a value that is not a URL)";
  }
}

export class RedisKv {
  /**
   * @param {string} url redis://[user:password@]host:port/db, or rediss:// for TLS
   * @param {{now?: () => number, namespace?: string, casScript?: string, ca?: string}} [opts]
   *   `ca`: the PEM file a rediss:// server's certificate is checked against (else the system's CAs)
   */
  constructor(url, opts = {}) {
    if (!/^rediss?:\/\/[^/]/.test(url)) {
      throw new KvError("other", `${shownUrl(url)} is not a Redis URL; use redis://host:port/db, or rediss:// for TLS`);
    }
    this.url = url;
    this.tls = url.startsWith("rediss://");
    this.ca = opts.ca;
    this.shown = shownUrl(url);
    this.now = opts.now ?? Date.now;
    this.namespace = opts.namespace ?? REDIS_NAMESPACE;
    this.script = opts.casScript ?? readFileSync(new URL("../dist/cas.lua", import.meta.url), "utf8");
    this.sha = createHash("sha1").update(this.script).digest("hex");
    this.client = null;
    this.connecting = null;
  }

  #unavailable(e) {
    const why = String(e?.message ?? e);
    // What a TLS mismatch looks like from here, said in the user's terms (as the Rust host does).
    const hint = !this.tls
      ? " If this Redis takes TLS connections only, use a rediss:// URL."
      : /certificate|issuer/i.test(why)
        ? " The server's certificate is not signed by a CA this host trusts: point channels.kakao.stateCa (or KAKAOWORK_STATE_CA) at the CA's PEM file."
        : "";
    return new KvError(
      "unavailable",
      `Redis at ${this.shown} cannot be reached (${why}); nothing was stored. Start Redis or fix channels.kakao.state / KAKAOWORK_STATE.${hint}`,
    );
  }

  /**
   * The socket options: TLS with the configured CA for rediss://.
   * @returns {import("@redis/client").RedisClientOptions["socket"]}
   */
  #socket() {
    const socket = { connectTimeout: TIMEOUT_MS, reconnectStrategy: /** @type {const} */ (false) };
    if (!this.tls) return socket;
    let ca;
    if (this.ca) {
      try {
        ca = readFileSync(this.ca);
      } catch (e) {
        throw new KvError(
          "other",
          `cannot read the Redis CA file ${this.ca}: ${e.message}; point channels.kakao.stateCa (or KAKAOWORK_STATE_CA) at the PEM file of the CA that signed the server's certificate`,
        );
      }
    }
    return { ...socket, tls: true, ...(ca ? { ca } : {}) };
  }

  /** The connected client; a new one after a failure, so that the next call connects again. */
  async #connected() {
    if (this.client?.isReady) return this.client;
    this.connecting ??= (async () => {
      const { createClient, RESP_TYPES } = await redisClient();
      const client = createClient({
        url: this.url,
        // No reconnecting in the background and no queue while disconnected: a call either
        // reaches Redis now or fails now (fail closed), and the next call connects afresh.
        socket: this.#socket(),
        disableOfflineQueue: true,
        commandOptions: { timeout: TIMEOUT_MS, typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } },
      });
      client.on("error", () => {});
      try {
        await client.connect();
      } catch (e) {
        client.destroy?.();
        throw e;
      }
      return client;
    })();
    try {
      this.client = await this.connecting;
      return this.client;
    } finally {
      this.connecting = null;
    }
  }

  async #run(f) {
    let client;
    try {
      client = await this.#connected();
    } catch (e) {
      if (e instanceof KvError) throw e;
      throw this.#unavailable(e);
    }
    try {
      return await f(client);
    } catch (e) {
      if (this.client === client) {
        this.client = null;
        try {
          client.destroy();
        } catch {}
      }
      throw this.#unavailable(e);
    }
  }

  /** @param {string} key the key as stored: under the namespace */
  storedKey(key) {
    return this.namespace + key;
  }

  #expiry(ttlMs) {
    return ttlMs === undefined || ttlMs === null ? null : this.now() + Number(ttlMs);
  }

  // The `kv` import's operations, as SqliteKv's (kv.js), answered asynchronously.

  /**
   * @param {string} key
   * @returns {Promise<Uint8Array | undefined>}
   */
  async get(key) {
    checkKey(key);
    const raw = await this.#run((c) => c.sendCommand(["GET", this.storedKey(key)]));
    return decode(raw, this.now());
  }

  /**
   * @param {string} key
   * @param {Uint8Array} value
   * @param {bigint | number | undefined} [ttlMs]
   */
  async set(key, value, ttlMs) {
    checkKey(key);
    checkValue(value);
    const at = this.#expiry(ttlMs);
    const args = ["SET", this.storedKey(key), encode(value, at)];
    if (at !== null) args.push("PX", String(px(at)));
    await this.#run((c) => c.sendCommand(args));
  }

  /** @param {string} key */
  async delete(key) {
    checkKey(key);
    await this.#run((c) => c.sendCommand(["DEL", this.storedKey(key)]));
  }

  /**
   * @param {string} key
   * @param {Uint8Array | undefined} expected
   * @param {Uint8Array | undefined} next
   * @param {bigint | number | undefined} [ttlMs]
   * @returns {Promise<boolean>}
   */
  async compareAndSwap(key, expected, next, ttlMs) {
    checkKey(key);
    if (next) checkValue(next);
    const at = this.#expiry(ttlMs);
    const argv = [
      String(this.now()),
      expected ? "1" : "0",
      expected ? Buffer.from(expected) : Buffer.alloc(0),
      next ? "1" : "0",
      next ? encode(next, at) : Buffer.alloc(0),
      String(next ? px(at) : 0),
    ];
    const swapped = await this.#run(async (c) => {
      try {
        return await c.sendCommand(["EVALSHA", this.sha, "1", this.storedKey(key), ...argv]);
      } catch (e) {
        if (!String(e?.message).startsWith("NOSCRIPT")) throw e;
        return c.sendCommand(["EVAL", this.script, "1", this.storedKey(key), ...argv]);
      }
    });
    return Number(swapped) === 1;
  }

  /**
   * @param {string} prefix
   * @returns {Promise<string[]>}
   */
  async listKeys(prefix) {
    const pattern = globEscape(this.storedKey(prefix));
    const now = this.now();
    return this.#run(async (c) => {
      const keys = new Set();
      let cursor = "0";
      do {
        const [next, batch] = await c.sendCommand(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"]);
        cursor = next.toString();
        for (const k of batch) keys.add(k.toString("utf8"));
      } while (cursor !== "0");
      const sorted = [...keys].sort();
      const live = [];
      for (let i = 0; i < sorted.length; i += 500) {
        const chunk = sorted.slice(i, i + 500);
        const values = await c.sendCommand(["MGET", ...chunk]);
        chunk.forEach((k, j) => {
          if (decode(values[j], now) !== undefined) live.push(k.slice(this.namespace.length));
        });
      }
      return live;
    });
  }

  close() {
    const c = this.client;
    this.client = null;
    try {
      c?.destroy();
    } catch {}
  }
}
