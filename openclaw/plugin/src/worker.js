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

const { componentDir, modules, state, flag, httpPort } = workerData;
const signal = new Int32Array(flag);
let seq = 0;

// Longer than any call may take on the main thread (an HTTP request times out in 30 s).
const HOST_WAIT_MS = 40_000;

/** A synchronous call into the main thread: `{ok}` or `{err}` in the WIT's shapes. */
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
      throw {
        payload: {
          tag: kind === "http" ? "transport" : "unavailable",
          val:
            kind === "http"
              ? { message: "the host gave no answer in time", maybeDelivered: true }
              : "the host gave no answer in time",
        },
      };
    }
    Atomics.wait(signal, 0, 0, left);
  }
}

function sendHttp(req) {
  return hostCall("http", [req]);
}

// SQLite here; Redis through the main thread, whose answers are already in the WIT's shapes.
const kv =
  state.kind === "sqlite"
    ? new SqliteKv(state.path, { prefix: state.prefix ?? "" })
    : new Proxy({}, { get: (_, op) => (...args) => hostCall(`kv.${op}`, args) });

function kvCall(f) {
  try {
    return f();
  } catch (e) {
    if (e && e.payload) throw { payload: e.payload };
    throw { payload: { tag: "other", val: String(e?.message ?? e) } };
  }
}

const imports = {
  "moltbot:channel/http": { send: sendHttp },
  "moltbot:channel/pairing": {
    readAllowFrom: (account) => hostCall("pairing.readAllowFrom", [account]),
    upsertRequest: (account, sender) => hostCall("pairing.upsertRequest", [account, sender]),
  },
  "moltbot:channel/kv": {
    get: (key) => kvCall(() => kv.get(key)),
    set: (key, value, ttl) => kvCall(() => kv.set(key, value, ttl)),
    delete: (key) => kvCall(() => kv.delete(key)),
    compareAndSwap: (key, expected, next, ttl) =>
      kvCall(() => kv.compareAndSwap(key, expected, next, ttl)),
    listKeys: (p) => kvCall(() => kv.listKeys(p)),
  },
  "wasi:clocks/wall-clock": {
    now() {
      const ms = Date.now();
      return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
    },
    resolution: () => ({ seconds: 0n, nanoseconds: 1_000_000 }),
  },
  "wasi:random/random": {
    getRandomBytes: (len) => new Uint8Array(randomBytes(Number(len))),
    getRandomU64: () => randomBytes(8).readBigUInt64LE(0),
  },
};
// The WIT package version (wit/*.wit; the rule is in wit/README.md).
const WIT_VERSION = "0.6.0";
// jco reads the unversioned names; its typings name the versioned ones. Give both.
for (const [k, v] of Object.entries({ ...imports })) {
  if (k.startsWith("moltbot:")) imports[`${k}@${WIT_VERSION}`] = v;
  else imports[`${k}@0.2.6`] = v;
}

// Compiled once by the main thread for every worker; compiled here only when not given.
const compiled = new Map(modules ?? []);
function getCoreModule(name) {
  if (!compiled.has(name)) {
    compiled.set(name, new WebAssembly.Module(readFileSync(join(componentDir, name))));
  }
  return compiled.get(name);
}

const { instantiate } = await import(pathToFileURL(join(componentDir, "kakaowork_channel.js")).href);
let channel = null;
let lastConfigure = null;

function instance() {
  if (!channel) {
    const inst = instantiate(getCoreModule, imports);
    channel = inst.channel ?? inst[`moltbot:channel/channel@${WIT_VERSION}`];
    // A fresh instance after a trap must be configured as the old one was.
    if (lastConfigure) channel.configure(...lastConfigure);
  }
  return channel;
}

parentPort.on("message", ({ id, fn, args }) => {
  try {
    const value = instance()[fn](...args);
    if (fn === "configure") lastConfigure = args;
    parentPort.postMessage({ id, ok: value });
  } catch (e) {
    if (e && typeof e === "object" && "payload" in e) {
      parentPort.postMessage({ id, err: e.payload });
    } else {
      // A trap leaves the instance unusable: the next call gets a new one.
      channel = null;
      parentPort.postMessage({ id, trap: String(e?.stack ?? e) });
    }
  }
});
parentPort.postMessage({ ready: true });
