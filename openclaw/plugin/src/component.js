// @ts-check
// The component as the main thread sees it: a pool of workers, each owning one instance (see
// worker.js), so that a call waiting on KakaoWork in one never holds a callback in another; the
// bridge that answers their HTTP, pairing and (on Redis) KV imports here (Node's network; the
// host's pairing store; the Redis client); and `call`, which resolves with an export's value or
// rejects with a `ChannelError` carrying the WIT error (or a `PoolError` of the host's own).
import { Worker, MessageChannel } from "node:worker_threads";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { perform } from "./http.js";
/** @import { Answer } from "./http.js" */
/** @import { ChannelError as WitChannelError, ConfigIssue } from "../dist/component/interfaces/moltbot-channel-channel.js" */
/** @import { Error as KvErrorPayload } from "../dist/component/interfaces/moltbot-channel-kv.js" */
/** @import { Error as PairingError, Challenge } from "../dist/component/interfaces/moltbot-channel-pairing.js" */
/**
 * The `channel` exports as jco generates them from the WIT: what `call` takes and resolves with.
 * @typedef {typeof import("../dist/component/interfaces/moltbot-channel-channel.js")} Channel
 */

/** Instances when `channels.kakao.workers` does not say (the Rust host's `serve` has 4 too). */
export const DEFAULT_WORKERS = 4;
/** Calls waiting for an instance, beyond which a call is refused at once (`busy`). */
export const DEFAULT_QUEUE_LIMIT = 64;
/**
 * Longest a call may hold an instance: longer than any one import takes (an HTTP request times
 * out in 30 s, the worker's wait for an import in 40 s). A call past it fails, and its worker is
 * replaced, so that its late answer cannot settle anything.
 */
export const DEFAULT_CALL_DEADLINE_MS = 45_000;
/** Longest a callback waits for a free instance before KakaoWork is told to try again. */
export const DEFAULT_URGENT_WAIT_MS = 3_000;

/** An export's error (`channel-error`, or the config issues of `configure`). */
export class ChannelError extends Error {
  /**
   * @param {string} fn
   * @param {WitChannelError | ConfigIssue[]} payload
   */
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

/** @param {WitChannelError | ConfigIssue[]} p */
function describe(p) {
  if (Array.isArray(p)) {
    return p.map((i) => `${i.path}: ${i.message} (fix: ${i.fix})`).join("\n");
  }
  if (!p || typeof p !== "object") return String(p);
  switch (p.tag) {
    case "not-configured":
      return "the KakaoWork channel is not configured";
    case "authentication":
      return `KakaoWork rejected the app key (${p.val.code}: ${p.val.message}); check appKey, keyFile or KAKAOWORK_APP_KEY`;
    case "rate-limited":
    case "api":
      return `KakaoWork answered ${p.val.httpStatus} ${p.val.code}: ${p.val.message}`;
    case "deferred":
      return `deferred: try again in ${p.val} ms`;
    case "timeout":
      return "the request to KakaoWork timed out";
    case "transport":
      return `could not reach KakaoWork: ${p.val.message}`;
    default: {
      // Also a case this host does not know yet (a newer guest), with or without a value.
      const v = /** @type {unknown} */ (p.val);
      return v === undefined ? p.tag : `${p.tag}: ${typeof v === "string" ? v : JSON.stringify(v)}`;
    }
  }
}

/** The host's own refusal or failure of a call: the pool is full, a worker died, a deadline. */
export class PoolError extends Error {
  /** @param {"busy" | "worker-died" | "deadline" | "closed"} kind */
  constructor(kind, message) {
    super(message);
    this.name = "PoolError";
    this.kind = kind;
  }
}

/**
 * A pool of component instances, one per worker thread, started as calls need them (a CLI
 * command starts one). Calls wait in a bounded queue (callbacks first); a full queue refuses
 * at once. Every call has a deadline; a worker that dies, traps fatally or passes a deadline is
 * replaced, and the call it held fails with a `PoolError`. The last successful `configure` is
 * replayed into every new worker before its first call.
 */
export class ComponentHost {
  /**
   * @param {{componentDir: string, state: {kind: "sqlite", path: string, prefix?: string}
   *          | {kind: "redis", store: import("./kv-redis.js").RedisKv},
   *          workers?: number, queueLimit?: number, callDeadlineMs?: number,
   *          urgentWaitMs?: number}} opts
   *   where the KV import keeps its entries: a SQLite file each worker opens, or a Redis store
   *   on this thread; how many instances; how many calls may wait; how long one may run
   */
  constructor(opts) {
    this.componentDir = opts.componentDir;
    this.state = opts.state;
    this.kv = opts.state.kind === "redis" ? opts.state.store : null;
    this.size = opts.workers ?? DEFAULT_WORKERS;
    this.queueLimit = opts.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    this.callDeadlineMs = opts.callDeadlineMs ?? DEFAULT_CALL_DEADLINE_MS;
    this.urgentWaitMs = opts.urgentWaitMs ?? DEFAULT_URGENT_WAIT_MS;
    /** @type {Map<string, {origin: string, key?: string}>} */
    this.endpoints = new Map();
    /**
     * The host's pairing store (`moltbot:channel/pairing`): OpenClaw's, once the gateway sets it.
     * Without one, nobody is approved and no request can be recorded.
     */
    /**
     * @type {{readAllowFrom: (account: string) => Promise<unknown[]>,
     *         upsertRequest: (account: string, sender: string) =>
     *           Promise<{code: string, created?: boolean, reply?: string | null} | null | undefined>}}
     */
    this.pairing = {
      readAllowFrom: async () => [],
      upsertRequest: async () => {
        throw new Error("no pairing store in this process");
      },
    };
    /** What happened so far, for status and tests; `takenFor` counts the calls by function. */
    /** @type {{taken: number, takenFor: Record<string, number>, refused: number, replaced: number, started: number}} */
    this.stats = { taken: 0, takenFor: {}, refused: 0, replaced: 0, started: 0 };
    /** @type {Slot[]} */
    this.slots = [];
    /** @type {Task[]} */
    this.urgent = [];
    /** @type {Task[]} */
    this.normal = [];
    /** @type {unknown[] | null} */
    this.configureArgs = null;
    this.generation = 0;
    this.closed = false;
    /** @type {Promise<Map<string, WebAssembly.Module>> | null} */
    this.modules = null;
  }

