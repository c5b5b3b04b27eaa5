// @ts-check
// Durable inbound: what a callback accepted (events for the agent, replies the plugin left to
// the host) is stored in the plugin's state before KakaoWork gets its answer, and is fed to the
// agent from there. KakaoWork never sends a callback twice, so a crash between its answer and
// the agent would otherwise lose the user's message.
//
// Each item is claimed by compare-and-swap with a lease that its process renews while the item
// runs; an item whose lease ran out (its process died) is claimed again by the next drain, in
// this gateway after a restart or in another gateway on the same Redis. A finished item is
// deleted; a failed one waits and is tried again; an item older than `MAX_AGE_MS` is dropped
// with a log line. Replies to an event carry idempotency keys derived from it, so an event run
// again after a crash in the middle posts no reply twice.
import { randomUUID } from "node:crypto";

export const PREFIX = "openclaw-host/inbox/v1/";
/** An item not delivered after this long is dropped (with a log line). */
export const MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** A claim lasts this long unless renewed; a dead process's items wait at most this. */
export const LEASE_MS = 15_000;
/** How often a running item's lease is renewed. */
const RENEW_MS = LEASE_MS / 3;
/** Longest wait between two tries of a failing item. */
const MAX_BACKOFF_MS = 5 * 60 * 1000;

// The component's records carry u64s as BigInt (an event's time): stored as decimal strings.
const enc = (v) =>
  new TextEncoder().encode(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x)));
const dec = (b) => JSON.parse(new TextDecoder().decode(b));

/** The key of one item: the account, then a kind and an id that are unique within it. */
export const itemKey = (account, kind, id) =>
  `${PREFIX}${encodeURIComponent(account)}/${kind}:${encodeURIComponent(id)}`;

export class Inbox {
  /**
   * @param {{kv: {get: Function, compareAndSwap: Function, listKeys: Function},
   *          run: (item: {kind: "event" | "send", account: string, body: any}) => Promise<void>,
   *          log?: {info?: Function, warn?: Function, error?: Function},
   *          now?: () => number, owner?: string}} deps
   *   where items live; what running one means (the agent, a send)
   */
  constructor({ kv, run, log, now = Date.now, owner = randomUUID() }) {
    this.kv = kv;
    this.runItem = run;
    this.log = log;
    this.now = now;
    this.owner = owner;
    /** Keys this process is running now: a drain does not start them twice. */
    this.running = new Set();
    /** Per conversation, the tail of its chain: its items run in the order they came. */
    this.lanes = new Map();
    this.stats = { admitted: 0, delivered: 0, failed: 0, dropped: 0 };
  }

  /**
   * Stores the items of one callback; resolves once all are stored (then KakaoWork may be
   * answered). Rejects when the state cannot be written: the callback must then fail.
   * @returns {Promise<string[]>} their keys
   */
  async admit(account, items) {
    const keys = [];
    for (const { kind, id, lane, body } of items) {
      const key = itemKey(account, kind, id);
      const record = { kind, account, lane, body, acceptedAt: this.now(), attempts: 0 };
      // Already there (the same event accepted twice): the first one stands.
      await this.kv.compareAndSwap(key, undefined, enc(record), MAX_AGE_MS + LEASE_MS);
      keys.push(key);
      this.stats.admitted += 1;
    }
    return keys;
  }

