// Approval notices: a user who was given a pairing code is told once when they are approved.
//
// OpenClaw 2026.9.6 runs `openclaw pairing approve <channel> <code> --notify` in a CLI process
// that loads no external channel plugin, so its notify never reaches this one ("Channel kakao
// does not support pairing"). The gateway that issued the code therefore records each
// challenge and watches OpenClaw's allow store; the pairing adapter's notify (called by the
// gateway's own approve method) goes through the same record. The record lives in the
// plugin's SQLite file, shared by every process, and is claimed by compare-and-swap, so a
// user is told once whichever path sees the approval first.

/** The notice; also OpenClaw's pairing `text.message`. */
export const APPROVED_MESSAGE = "✅ Moltbot access approved. You can now talk to the assistant here.";

// OpenClaw drops a pending request after an hour; an approval after that needs a new code.
export const PENDING_TTL_MS = 60 * 60 * 1000;
// After the notice, the record stays this long as "told", so that no other path tells again.
const TOLD_TTL_MS = 24 * 60 * 60 * 1000;
// A notice that fails is tried again at the next sweeps, at most this many times in all.
export const MAX_ATTEMPTS = 5;
export const WATCH_INTERVAL_MS = 2000;

const PREFIX = "openclaw-host/approval/";
const enc = (v) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b) => JSON.parse(new TextDecoder().decode(b));
const keyOf = (account, sender) => `${PREFIX}${account}/${sender}`;

export class ApprovalNotices {
  /**
   * @param {{kv: import("./kv.js").SqliteKv | import("./kv-redis.js").RedisKv,
   *          readAllowFrom: (account: string) => Promise<string[]>,
   *          notify: (account: string, sender: string, since: number) => Promise<void>,
   *          log?: {warn?: Function, error?: Function}}} deps
   */
  constructor({ kv, readAllowFrom, notify, log }) {
    this.kv = kv;
    this.readAllowFrom = readAllowFrom;
    this.notify = notify;
    this.log = log;
  }

  /** A code was issued to `sender`: tell them when they are approved. */
  async recordChallenge(account, sender) {
    const key = keyOf(account, sender);
    const current = await this.kv.get(key);
    if (current && dec(current).state === "pending") return;
    await this.kv.set(key, enc({ state: "pending", attempts: 0, since: Date.now() }), PENDING_TTL_MS);
  }

  /**
   * Tells `sender` they are approved unless some process already did. With `force`, a sender
   * who was never challenged here is told too (an explicit `--notify`).
   * @returns {Promise<"told" | "already-told" | "not-pending">}
   */
  async tell(account, sender, { force = false } = {}) {
    const key = keyOf(account, sender);
    const current = await this.kv.get(key);
    const record = current ? dec(current) : null;
    if (record?.state === "told") return "already-told";
    if (!record && !force) return "not-pending";
    const told = enc({ state: "told" });
    if (!(await this.kv.compareAndSwap(key, current, told, TOLD_TTL_MS))) return "already-told";
    try {
      // `since` tells one approval from a later one of the same user (idempotency key).
      await this.notify(account, sender, record?.since ?? Date.now());
      return "told";
    } catch (e) {
      const attempts = (record?.attempts ?? 0) + 1;
      if (record && attempts < MAX_ATTEMPTS) {
        // Back to pending: the next sweep tries again.
        await this.kv.compareAndSwap(key, told, enc({ ...record, attempts }), PENDING_TTL_MS);
      } else {
        this.log?.error?.(
          `kakao: could not tell KakaoWork user ${sender} that they were approved: ${e?.message ?? e}`,
        );
      }
      throw e;
    }
  }

  /** One round: every challenged sender of `account` who is now allowed is told. */
  async sweep(account) {
    const prefix = `${PREFIX}${account}/`;
    const pending = [];
    for (const k of await this.kv.listKeys(prefix)) {
      const v = await this.kv.get(k);
      if (v && dec(v).state === "pending") pending.push(k.slice(prefix.length));
    }
    if (pending.length === 0) return [];
    const allowed = new Set((await this.readAllowFrom(account)).map(String));
    const told = [];
    for (const sender of pending.filter((s) => allowed.has(s))) {
      try {
        if ((await this.tell(account, sender)) === "told") told.push(sender);
      } catch (e) {
        this.log?.warn?.(`kakao: approval notice to ${sender} failed; trying again: ${e?.message ?? e}`);
      }
    }
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