  /** Resizes the pool (a config reload); extra idle workers stop, busy ones finish first. */
  resize(workers) {
    this.size = workers ?? DEFAULT_WORKERS;
    for (const slot of this.slots.filter((s) => !s.task && s.ready).slice(this.size)) this.#retire(slot);
  }

  /** The core modules, compiled once for every worker (off the event loop). */
  #compiled() {
    if (!this.modules) {
      const names = readdirSync(this.componentDir).filter((f) => f.endsWith(".wasm"));
      this.modules = Promise.all(
        names.map(async (n) => /** @type {const} */ ([n, await WebAssembly.compile(readFileSync(join(this.componentDir, n)))])),
      ).then((pairs) => new Map(pairs));
      this.modules.catch(() => {
        this.modules = null;
      });
    }
    return this.modules;
  }

  #spawn() {
    const flag = new SharedArrayBuffer(4);
    const signal = new Int32Array(flag);
    const { port1, port2 } = new MessageChannel();
    /** @type {Slot} */
    const slot = { task: null, ready: false, generation: -1, port: port1, worker: null, dead: false };
    this.slots.push(slot);
    this.stats.started += 1;
    port1.on("message", async ({ id, kind, args }) => {
      const answer = await this.#answer(kind, args);
      if (slot.dead) return;
      port1.postMessage({ id, ...answer });
      Atomics.store(signal, 0, 1);
      Atomics.notify(signal, 0);
    });
    port1.unref();
    // Nothing else holds a CLI process open while the component compiles.
    const keepAlive = setInterval(() => {}, 1 << 30);
    this.#compiled().then(
      (modules) => {
        clearInterval(keepAlive);
        if (slot.dead) return;
        slot.worker = new Worker(new URL("./worker.js", import.meta.url), {
          workerData: {
            componentDir: this.componentDir,
            modules,
            state:
              this.state.kind === "redis"
                ? { kind: "redis" }
                : { kind: "sqlite", path: this.state.path, prefix: this.state.prefix ?? "" },
            flag,
            httpPort: port2,
          },
          transferList: [port2],
        });
        slot.worker.on("message", (m) => this.#onMessage(slot, m));
        // Whatever the worker threw, an Error or not.
        slot.worker.on("error", (/** @type {any} */ e) => this.#died(slot, `it failed: ${e?.message ?? e}`));
        slot.worker.on("exit", (code) => this.#died(slot, `it exited with code ${code}`));
      },
      (e) => {
        clearInterval(keepAlive);
        // The component cannot be compiled: every waiting call learns why.
        this.#remove(slot);
        for (const t of [...this.urgent.splice(0), ...this.normal.splice(0)]) t.reject(e);
      },
    );
    return slot;
  }

  #onMessage(slot, m) {
    if (m.ready) {
      slot.ready = true;
      this.#pump();
      if (!slot.task) slot.worker.unref();
      return;
    }
    const task = slot.task;
    if (!task || task.id !== m.id) return; // a call that already failed (deadline): dropped
    this.#finish(slot);
    if (task.fn === "configure" && "ok" in m) {
      // Every other worker takes it before its next call.
      this.configureArgs = task.args;
      this.generation += 1;
      slot.generation = this.generation;
    }
    if ("ok" in m) task.resolve(m.ok);
    else if (m.trap) task.reject(new TrapError(task.fn, m.trap));
    else task.reject(new ChannelError(task.fn, m.err));
    this.#pump();
  }

