// The Node host's KV store: the same TTL and compare-and-swap semantics as the Rust host's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteKv, KvError, SWEEP_EVERY_WRITES, MAX_VALUE_BYTES } from "../plugin/src/kv.js";

const bytes = (s) => new TextEncoder().encode(s);
const text = (b) => (b === undefined ? undefined : new TextDecoder().decode(b));

function store(t, opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), "kw-kv-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { path: join(dir, "state.sqlite3"), dir, open: (o = {}) => new SqliteKv(join(dir, "state.sqlite3"), { ...opts, ...o }) };
}

test("values live until their TTL passes on the host clock", (t) => {
  let now = 1_000_000;
  const kv = store(t).open({ now: () => now });
  kv.set("a", bytes("1"), 500n);
  kv.set("b", bytes("2"));
  assert.equal(text(kv.get("a")), "1");
  now += 499;
  assert.equal(text(kv.get("a")), "1");
  now += 1;
  assert.equal(kv.get("a"), undefined, "expired at now + ttl");
  assert.equal(text(kv.get("b")), "2", "no TTL: kept");
  assert.deepEqual(kv.listKeys(""), ["b"], "expired keys are not listed");
});

test("compare-and-swap creates, replaces and deletes only from the expected value", (t) => {
  const kv = store(t).open();
  assert.equal(kv.compareAndSwap("k", undefined, bytes("v1")), true, "create when absent");
  assert.equal(kv.compareAndSwap("k", undefined, bytes("x")), false, "absent expected, present");
  assert.equal(kv.compareAndSwap("k", bytes("other"), bytes("x")), false);
  assert.equal(text(kv.get("k")), "v1");
  assert.equal(kv.compareAndSwap("k", bytes("v1"), bytes("v2")), true);
  assert.equal(kv.compareAndSwap("k", bytes("v2"), undefined), true, "delete");
  assert.equal(kv.get("k"), undefined);
});

test("an expired value counts as absent for compare-and-swap", (t) => {
  let now = 0;
  const kv = store(t).open({ now: () => now });
  kv.set("lease", bytes("old"), 10n);
  now = 10;
  assert.equal(kv.compareAndSwap("lease", bytes("old"), bytes("x")), false);
  assert.equal(kv.compareAndSwap("lease", undefined, bytes("new")), true);
});

test("two connections to one file see one state, and CAS admits one winner", (t) => {
  const s = store(t);
  const a = s.open();
  const b = s.open();
  a.set("shared", bytes("0"));
  assert.equal(text(b.get("shared")), "0");
  // Both read 0, both try to write: exactly one wins.
  const wins = [a, b].map((kv, i) => kv.compareAndSwap("shared", bytes("0"), bytes(`by-${i}`)));
  assert.deepEqual(wins.sort(), [false, true]);
});

test("prefixes keep namespaces apart and list keys in order", (t) => {
  const s = store(t);
  const emu = s.open({ prefix: "emulator/" });
  const real = s.open();
  emu.set("ledger/2", bytes("x"));
  emu.set("ledger/1", bytes("x"));
  emu.set("other", bytes("x"));
  real.set("ledger/9", bytes("x"));
  assert.deepEqual(emu.listKeys("ledger/"), ["ledger/1", "ledger/2"]);
  assert.deepEqual(real.listKeys("ledger/"), ["ledger/9"]);
  assert.deepEqual(real.listKeys("emulator/ledger/"), ["emulator/ledger/1", "emulator/ledger/2"]);
});

test("bad keys and oversized values are typed errors", (t) => {
  const kv = store(t).open();
  assert.throws(() => kv.get(""), (e) => e instanceof KvError && e.payload.tag === "invalid-key");
  assert.throws(() => kv.set("x".repeat(513), bytes("v")), (e) => e.payload.tag === "invalid-key");
  assert.throws(
    () => kv.set("big", new Uint8Array(MAX_VALUE_BYTES + 1)),
    (e) => e.payload.tag === "too-large",
  );
});

test("expired entries are swept as writes go on", (t) => {
  let now = 0;
  const s = store(t);
  const kv = s.open({ now: () => now });
  for (let i = 0; i < 3 * SWEEP_EVERY_WRITES; i++) {
    now += 60_000;
    kv.set(`marker/${i}`, bytes("x"), 600_000n);
  }
  const stored = kv.db.prepare("SELECT count(*) AS n FROM kv").get().n;
  // Live markers: the last ten minutes (10); the sweep leaves at most one round of dead ones.
  assert.ok(stored <= SWEEP_EVERY_WRITES + 11, `${stored} rows stored`);
});

test("the state file and a directory made for it are the owner's only", (t) => {
  const s = store(t);
  const nested = join(s.dir, "kakaowork");
  const kv = new SqliteKv(join(nested, "state.sqlite3"));
  kv.set("k", bytes("v"));
  kv.close();
  const mode = (p) => statSync(p).mode & 0o777;
  assert.equal(mode(nested), 0o700);
  for (const f of readdirSync(nested)) assert.equal(mode(join(nested, f)), 0o600, f);
});