  /**
   * Runs the given items (or every stored item of `account`) that nobody holds.
   * @param {{account?: string, keys?: string[]}} which
   */
  async drain({ account, keys }) {
    // Without keys, an account is given.
    const list = keys ?? (await this.kv.listKeys(`${PREFIX}${encodeURIComponent(/** @type {string} */ (account))}/`));
    const started = [];
    for (const key of list) {
      if (this.running.has(key)) continue;
      const claimed = await this.#claim(key);
      if (!claimed) continue;
      const lane = claimed.record.lane ?? key;
      const tail = this.lanes.get(lane) ?? Promise.resolve();
      // Held from the claim on, also while it waits for its lane.
      const lease = this.#hold(key, claimed);
      const done = tail.then(() => this.#run(key, claimed, lease));
      this.lanes.set(lane, done);
      done.finally(() => {
        if (this.lanes.get(lane) === done) this.lanes.delete(lane);
      });
      started.push(done);
    }
    await Promise.all(started);
  }

  /** Claims `key` for this process, or `null` when it is gone, held, not due, or too old. */
  async #claim(key) {
    const raw = await this.kv.get(key);
    if (!raw) return null;
    let record;
    try {
      record = dec(raw);
    } catch {
      this.log?.error?.(`kakao: the stored inbound item ${key} cannot be read; dropped`);
      await this.kv.compareAndSwap(key, raw, undefined);
      return null;
    }
    const now = this.now();
    if (record.claim && record.claim.until > now) return null;
    if (record.notBefore && record.notBefore > now) return null;
    if (now - record.acceptedAt > MAX_AGE_MS) {
      if (await this.kv.compareAndSwap(key, raw, undefined)) {
        this.stats.dropped += 1;
        this.log?.error?.(
          `kakao: dropped the inbound ${record.kind} ${key} after ${record.attempts} tries in ${Math.round(MAX_AGE_MS / 3600000)} h`,
        );
      }
      return null;
    }
    const claimedRecord = { ...record, claim: { owner: this.owner, until: now + LEASE_MS } };
    const bytes = enc(claimedRecord);
    if (!(await this.kv.compareAndSwap(key, raw, bytes, MAX_AGE_MS + LEASE_MS))) return null;
    this.running.add(key);
    return { record: claimedRecord, bytes };
  }

  /** Renews the claim on `key` until stopped; `current()` is the stored value now. */
  #hold(key, claimed) {
    let current = claimed.bytes;
    let inflight = Promise.resolve();
    const renew = async () => {
      const next = enc({ ...claimed.record, claim: { owner: this.owner, until: this.now() + LEASE_MS } });
      try {
        // A renewal that finds the item changed (it is no longer ours) changes nothing.
        if (await this.kv.compareAndSwap(key, current, next, MAX_AGE_MS + LEASE_MS)) current = next;
      } catch (e) {
        this.log?.warn?.(`kakao: could not renew the claim on ${key}: ${e?.message ?? e}`);
      }
    };
    const timer = setInterval(() => {
      inflight = inflight.then(renew);
    }, RENEW_MS);
    timer.unref();
    return {
      current: () => current,
      // Resolves once no renewal is under way, so that `current` is what is stored.
      stop: () => {
        clearInterval(timer);
        return inflight;
      },
    };
  }

  async #run(key, claimed, lease) {
    try {
      await this.runItem(claimed.record);
      await lease.stop();
      await this.kv.compareAndSwap(key, lease.current(), undefined);
      this.stats.delivered += 1;
    } catch (e) {
      await lease.stop();
      this.stats.failed += 1;
      const attempts = claimed.record.attempts + 1;
      const wait = Math.min(1000 * 2 ** attempts, MAX_BACKOFF_MS);
      this.log?.error?.(
        `kakao: the inbound ${claimed.record.kind} ${key} failed (try ${attempts}); trying again in ${wait} ms: ${e?.message ?? e}`,
      );
      const { claim: _, ...rest } = claimed.record;
      try {
        const next = enc({ ...rest, attempts, notBefore: this.now() + wait });
        await this.kv.compareAndSwap(key, lease.current(), next, MAX_AGE_MS + LEASE_MS);
      } catch {
        // Still claimed: it runs again once the lease is over.
      }
    } finally {
      this.running.delete(key);
    }
  }

  /** Waits until nothing this process started is running (tests; shutdown). */
  async idle() {
    while (this.lanes.size > 0) await Promise.allSettled([...this.lanes.values()]);
  }
}