  #finish(slot) {
    clearTimeout(slot.timer);
    slot.task = null;
    slot.worker?.unref();
  }

  #remove(slot) {
    slot.dead = true;
    clearTimeout(slot.timer);
    slot.port.close();
    this.slots = this.slots.filter((s) => s !== slot);
  }

  #retire(slot) {
    this.#remove(slot);
    slot.worker?.terminate().catch(() => {});
  }

  /** A worker is gone: the call it held fails; a new worker takes the queue. */
  #died(slot, why) {
    if (slot.dead) return;
    const task = slot.task;
    this.#remove(slot);
    if (this.closed) {
      task?.reject(new PoolError("closed", "the KakaoWork plugin was shut down"));
      return;
    }
    if (!slot.ready) {
      // It never started (the component cannot be instantiated): starting another would fail
      // the same way, so the waiting calls learn why instead.
      const e = new PoolError("worker-died", `the KakaoWork plugin's worker could not start (${why})`);
      for (const t of [...this.urgent.splice(0), ...this.normal.splice(0)]) {
        clearTimeout(t.expiry);
        t.reject(e);
      }
      return;
    }
    this.stats.replaced += 1;
    task?.reject(
      new PoolError(
        "worker-died",
        `the KakaoWork plugin's worker stopped during \`${task.fn}\` (${why}); it was replaced, try again`,
      ),
    );
    this.#pump();
  }

  /** Gives waiting calls to idle workers, starting workers while the pool has room. */
  #pump() {
    while (this.urgent.length + this.normal.length > 0) {
      const slot = this.slots.find((s) => s.ready && !s.task && !s.dead);
      if (!slot) {
        const starting = this.slots.filter((s) => !s.ready).length;
        const waiting = this.urgent.length + this.normal.length;
        if (this.slots.length < this.size && starting < waiting) {
          this.#spawn();
          continue;
        }
        return;
      }
      // The loop's condition: one of the queues holds a call.
      const task = /** @type {Task} */ (this.urgent.shift() ?? this.normal.shift());
      clearTimeout(task.expiry);
      this.#run(slot, task);
    }
  }

  #run(slot, task) {
    // A worker configured before the last `configure` (or never) is brought up to date first;
    // the call's own `configure` needs no replay.
    const replay =
      this.configureArgs && slot.generation !== this.generation && task.fn !== "configure"
        ? this.configureArgs
        : null;
    slot.task = task;
    this.stats.taken += 1;
    this.stats.takenFor[task.fn] = (this.stats.takenFor[task.fn] ?? 0) + 1;
    slot.worker.ref();
    slot.timer = setTimeout(() => {
      if (slot.task !== task) return;
      task.reject(
        new PoolError(
          "deadline",
          `the KakaoWork plugin did not finish \`${task.fn}\` in ${this.callDeadlineMs} ms; its worker was replaced`,
        ),
      );
      slot.task = null;
      this.stats.replaced += 1;
      this.#retire(slot);
      this.#pump();
    }, this.callDeadlineMs);
    if (replay) {
      slot.generation = this.generation;
      slot.worker.postMessage({ id: `${task.id}:configure`, fn: "configure", args: replay, silent: true });
    }
    slot.worker.postMessage({ id: task.id, fn: task.fn, args: task.args });
  }

  /**
   * Answers one import call from a worker; never throws.
   * @param {string} kind
   * @param {any[]} args as the guest passed them
   * @returns {Promise<Answer<unknown, unknown>>}
   */
  async #answer(kind, args) {
    if (kind === "http") return perform(args[0], this.endpoints);
    if (kind.startsWith("kv.")) return this.#kv(kind.slice(3), args);
    return this.#pairing(kind, args);
  }

  /**
   * @param {string} kind
   * @param {any[]} args
   * @returns {Promise<Answer<string[] | Challenge | undefined, PairingError>>}
   */
  async #pairing(kind, args) {
    try {
      if (kind === "pairing.readAllowFrom") {
        return { ok: (await this.pairing.readAllowFrom(args[0])).map(String) };
      }
      if (kind === "pairing.upsertRequest") {
        const c = await this.pairing.upsertRequest(args[0], args[1]);
        return { ok: c ? { code: c.code, created: Boolean(c.created), reply: c.reply ?? undefined } : undefined };
      }
      return { err: { tag: "other", val: `unknown host call ${kind}` } };
    } catch (e) {
      return { err: { tag: "unavailable", val: String(e?.message ?? e) } };
    }
  }

  /**
   * @param {string} op
   * @param {any[]} args
   * @returns {Promise<Answer<unknown, KvErrorPayload>>}
   */
  async #kv(op, args) {
    if (!this.kv || !["get", "set", "delete", "compareAndSwap", "listKeys"].includes(op)) {
      return { err: { tag: "other", val: `no KV operation ${op} on this thread` } };
    }
    try {
      return { ok: await /** @type {any} */ (this.kv)[op](...args) };
    } catch (e) {
      return { err: e?.payload ?? { tag: "unavailable", val: String(e?.message ?? e) } };
    }
  }

  /**
   * @param {string} fn
   * @param {unknown[]} args
   * @param {boolean} urgent
   * @returns {Promise<any>}
   */
  #enqueue(fn, args, urgent) {
    if (this.closed) return Promise.reject(new PoolError("closed", "the KakaoWork plugin was shut down"));
    const waiting = this.urgent.length + this.normal.length;
    const room = this.slots.length < this.size || this.slots.some((s) => s.ready && !s.task && !s.dead);
    const limit = urgent ? this.queueLimit : this.queueLimit * 16;
    if (!room && (urgent ? this.urgent.length : waiting) >= limit) {
      this.stats.refused += 1;
      return Promise.reject(
        new PoolError(
          "busy",
          `the KakaoWork plugin is busy: ${this.slots.length} instances at work and ${waiting} calls waiting`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      /** @type {Task} */
      const task = { id: ++taskIds, fn, args, resolve, reject };
      if (urgent) {
        // KakaoWork waits only briefly for a callback's answer: past that, a quick refusal.
        task.expiry = setTimeout(() => {
          const i = this.urgent.indexOf(task);
          if (i < 0) return;
          this.urgent.splice(i, 1);
          this.stats.refused += 1;
          reject(new PoolError("busy", `the KakaoWork plugin is busy: no instance was free in ${this.urgentWaitMs} ms`));
        }, this.urgentWaitMs);
      }
      (urgent ? this.urgent : this.normal).push(task);
      this.#pump();
    });
  }

  /**
   * Calls an export of the `channel` interface by its JavaScript name (`checkPolicy`, ...).
   * @template {keyof Channel} F
   * @param {F} fn
   * @param {Parameters<Channel[F]>} args
   * @returns {Promise<ReturnType<Channel[F]>>}
   */
  call(fn, ...args) {
    return this.#enqueue(fn, args, false);
  }

  /**
   * As `call`, ahead of every other waiting call: KakaoWork waits for a callback's answer.
   * @template {keyof Channel} F
   * @param {F} fn
   * @param {Parameters<Channel[F]>} args
   * @returns {Promise<ReturnType<Channel[F]>>}
   */
  callUrgent(fn, ...args) {
    return this.#enqueue(fn, args, true);
  }

  async close() {
    this.closed = true;
    for (const t of [...this.urgent.splice(0), ...this.normal.splice(0)]) {
      clearTimeout(t.expiry);
      t.reject(new PoolError("closed", "the KakaoWork plugin was shut down"));
    }
    const slots = [...this.slots];
    for (const s of slots) {
      s.task?.reject(new PoolError("closed", "the KakaoWork plugin was shut down"));
      s.task = null;
      this.#remove(s);
    }
    await Promise.all(slots.map((s) => s.worker?.terminate()));
  }
}

let taskIds = 0;

/**
 * A call waiting for, or held by, an instance.
 * @typedef {{id: number, fn: string, args: unknown[], resolve: (value: any) => void,
 *            reject: (reason: unknown) => void, expiry?: NodeJS.Timeout}} Task
 */
/**
 * A worker and the call it holds.
 * @typedef {{task: Task | null, ready: boolean, generation: number,
 *            port: import("node:worker_threads").MessagePort,
 *            worker: import("node:worker_threads").Worker | null, dead: boolean,
 *            timer?: NodeJS.Timeout}} Slot
 */
