// @ts-check
// Approval notices: a user who was given a pairing code is told once when they are approved.
//
// OpenClaw 2026.9.6 runs `openclaw pairing approve <channel> <code> --notify` in a CLI process
// that loads no external channel plugin, so its notify never reaches this one ("Channel kakao
// does not support pairing"). The gateway that issued the code therefore records each
// challenge and watches OpenClaw's allow store; the pairing adapter's notify (called by the
// gateway's own approve method) goes through the same record. The record lives in the
// plugin's state, shared by every process, and is claimed by compare-and-swap for a lease, so
// a user is told once whichever path sees the approval first, and by another process if the
// one that claimed it died. Each account keeps an index of its waiting senders: a sweep reads
// that, never a scan of a store that may hold a whole Redis.

/** The notice; also OpenClaw's pairing `text.message`. */
export const APPROVED_MESSAGE = "✅ Moltbot access approved. You can now talk to the assistant here.";

// OpenClaw drops a pending request after an hour; an approval after that needs a new code.
export const PENDING_TTL_MS = 60 * 60 * 1000;
// After the notice, the record stays this long as "told", so that no other path tells again.
const TOLD_TTL_MS = 24 * 60 * 60 * 1000;
// A notice that fails is tried again at the next sweeps, at most this many times in all.
export const MAX_ATTEMPTS = 5;
export const WATCH_INTERVAL_MS = 2000;
// How long a process that claimed a notice has to send it; past that, another process may
// (it died, or hangs): the send's idempotency key keeps a repeat from posting twice.
export const LEASE_MS = 60_000;
// The most senders one account's index keeps waiting (the oldest go first).
const MAX_INDEXED = 1000;

const PREFIX = "openclaw-host/approval/";
const INDEX = "openclaw-host/approval-index/";
const enc = (v) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b) => JSON.parse(new TextDecoder().decode(b));
const keyOf = (account, sender) => `${PREFIX}${account}/${sender}`;

export class ApprovalNotices {
  /**
   * @param {{kv: import("./kv.js").SqliteKv | import("./kv-redis.js").RedisKv,
   *          readAllowFrom: (account: string) => Promise<unknown[]>,
   *          notify: (account: string, sender: string, since: number) => Promise<unknown>,
   *          log?: {warn?: Function, error?: Function}, now?: () => number}} deps
   */
  constructor({ kv, readAllowFrom, notify, log, now }) {
    this.kv = kv;
    this.readAllowFrom = readAllowFrom;
    this.notify = notify;
    this.log = log;
    this.now = now ?? Date.now;
  }

  /**
   * Changes the account's index of waiting senders (one key, so that a sweep reads it and the
   * records it names, never a scan of the store) by compare-and-swap.
   */
  async #updateIndex(account, change) {
    const key = INDEX + account;
    for (let i = 0; i < 16; i++) {
      const raw = await this.kv.get(key);
      const before = raw ? dec(raw) : [];
      const after = change(before).slice(-MAX_INDEXED);
      if (after.length === before.length && after.every((s, j) => s === before[j])) return;
      const next = after.length ? enc(after) : undefined;
      if (await this.kv.compareAndSwap(key, raw, next, after.length ? PENDING_TTL_MS : undefined)) return;
    }
    throw new Error("the approval index kept changing under this process");
  }

  /** A code was issued to `sender`: tell them when they are approved. */
  async recordChallenge(account, sender) {
    const key = keyOf(account, sender);
    const current = await this.kv.get(key);
    const state = current ? dec(current).state : undefined;
    if (state !== "pending" && state !== "sending") {
      await this.kv.set(key, enc({ state: "pending", attempts: 0, since: this.now() }), PENDING_TTL_MS);
    }
    await this.#updateIndex(account, (list) => [...list.filter((s) => s !== sender), sender]);
  }

  /**
   * Tells `sender` they are approved unless some process already did (or is doing it now). With
   * `force`, a sender who was never challenged here is told too (an explicit `--notify`).
   * @returns {Promise<"told" | "already-told" | "not-pending">}
   */
  async tell(account, sender, { force = false } = {}) {
    const key = keyOf(account, sender);
    const current = await this.kv.get(key);
    const record = current ? dec(current) : null;
    if (record?.state === "told") return "already-told";
    if (record?.state === "sending" && record.until > this.now()) return "already-told";
    if (!record && !force) return "not-pending";
    const { since = this.now(), attempts = 0 } = record ?? {};
    // Claimed for a while: a process that dies holding it leaves it to the next sweep.
    const claimed = enc({ state: "sending", until: this.now() + LEASE_MS, since, attempts });
    if (!(await this.kv.compareAndSwap(key, current, claimed, PENDING_TTL_MS))) return "already-told";
    try {
      // `since` tells one approval from a later one of the same user (idempotency key).
      await this.notify(account, sender, since);
    } catch (e) {
      const tries = attempts + 1;
      if (record && tries < MAX_ATTEMPTS) {
        // Back to pending: the next sweep tries again.
        await this.kv.compareAndSwap(key, claimed, enc({ state: "pending", since, attempts: tries }), PENDING_TTL_MS);
      } else {
        await this.kv.compareAndSwap(key, claimed, enc({ state: "told", gaveUp: true }), TOLD_TTL_MS);
        this.log?.error?.(
          `kakao: could not tell KakaoWork user ${sender} that they were approved: ${e?.message ?? e}`,
        );
      }
      throw e;
    }
    await this.kv.compareAndSwap(key, claimed, enc({ state: "told" }), TOLD_TTL_MS);
    return "told";
  }

  /**
   * One round: every challenged sender of `account` who is now allowed is told, and so is one
   * whose notice a dead process had claimed. Reads the account's index and the records it
   * names, nothing else of the store.
   */
  async sweep(account) {
    const raw = await this.kv.get(INDEX + account);
    if (!raw) return [];
    const now = this.now();
    const due = [];
    const done = new Set();
    for (const sender of dec(raw)) {
      const v = await this.kv.get(keyOf(account, sender));
      const r = v ? dec(v) : null;
      if (!r || r.state === "told") done.add(sender);
      else if (r.state === "pending" || (r.state === "sending" && r.until <= now)) due.push(sender);
    }
    const told = [];
    if (due.length) {
      const allowed = new Set((await this.readAllowFrom(account)).map(String));
      for (const sender of due.filter((s) => allowed.has(s))) {
        try {
          if ((await this.tell(account, sender)) === "told") {
            told.push(sender);
            done.add(sender);
          }
        } catch (e) {
          this.log?.warn?.(`kakao: approval notice to ${sender} failed; trying again: ${e?.message ?? e}`);
        }
      }
    }
    if (done.size) await this.#updateIndex(account, (list) => list.filter((s) => !done.has(s)));
    return told;
  }

  /** Sweeps `account` every `intervalMs` until `signal` aborts. */
  watch(account, signal, intervalMs = WATCH_INTERVAL_MS) {
    let running = false;
    const timer = setInterval(async () => {
      if (running) return;
      running = true;
      try {
        await this.sweep(account);
      } catch (e) {
        this.log?.warn?.(`kakao: checking OpenClaw's pairing approvals failed: ${e?.message ?? e}`);
      } finally {
        running = false;
      }
    }, intervalMs);
    signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  }
}
