// The Node host's HTTP import: the same capability checks as the Rust host, the key attached
// only towards the account's API origin, and every failure a typed WIT error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { authorize, endpoint, perform } from "../plugin/src/http.js";

const endpoints = (origin) => new Map([["default", { origin, key: "secret-app-key" }]]);
const get = (url, extra = {}) => ({ method: "get", url, headers: [], account: "default", ...extra });

async function server(t, handler) {
  const s = createServer(handler);
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => { s.closeAllConnections(); s.close(r); }));
  return `http://127.0.0.1:${s.address().port}`;
}

test("requests outside the account's API origin are refused before any I/O", () => {
  const eps = endpoints("https://api.kakaowork.com");
  const cases = [
    [get("https://evil.example/v1/bots.info"), /not the API origin of account `default`/],
    [get("http://api.kakaowork.com/v1/bots.info"), /not the API origin/],
    [get("ftp://api.kakaowork.com/x"), /scheme `ftp` is not allowed/],
    [get("https://user:pw@api.kakaowork.com/v1/x"), /credentials are not allowed/],
    [get("not a url"), /is not a valid URL/],
    [get("https://api.kakaowork.com/v1/x", { account: "other" }), /no account `other`/],
    [get("https://api.kakaowork.com/v1/x", { headers: [["Authorization", "Bearer stolen"]] }), /may not set `Authorization`/],
    [get("https://api.kakaowork.com/v1/x", { headers: [["proxy-authorization", "x"]] }), /may not set/],
    [get("https://evil.example/", { account: undefined }), /not a configured API origin/],
  ];
  for (const [req, why] of cases) {
    const r = authorize(req, eps);
    assert.equal(r.err?.tag, "denied", JSON.stringify(req));
    assert.match(r.err.val, why);
  }
  assert.equal(authorize(get("https://api.kakaowork.com/v1/bots.info"), eps).ok.key, "secret-app-key");
  assert.equal(
    authorize(get("https://api.kakaowork.com/v1/x", { account: undefined }), eps).ok.key,
    undefined,
    "a request naming no account gets no key",
  );
});

test("the capability checks are the ones both hosts share (spec/http-policy.json)", async () => {
  const { readFileSync } = await import("node:fs");
  const spec = JSON.parse(readFileSync(new URL("../../spec/http-policy.json", import.meta.url), "utf8"));
  const eps = new Map(
    Object.entries(spec.accounts).map(([id, a]) => [id, endpoint(a.apiBase, a.key ?? undefined)]),
  );
  assert.ok(spec.cases.length > 0);
  for (const c of spec.cases) {
    const r = authorize({ method: c.method, url: c.url, headers: c.headers, account: c.account ?? undefined }, eps);
    if (c.allowed) {
      assert.equal(r.err, undefined, c.about);
      assert.equal(r.ok?.key !== undefined, c.allowed.key, c.about);
      if (c.allowed.key) assert.equal(r.ok?.key, spec.accounts[c.account].key, c.about);
    } else {
      assert.equal(r.err?.tag, c.refused, c.about);
      assert.ok(r.err.val.includes(c.says), `${c.about}: ${r.err.val}`);
    }
  }
});

test("the host attaches the key and returns status, the headers the guest names, and body", async (t) => {
  let seen;
  const base = await server(t, (req, res) => {
    seen = req.headers.authorization;
    res.setHeader("ratelimit-limit", "200");
    res.setHeader("retry-after", "3");
    res.setHeader("x-request-id", "abc");
    res.end(JSON.stringify({ success: true }));
  });
  const wanted = { responseHeaders: ["RateLimit-Limit", "Retry-After", "X-Missing"] };
  const r = await perform(get(`${base}/v1/bots.info`, wanted), endpoints(base));
  assert.equal(seen, "Bearer secret-app-key");
  assert.equal(r.ok.status, 200);
  // Named case-insensitively; the date, content type, request id and the rest stay behind.
  assert.deepEqual(r.ok.headers, [["ratelimit-limit", "200"], ["retry-after", "3"]]);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(r.ok.body)), { success: true });
  const none = await perform(get(`${base}/v1/bots.info`), endpoints(base));
  assert.deepEqual(none.ok.headers, [], "a request naming no header gets none");
});

test("a redirect is returned, not followed (it could carry the key elsewhere)", async (t) => {
  let followed = false;
  const other = await server(t, (req, res) => { followed = true; res.end("{}"); });
  const base = await server(t, (req, res) => {
    res.writeHead(302, { location: `${other}/steal` });
    res.end();
  });
  const r = await perform(get(`${base}/v1/x`), endpoints(base));
  assert.equal(r.ok.status, 302);
  assert.equal(followed, false);
});

test("an oversized answer, a slow answer and a refused connection are typed errors", async (t) => {
  const base = await server(t, (req, res) => {
    if (req.url.endsWith("/big")) return res.end(Buffer.alloc(64 * 1024, 1));
    setTimeout(() => res.end("{}"), 2_000);
  });
  const big = await perform(get(`${base}/big`), endpoints(base), { maxResponseBytes: 1024 });
  assert.deepEqual(big.err, { tag: "too-large" });
  const slow = await perform(get(`${base}/slow`, { timeoutMs: 100 }), endpoints(base));
  assert.deepEqual(slow.err, { tag: "timeout" });
  // A port nobody listens on: refused before anything was sent, so certainly not delivered.
  const probe = createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const dead = `http://127.0.0.1:${probe.address().port}`;
  await new Promise((r) => probe.close(r));
  const refused = await perform(get(`${dead}/v1/x`), endpoints(dead));
  assert.equal(refused.err.tag, "transport");
  assert.equal(refused.err.val.maybeDelivered, false, refused.err.val.message);
});

test("the timeout holds when the process's fetch ignores its signal (as inside a gateway)", async (t) => {
  let answered = false;
  const base = await server(t, (req, res) => {
    setTimeout(() => {
      answered = true;
      res.end("{}");
    }, 1_500);
  });
  const real = globalThis.fetch;
  // A replacement fetch that drops the signal, as a gateway's own fetch may.
  globalThis.fetch = (url, { signal: _ignored, ...init }) => real(url, init);
  t.after(() => (globalThis.fetch = real));
  const slow = await perform(get(`${base}/slow`, { timeoutMs: 200 }), endpoints(base));
  assert.deepEqual(slow.err, { tag: "timeout" });
  assert.equal(answered, false, "the timeout came before the answer, not after it");
});
