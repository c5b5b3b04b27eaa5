// @ts-check
// The `moltbot:channel/kv` import: SQLite through Node's built-in `node:sqlite`, in the same
// table layout and with the same semantics as the Rust host's store (`host-test/src/runtime/kv.rs`):
// TTLs on absolute wall-clock time, compare-and-swap in an IMMEDIATE transaction so that it is
// atomic across the processes that share the file (the CLI's `message send` and the gateway).
import { DatabaseSync } from "node:sqlite";
import { mkdirSync, openSync, closeSync, chmodSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
/** @import { Error as KvErrorPayload } from "../dist/component/interfaces/moltbot-channel-kv.js" */

export const MAX_KEY_BYTES = 512;
export const MAX_VALUE_BYTES = 1024 * 1024;
// Expired entries are swept once every this many writes, as the Rust host does.
export const SWEEP_EVERY_WRITES = 1024;

const LIVE = "(expires_at IS NULL OR expires_at > ?)";

/** A KV error as the WIT's `kv.error` variant. */
export class KvError extends Error {
  /**
   * @param {KvErrorPayload["tag"]} tag
   * @param {string} [val] absent for `too-large`, the one case without a value
   */
  constructor(tag, val) {
    super(val === undefined ? tag : `${tag}: ${val}`);
    this.payload = /** @type {KvErrorPayload} */ (val === undefined ? { tag } : { tag, val });
  }
}

/** @param {string} key */
export function checkKey(key) {
  if (key.length === 0) throw new KvError("invalid-key", "the key is empty");
  const n = Buffer.byteLength(key, "utf8");
  if (n > MAX_KEY_BYTES) {
    throw new KvError("invalid-key", `the key is ${n} bytes; at most ${MAX_KEY_BYTES}`);
  }
}

/** @param {Uint8Array} v */
export function checkValue(v) {
  if (v.byteLength > MAX_VALUE_BYTES) throw new KvError("too-large");
}

function unavailable(e) {
  return new KvError("unavailable", `SQLite: ${e.message}`);
}

// The schema and pragmas: the repository's spec/sqlite.sql, which the Rust host runs too,
// copied into dist/ by `npm run build` (read on first open, so that importing this module needs
// no build).
/** @type {string | undefined} */
let schema;
export function sqliteSchema() {
  schema ??= readFileSync(new URL("../dist/sqlite.sql", import.meta.url), "utf8");
  return schema;
}

// While another process's last connection closes (its checkpoint removes the WAL file) or
// recovers the WAL, SQLite answers "busy" without waiting: try again, for at most 10 s.
function initSchema(db) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return db.exec(sqliteSchema());
    } catch (e) {
      if (e?.errcode !== 5 || Date.now() > deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

export class SqliteKv {
  /**
   * @param {string} path the database file (created with its directory)
   * @param {{now?: () => number, prefix?: string}} [opts] clock in ms; key prefix (namespace)
   */
  constructor(path, opts = {}) {
    this.now = opts.now ?? Date.now;
    this.prefix = opts.prefix ?? "";
    this.writes = 0;
    try {
      // The file holds the signing key, pairing data and message texts: the owner's only.
      // SQLite gives its -wal and -shm files the database file's mode.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      closeSync(openSync(path, "a", 0o600));
      chmodSync(path, 0o600);
      this.db = new DatabaseSync(path, { timeout: 10_000 });
      initSchema(this.db);
    } catch (e) {
      throw unavailable(e);
    }
    this.stmt = {
      get: this.db.prepare(`SELECT value FROM kv WHERE key = ? AND ${LIVE}`),
      set: this.db.prepare("INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)"),
      del: this.db.prepare("DELETE FROM kv WHERE key = ?"),
      purge: this.db.prepare("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?"),
      list: this.db.prepare(
        `SELECT key FROM kv WHERE substr(key, 1, length(?)) = ? AND ${LIVE} ORDER BY key`,
      ),
    };
  }

  close() {
    this.db.close();
  }

  #expiry(ttlMs) {
    return ttlMs === undefined || ttlMs === null ? null : this.now() + Number(ttlMs);
  }

  #wrote() {
    this.writes += 1;
    if (this.writes % SWEEP_EVERY_WRITES === 0) {
      // A failed sweep is retried at the next round; the write itself succeeded.
      try {
        this.stmt.purge.run(this.now());
      } catch {}
    }
  }

  /**
   * @param {string} key
   * @returns {Uint8Array | undefined}
   */
  get(key) {
    checkKey(key);
    try {
      const row = this.stmt.get.get(this.prefix + key, this.now());
      return row ? new Uint8Array(/** @type {Uint8Array} */ (row.value)) : undefined;
    } catch (e) {
      throw unavailable(e);
    }
  }

  /**
   * @param {string} key
   * @param {Uint8Array} value
   * @param {bigint | number | undefined} [ttlMs]
   */
  set(key, value, ttlMs) {
    checkKey(key);
    checkValue(value);
    try {
      this.stmt.set.run(this.prefix + key, value, this.#expiry(ttlMs));
    } catch (e) {
      throw unavailable(e);
    }
    this.#wrote();
  }

  /** @param {string} key */
  delete(key) {
    checkKey(key);
    try {
      this.stmt.del.run(this.prefix + key);
    } catch (e) {
      throw unavailable(e);
    }
  }

  /**
   * @param {string} key
   * @param {Uint8Array | undefined} expected
   * @param {Uint8Array | undefined} next
   * @param {bigint | number | undefined} [ttlMs]
   * @returns {boolean}
   */
  compareAndSwap(key, expected, next, ttlMs) {
    checkKey(key);
    if (next) checkValue(next);
    const k = this.prefix + key;
    let swapped = false;
    try {
      // IMMEDIATE takes the write lock first: no other connection changes the row between the
      // read and the write.
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const row = this.stmt.get.get(k, this.now());
        const current = row ? new Uint8Array(/** @type {Uint8Array} */ (row.value)) : undefined;
        if (sameBytes(current, expected)) {
          if (next) this.stmt.set.run(k, next, this.#expiry(ttlMs));
          else this.stmt.del.run(k);
          swapped = true;
        }
        this.db.exec("COMMIT");
      } catch (e) {
        this.db.exec("ROLLBACK");
        throw e;
      }
    } catch (e) {
      throw unavailable(e);
    }
    if (swapped) this.#wrote();
    return swapped;
  }

  /**
   * @param {string} prefix
   * @returns {string[]}
   */
  listKeys(prefix) {
    const p = this.prefix + prefix;
    try {
      return this.stmt.list
        .all(p, p, this.now())
        .map((r) => String(r.key).slice(this.prefix.length));
    } catch (e) {
      throw unavailable(e);
    }
  }
}

function sameBytes(a, b) {
  if (a === undefined || a === null) return b === undefined || b === null;
  if (b === undefined || b === null) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}
