// The Node host's KV stores (SQLite, Redis): the same TTL and compare-and-swap semantics as the
// Rust host's, and on Redis the same stored form.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { before } from "node:test";
import { SqliteKv, KvError, SWEEP_EVERY_WRITES, MAX_VALUE_BYTES } from "../plugin/src/kv.js";
import { RedisKv } from "../plugin/src/kv-redis.js";
import { fileScope, startRedis, REPO } from "./helpers.js";

// The Rust host's script, read where it lives (the build copies it into dist/ for the plugin).
const CAS = readFileSync(join(REPO, "host-test", "src", "runtime", "kv", "cas.lua"), "utf8");

const bytes = (s) => new TextEncoder().encode(s);
const text = (b) => (b === undefined ? undefined : new TextDecoder().decode(b));

function store(t, opts = {}) {
  const dir = mkdtempSync(join(tmpdir(), "kw-kv-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { path: join(dir, "state.sqlite3"), dir, open: (o = {}) => new SqliteKv(join(dir, "state.sqlite3"), { ...opts, ...o }) };
}

// One contract, three backends: every test below runs on SQLite, on Redis, and on Redis over
// TLS with a password, alike.
const scope = fileScope();
const TLS_PASSWORD = "contract-pw-0123";
let redis = null;
let redisTls = null;
let nsSeq = 0;
before(async () => {
  redis = await startRedis(scope);
  redisTls = await startRedis(scope, { password: TLS_PASSWORD, tls: true });
});

const backends = {
  SQLite: (t) => {
    const s = store(t);
    return (o = {}) => new SqliteKv(s.path, { now: o.now, prefix: o.ns ?? "" });
  },
  Redis: () => {
    // A namespace per test: one server serves the whole file.
    const base = `kakaowork-channel/t${++nsSeq}/`;
    return (o = {}) => {
      const kv = new RedisKv(redis.url, { now: o.now, namespace: base + (o.ns ?? ""), casScript: CAS });
      scope.after(() => kv.close());
      return kv;
    };
  },
  "Redis over TLS": () => {
    const base = `kakaowork-channel/t${++nsSeq}/`;
    return (o = {}) => {
      const kv = new RedisKv(redisTls.url, { now: o.now, namespace: base + (o.ns ?? ""), casScript: CAS, ca: redisTls.ca });
      scope.after(() => kv.close());
      return kv;
    };
  },
};

test("Redis over TLS: a plain redis:// URL to its port, another CA and a missing CA file each say what to do", async (t) => {
  const { makeCerts, tempDir } = await import("./helpers.js");
  const failure = async (kv) => {
    t.after(() => kv.close());
    try {
      await kv.get("k");
    } catch (e) {
      assert.ok(e instanceof KvError);
      assert.ok(!e.message.includes(TLS_PASSWORD), e.message);
      return e.message;
    }
    assert.fail("the call succeeded");
  };
  const plain = await failure(new RedisKv(redisTls.url.replace("rediss://", "redis://"), { casScript: CAS }));
  assert.match(plain, /use a rediss:\/\/ URL/);
  const other = makeCerts(tempDir(t, "other-ca"), "other");
  const wrongCa = await failure(new RedisKv(redisTls.url, { casScript: CAS, ca: other.ca }));
  assert.match(wrongCa, /certificate/);
  assert.match(wrongCa, /stateCa/);
  const missing = await failure(new RedisKv(redisTls.url, { casScript: CAS, ca: "/nonexistent/ca.pem" }));
  assert.match(missing, /CA file/);
});

for (const [name, backend] of Object.entries(backends)) {
  test(`${name}: values live until their TTL passes on the host clock`, async (t) => {
    let now = 1_000_000;
    const kv = backend(t)({ now: () => now });
    await kv.set("a", bytes("1"), 500n);
    await kv.set("b", bytes("2"));
    assert.equal(text(await kv.get("a")), "1");
    now += 499;
    assert.equal(text(await kv.get("a")), "1");
    now += 1;
    assert.equal(await kv.get("a"), undefined, "expired at now + ttl");
    assert.equal(text(await kv.get("b")), "2", "no TTL: kept");
    assert.deepEqual(await kv.listKeys(""), ["b"], "expired keys are not listed");
  });

  test(`${name}: compare-and-swap creates, replaces and deletes only from the expected value`, async (t) => {
    const kv = backend(t)();
    assert.equal(await kv.compareAndSwap("k", undefined, bytes("v1")), true, "create when absent");
    assert.equal(await kv.compareAndSwap("k", undefined, bytes("x")), false, "absent expected, present");
    assert.equal(await kv.compareAndSwap("k", bytes("other"), bytes("x")), false);
    assert.equal(text(await kv.get("k")), "v1");
    assert.equal(await kv.compareAndSwap("k", bytes("v1"), bytes("v2")), true);
    assert.equal(await kv.compareAndSwap("k", bytes("v2"), undefined), true, "delete");
    assert.equal(await kv.get("k"), undefined);
  });

  test(`${name}: an expired value counts as absent for compare-and-swap`, async (t) => {
    let now = 0;
    const kv = backend(t)({ now: () => now });
    await kv.set("lease", bytes("old"), 10n);
    now = 10;
    assert.equal(await kv.compareAndSwap("lease", bytes("old"), bytes("x")), false);
    assert.equal(await kv.compareAndSwap("lease", undefined, bytes("new")), true);
  });

  test(`${name}: two connections see one state, and CAS admits one winner`, async (t) => {
    const open = backend(t);
    const [a, b] = [open(), open()];
    await a.set("shared", bytes("0"));
    assert.equal(text(await b.get("shared")), "0");
    // Both read 0, both try to write: exactly one wins.
    const wins = await Promise.all(
      [a, b].map((kv, i) => kv.compareAndSwap("shared", bytes("0"), bytes(`by-${i}`))),
    );
    assert.deepEqual(wins.sort(), [false, true]);
  });

  test(`${name}: prefixes keep namespaces apart and list keys in order`, async (t) => {
    const open = backend(t);
    const emu = open({ ns: "emulator/" });
    const real = open();
    await emu.set("ledger/2", bytes("x"));
    await emu.set("ledger/1", bytes("x"));
    await emu.set("other", bytes("x"));
    await real.set("ledger/9", bytes("x"));
    // Glob characters in a prefix are matched literally.
    await real.set("ledger*/odd", bytes("x"));
    assert.deepEqual(await emu.listKeys("ledger/"), ["ledger/1", "ledger/2"]);
    assert.deepEqual(await real.listKeys("ledger/"), ["ledger/9"]);
    assert.deepEqual(await real.listKeys("ledger*"), ["ledger*/odd"]);
    assert.deepEqual(await real.listKeys("emulator/ledger/"), ["emulator/ledger/1", "emulator/ledger/2"]);
  });

  test(`${name}: bad keys and oversized values are typed errors`, async (t) => {
    const kv = backend(t)();
    const typed = (tag) => (e) => e instanceof KvError && e.payload.tag === tag;
    await assert.rejects(async () => kv.get(""), typed("invalid-key"));
    await assert.rejects(async () => kv.set("x".repeat(513), bytes("v")), typed("invalid-key"));
    await assert.rejects(async () => kv.set("big", new Uint8Array(MAX_VALUE_BYTES + 1)), typed("too-large"));
  });
}

test("Redis: while Redis is down every call is an `unavailable` error; it works again once back", async (t) => {
  const own = await startRedis(t);
  const kv = new RedisKv(own.url, { casScript: CAS });
  t.after(() => kv.close());
  await kv.set("k", bytes("v"));
  await own.stop();
  for (const call of [() => kv.get("k"), () => kv.compareAndSwap("k", undefined, bytes("x")), () => kv.listKeys("")]) {
    await assert.rejects(call, (e) => {
      assert.equal(e.payload?.tag, "unavailable", String(e));
      assert.match(e.payload.val, /Redis at redis:\/\/127\.0\.0\.1:\d+\/0 cannot be reached/);
      return true;
    });
  }
  await own.restart();
  // Empty again (no persistence), and reachable without a new store object.
  assert.equal(await kv.compareAndSwap("k", undefined, bytes("after")), true);
  assert.equal(text(await kv.get("k")), "after");
});

test("Redis: the stored form is the Rust host's: `<expires_at>\\n<bytes>` under kakaowork-channel/", async (t) => {
  const { createClient } = await import("@redis/client");
  let now = 1_700_000_000_000;
  const kv = new RedisKv(redis.url, { now: () => now, casScript: CAS });
  t.after(() => kv.close());
  await kv.set("layout/a", bytes("값"), 1000n);
  await kv.compareAndSwap("layout/b", undefined, bytes("b"));
  const raw = createClient({ url: redis.url });
  raw.on("error", () => {});
  await raw.connect();
  t.after(() => raw.destroy());
  assert.equal(await raw.get("kakaowork-channel/layout/a"), `${now + 1000}\n값`);
  assert.equal(await raw.get("kakaowork-channel/layout/b"), "0\nb");
  assert.equal(await raw.pTTL("kakaowork-channel/layout/b"), -1, "no Redis expiry for a value that never expires");
  assert.ok((await raw.pTTL("kakaowork-channel/layout/a")) > 3_000_000, "Redis collects it an hour after");
});

test("Redis: the layout is the one both hosts share (spec/kv-layout.json)", async () => {
  const { encode, decode, px, REDIS_NAMESPACE } = await import("../plugin/src/kv-redis.js");
  const spec = JSON.parse(readFileSync(join(REPO, "spec", "kv-layout.json"), "utf8"));
  const hex = (s) => Buffer.from(s, "hex");
  assert.equal(REDIS_NAMESPACE, spec.namespace);
  // Not reached: a store connects on its first call.
  const kv = new RedisKv("redis://127.0.0.1:1/0", { casScript: CAS });
  assert.ok(spec.set.length > 0);
  for (const c of spec.set) {
    const expiresAt = c.ttlMs === null ? null : c.now + c.ttlMs;
    assert.equal(kv.storedKey(c.key), c.storedKey, c.about);
    assert.equal(encode(hex(c.valueHex), expiresAt).toString("hex"), c.storedHex, c.about);
    assert.equal(px(expiresAt, c.wall), c.px ?? 0, c.about);
  }
  assert.ok(spec.read.length > 0);
  for (const c of spec.read) {
    const value = decode(hex(c.storedHex), c.now);
    assert.equal(value === undefined ? null : Buffer.from(value).toString("hex"), c.valueHex, c.about);
  }
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

test("the SQLite schema and pragmas are spec/sqlite.sql, the file the Rust host runs", (t) => {
  const spec = readFileSync(join(REPO, "spec", "sqlite.sql"), "utf8");
  const { open } = store(t);
  const kv = open();
  t.after(() => kv.close());
  const stored = kv.db.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").all();
  assert.equal(stored.length, 2);
  for (const { sql } of stored) {
    // SQLite keeps a CREATE statement's text without its IF NOT EXISTS.
    const written = String(sql).replace(/^CREATE (TABLE|INDEX) /, "CREATE $1 IF NOT EXISTS ");
    assert.ok(spec.includes(written), `${sql} is not in spec/sqlite.sql`);
  }
  assert.equal(kv.db.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
  assert.equal(kv.db.prepare("PRAGMA synchronous").get()?.synchronous, 2);
});

test("the state is where the cases both hosts share say (spec/state.json)", async () => {
  const { stateSpec } = await import("../plugin/src/state.js");
  const spec = JSON.parse(readFileSync(join(REPO, "spec", "state.json"), "utf8"));
  const shared = spec.cases.filter((c) => c.only !== "rust");
  assert.ok(shared.length > 0);
  for (const c of shared) {
    if (c.error) {
      assert.throws(() => stateSpec(c.section, c.env), (e) => {
        for (const w of c.error) assert.ok(e.message.includes(w), `${c.about}: ${e.message}`);
        return true;
      }, c.about);
    } else if (c.redis) {
      const s = stateSpec(c.section, c.env);
      assert.deepEqual(s.kind === "redis" ? [s.url, s.ca ?? null] : s, [c.redis.url, c.redis.ca], c.about);
    } else {
      assert.deepEqual(stateSpec(c.section, c.env), { kind: "sqlite", path: c.sqlite.node }, c.about);
    }
  }
});

test("a Redis URL is shown without its user or password (the cases both hosts share)", async () => {
  const { readFileSync } = await import("node:fs");
  const { shownUrl } = await import("../plugin/src/kv-redis.js");
  const spec = JSON.parse(readFileSync(new URL("../../spec/shown-urls.json", import.meta.url), "utf8"));
  assert.ok(spec.cases.length >= 5);
  for (const c of spec.cases) {
    assert.equal(shownUrl(c.url), c.shown, c.url);
  }
});
