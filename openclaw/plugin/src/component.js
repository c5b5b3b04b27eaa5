// The component as the main thread sees it: a worker that owns the instance (see worker.js),
// the bridge that answers its HTTP, pairing and (on Redis) KV imports here (Node's network;
// the host's pairing store; the Redis client), and `call`, which resolves with an export's value or rejects with a
// `ChannelError` carrying the WIT error.
import { Worker, MessageChannel } from "node:worker_threads";
import { perform } from "./http.js";

/** An export's error (`channel-error`, or the config issues of `configure`). */
export class ChannelError extends Error {
  constructor(fn, payload) {
    super(describe(payload));
    this.name = "ChannelError";
    this.fn = fn;
    this.payload = payload;
  }
}

/** The guest trapped: a bug in the plugin or the host; the next call gets a new instance. */
export class TrapError extends Error {
  constructor(fn, detail) {
    super(`the plugin trapped in ${fn} (a bug in the plugin or the host): ${detail}`);
    this.name = "TrapError";
  }
}

function describe(p) {
  if (Array.isArray(p)) {
    return p.map((i) => `${i.path}: ${i.message} (fix: ${i.fix})`).join("\n");
  }
  if (!p || typeof p !== "object") return String(p);
  const v = p.val;
  switch (p.tag) {
    case "not-configured":
      return "the KakaoWork channel is not configured";
    case "authentication":
      return `KakaoWork rejected the app key (${v.code}: ${v.message}); check appKey, keyFile or KAKAOWORK_APP_KEY`;
    case "rate-limited":
    case "api":
      return `KakaoWork answered ${v.httpStatus} ${v.code}: ${v.message}`;
    case "deferred":
      return `deferred: try again in ${v} ms`;
    case "timeout":
      return "the request to KakaoWork timed out";
    case "transport":
      return `could not reach KakaoWork: ${v.message}`;
    default:
      return v === undefined ? p.tag : `${p.tag}: ${typeof v === "string" ? v : JSON.stringify(v)}`;
  }
}

export class ComponentHost {
  /**
   * @param {{componentDir: string, state: {kind: "sqlite", path: string, prefix?: string}
   *          | {kind: "redis", store: import("./kv-redis.js").RedisKv}}} opts
   *   where the KV import keeps its entries: a SQLite file the worker opens, or a Redis store
   *   on this thread
   */
  constructor(opts) {
    this.kv = opts.state.kind === "redis" ? opts.state.store : null;
    /** @type {Map<string, {origin: string, key?: string}>} */
    this.endpoints = new Map();
    this.pending = new Map();
    this.nextId = 0;
    const flag = new SharedArrayBuffer(4);
    const signal = new Int32Array(flag);
    const { port1, port2 } = new MessageChannel();
    this.httpPort = port1;
    /**
     * The host's pairing store (`moltbot:channel/pairing`): OpenClaw's, once the gateway sets it.
     * Without one, nobody is approved and no request can be recorded.
     */
    this.pairing = {
      readAllowFrom: async () => [],
      upsertRequest: async () => {
        throw new Error("no pairing store in this process");
      },
    };
    port1.on("message", async ({ id, kind, args }) => {
      const answer = await this.#answer(kind, args);
      port1.postMessage({ id, ...answer });
      Atomics.store(signal, 0, 1);
      Atomics.notify(signal, 0);
    });
    port1.unref();
    this.worker = new Worker(new URL("./worker.js", import.meta.url), {
      workerData: {
        componentDir: opts.componentDir,
        state:
          opts.state.kind === "redis"
            ? { kind: "redis" }
            : { kind: "sqlite", path: opts.state.path, prefix: opts.state.prefix ?? "" },
        flag,
        httpPort: port2,
      },
      transferList: [port2],
    });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("error", reject);
      this.worker.on("message", (m) => {
        if (m.ready) return resolve();
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.#idle();
        if ("ok" in m) p.resolve(m.ok);
        else if (m.trap) p.reject(new TrapError(p.fn, m.trap));
        else p.reject(new ChannelError(p.fn, m.err));
      });
    });
    this.worker.on("error", (e) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    });
    this.worker.unref();
  }

  /** Answers one import call from the worker; never throws. */
  async #answer(kind, args) {
    if (kind === "http") return perform(args[0], this.endpoints);
    if (kind.startsWith("kv.")) return this.#kv(kind.slice(3), args);
    try {
      if (kind === "pairing.readAllowFrom") {
        return { ok: (await this.pairing.readAllowFrom(...args)).map(String) };
      }
      if (kind === "pairing.upsertRequest") {
        const c = await this.pairing.upsertRequest(...args);
        return { ok: c ? { code: c.code, created: Boolean(c.created), reply: c.reply ?? undefined } : undefined };
      }
      return { err: { tag: "other", val: `unknown host call ${kind}` } };
    } catch (e) {
      return { err: { tag: "unavailable", val: String(e?.message ?? e) } };
    }
  }

  async #kv(op, args) {
    if (!this.kv || !["get", "set", "delete", "compareAndSwap", "listKeys"].includes(op)) {
      return { err: { tag: "other", val: `no KV operation ${op} on this thread` } };
    }
    try {
      return { ok: await this.kv[op](...args) };
    } catch (e) {
      return { err: e?.payload ?? { tag: "unavailable", val: String(e?.message ?? e) } };
    }
  }

  // An idle worker must not keep a CLI process alive; a busy one must.
  #idle() {
    if (this.pending.size === 0) this.worker.unref();
  }

  /** Calls an export of the `channel` interface by its JavaScript name (`checkPolicy`, ...). */
  async call(fn, ...args) {
    const id = ++this.nextId;
    // Referenced from the start: a CLI process must not exit while the worker starts up.
    this.worker.ref();
    const answer = new Promise((resolve, reject) => {
      this.pending.set(id, { fn, resolve, reject });
    });
    try {
      await this.ready;
    } catch (e) {
      this.pending.delete(id);
      this.#idle();
      throw e;
    }
    this.worker.postMessage({ id, fn, args });
    return answer;
  }

  async close() {
    this.httpPort.close();
    await this.worker.terminate();
  }
}
