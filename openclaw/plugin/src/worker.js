// @ts-check
// The component's thread. The guest's imports are synchronous; Node's network and OpenClaw's
// pairing store are not. So the component runs here: its HTTP and pairing imports hand the call
// to the main thread and block this thread only (Atomics.wait) until the answer is back, while
// the gateway's event loop keeps serving. KV on Redis goes the same way (its client is
// asynchronous); KV on SQLite (node:sqlite), the clock and randomness are synchronous and stay
// here.
import { parentPort, workerData, receiveMessageOnPort } from "node:worker_threads";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { SqliteKv } from "./kv.js";
/** @import { ImportObject, Root } from "../dist/component/kakaowork_channel.js" */
/** @import { Error as HttpError } from "../dist/component/interfaces/moltbot-channel-http.js" */
/** @import { Error as KvErrorPayload } from "../dist/component/interfaces/moltbot-channel-kv.js" */
/** @import { Error as PairingError } from "../dist/component/interfaces/moltbot-channel-pairing.js" */

if (!parentPort) throw new Error("worker.js runs in a worker thread (component.js starts it)");
const port = parentPort;
const { componentDir, modules, state, flag, httpPort } = workerData;
const signal = new Int32Array(flag);
let seq = 0;

// Longer than any call may take on the main thread (an HTTP request times out in 30 s).
const HOST_WAIT_MS = 40_000;

/**
 * What an import throws for its WIT error: jco passes `payload` to the guest as the `err` case.
 * @param {HttpError | KvErrorPayload | PairingError} payload
 */
const failure = (payload) => ({ payload });

/**
 * A synchronous call into the main thread: `{ok}` or `{err}` in the WIT's shapes.
 * @param {string} kind
 * @param {unknown[]} args
 */
function hostCall(kind, args) {
  seq += 1;
  const id = seq;
  const deadline = Date.now() + HOST_WAIT_MS;
  httpPort.postMessage({ id, kind, args });
  for (;;) {
    // Cleared before looking, so that an answer posted after the look wakes the wait.
    Atomics.store(signal, 0, 0);
    let m;
    while ((m = receiveMessageOnPort(httpPort))) {
      // An answer to an earlier request that gave up waiting is dropped: it is not this one's.
      if (m.message.id !== id) continue;
      if (m.message.err) throw { payload: m.message.err };
      return m.message.ok;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      /** @type {HttpError} */
      const http = { tag: "transport", val: { message: "the host gave no answer in time", maybeDelivered: true } };
      /** @type {KvErrorPayload | PairingError} */
      const store = { tag: "unavailable", val: "the host gave no answer in time" };
      throw failure(kind === "http" ? http : store);
    }
    Atomics.wait(signal, 0, 0, left);
  }
}

function sendHttp(req) {
  return hostCall("http", [req]);
}

// SQLite here; Redis through the main thread, whose answers are already in the WIT's shapes.
/** @type {Pick<SqliteKv, "get" | "set" | "delete" | "compareAndSwap" | "listKeys">} */
const kv =
  state.kind === "sqlite"
    ? new SqliteKv(state.path, { prefix: state.prefix ?? "" })
    : new Proxy(/** @type {any} */ ({}), { get: (_, op) => (...args) => hostCall(`kv.${String(op)}`, args) });

/**
 * @template T
 * @param {() => T} f
 * @returns {T}
 */
function kvCall(f) {
  try {
    return f();
  } catch (e) {
    if (e && e.payload) throw failure(e.payload);
    /** @type {KvErrorPayload} */
    const other = { tag: "other", val: String(e?.message ?? e) };
    throw failure(other);
  }
}

// The WIT package version (wit/*.wit; the rule is in wit/README.md).
const WIT_VERSION = "0.6.0";

// Under the names jco's declarations give them (versioned), so that the check (tsconfig.json)
// holds each import to its WIT signature.
/** @type {ImportObject} */
const versioned = {
  "moltbot:channel/http@0.6.0": { send: sendHttp },
  "moltbot:channel/pairing@0.6.0": {
    readAllowFrom: (account) => hostCall("pairing.readAllowFrom", [account]),
    upsertRequest: (account, sender) => hostCall("pairing.upsertRequest", [account, sender]),
  },
  "moltbot:channel/kv@0.6.0": {
    get: (key) => kvCall(() => kv.get(key)),
    set: (key, value, ttl) => kvCall(() => kv.set(key, value, ttl)),
    delete: (key) => kvCall(() => kv.delete(key)),
    compareAndSwap: (key, expected, next, ttl) =>
      kvCall(() => kv.compareAndSwap(key, expected, next, ttl)),
    listKeys: (p) => kvCall(() => kv.listKeys(p)),
  },
  "wasi:clocks/wall-clock@0.2.6": {
    now() {
      const ms = Date.now();
      return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
    },
  },
  "wasi:random/random@0.2.6": {
    getRandomU64: () => randomBytes(8).readBigUInt64LE(0),
  },
};
// jco reads the unversioned names; its typings name the versioned ones. Give both.
/** @type {Record<string, object>} */
const imports = { ...versioned };
for (const [k, v] of Object.entries(versioned)) imports[k.slice(0, k.lastIndexOf("@"))] = v;

// Compiled once by the main thread for every worker; compiled here only when not given.
/** @type {Map<string, WebAssembly.Module>} */
const compiled = new Map(modules ?? []);
/** @param {string} name */
function getCoreModule(name) {
  if (!compiled.has(name)) {
    compiled.set(name, new WebAssembly.Module(readFileSync(join(componentDir, name))));
  }
  return /** @type {WebAssembly.Module} */ (compiled.get(name));
}

const { instantiate } = await import(pathToFileURL(join(componentDir, "kakaowork_channel.js")).href);
/** @type {Root["channel"] | null} */
let channel = null;
/** @type {Parameters<Root["channel"]["configure"]> | null} */
let lastConfigure = null;

function instance() {
  if (!channel) {
    /** @type {Root} */
    const inst = instantiate(getCoreModule, imports);
    const fresh = inst.channel ?? inst[`moltbot:channel/channel@${WIT_VERSION}`];
    channel = fresh;
    // A fresh instance after a trap must be configured as the old one was.
    if (lastConfigure) fresh.configure(...lastConfigure);
  }
  return channel;
}

port.on("message", ({ id, fn, args }) => {
  try {
    const value = instance()[fn](...args);
    if (fn === "configure") lastConfigure = args;
    port.postMessage({ id, ok: value });
  } catch (e) {
    if (e && typeof e === "object" && "payload" in e) {
      port.postMessage({ id, err: e.payload });
    } else {
      // A trap leaves the instance unusable: the next call gets a new one.
      channel = null;
      port.postMessage({ id, trap: String(e?.stack ?? e) });
    }
  }
});
port.postMessage({ ready: true });
