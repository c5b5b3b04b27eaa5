// @ts-check
// The `moltbot:channel/http` import, main-thread side: the capability check (the same
// refusals as the Rust host's `host-test/src/runtime/http.rs`) and the request itself. The app key is
// attached here, only towards the API origin of the account the request names; the guest never
// sees it.
/** @import { Request, Response, Error as HttpError } from "../dist/component/interfaces/moltbot-channel-http.js" */

export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_TIMEOUT_MS = 30_000;
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** @type {(val: string) => HttpError} */
const denied = (val) => ({ tag: "denied", val });
/** @type {(message: string, maybeDelivered: boolean) => HttpError} */
const transport = (message, maybeDelivered) => ({
  tag: "transport",
  val: { message, maybeDelivered },
});

/**
 * An import's answer as the worker passes it on (worker.js): its value, or its WIT error.
 * @template T, E
 * @typedef {{ok: T, err?: undefined} | {ok?: undefined, err: E}} Answer
 */

/**
 * Which endpoint and credential a request gets, or why it is refused.
 * @param {Pick<Request, "url" | "headers" | "account">} req
 * @param {Map<string, {origin: string, key?: string}>} endpoints by account id
 * @returns {Answer<{url: URL, key?: string}, HttpError>}
 */
export function authorize(req, endpoints) {
  let url;
  try {
    url = new URL(req.url);
  } catch (e) {
    return { err: denied(`\`${req.url}\` is not a valid URL: ${e.message}`) };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { err: denied(`scheme \`${url.protocol.slice(0, -1)}\` is not allowed`) };
  }
  if (url.username || url.password) {
    return { err: denied("URLs with credentials are not allowed") };
  }
  const bad = (req.headers ?? []).find(([k]) =>
    ["authorization", "proxy-authorization"].includes(k.toLowerCase()),
  );
  if (bad) {
    return { err: denied(`the guest may not set \`${bad[0]}\`: the host attaches credentials`) };
  }
  if (req.account !== undefined && req.account !== null) {
    const ep = endpoints.get(req.account);
    if (!ep) return { err: denied(`no account \`${req.account}\` in the host's configuration`) };
    if (ep.origin !== url.origin) {
      return {
        err: denied(`${url.origin} is not the API origin of account \`${req.account}\` (${ep.origin})`),
      };
    }
    return { ok: { url, key: ep.key } };
  }
  for (const ep of endpoints.values()) {
    if (ep.origin === url.origin) return { ok: { url } };
  }
  return { err: denied(`${url.origin} is not a configured API origin`) };
}

/**
 * An account's endpoint as `authorize` takes it: the origin of its API base, and its key.
 * @param {string} apiBase
 * @param {string | undefined} key
 * @returns {{origin: string, key?: string}}
 */
export function endpoint(apiBase, key) {
  return { origin: new URL(apiBase).origin, key };
}

function refusedBeforeSending(e) {
  const code = e?.cause?.code ?? e?.code;
  return ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL", "ERR_INVALID_URL"].includes(
    code,
  );
}

/** Reads at most `cap` bytes of a fetch body; `null` when it is longer. */
async function readCapped(body, cap) {
  if (!body) return new Uint8Array(0);
  const parts = [];
  let n = 0;
  for await (const chunk of body) {
    n += chunk.byteLength;
    if (n > cap) return null;
    parts.push(chunk);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * The answer's headers the guest named in `responseHeaders` (case-insensitively), and no
 * others: each one handed over is copied into the guest.
 * @param {Headers} headers
 * @param {{responseHeaders?: string[]}} req
 * @returns {[string, string][]}
 */
export function wantedHeaders(headers, req) {
  /** @type {[string, string][]} */
  const out = [];
  for (const name of new Set((req.responseHeaders ?? []).map((n) => n.toLowerCase()))) {
    const value = headers.get(name);
    if (value !== null) out.push([name, value]);
  }
  return out;
}

const TIMED_OUT = Symbol("timed out");

/**
 * Performs a guest request. Never throws: the answer is `{ok: response}` or `{err: error}` in
 * the WIT's shapes.
 * @param {Request} req
 * @param {Map<string, {origin: string, key?: string}>} endpoints by account id
 * @param {{maxResponseBytes?: number, defaultTimeoutMs?: number}} [opts]
 * @returns {Promise<Answer<Response, HttpError>>}
 */
export async function perform(req, endpoints, opts = {}) {
  const auth = authorize(req, endpoints);
  if (auth.err) return auth;
  const { url, key } = auth.ok;
  const maxBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const timeoutMs = Math.min(req.timeoutMs ?? opts.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS);
  const headers = new Headers();
  for (const [k, v] of req.headers ?? []) headers.append(k, v);
  if (key) headers.set("authorization", `Bearer ${key}`);
  const signal = AbortSignal.timeout(timeoutMs);
  // The deadline holds even for a `fetch` that ignores its signal (a gateway may replace the
  // global one): whichever settles first, the answer or the deadline, decides.
  /** @type {Promise<typeof TIMED_OUT>} */
  const deadline = new Promise((resolve) => signal.addEventListener("abort", () => resolve(TIMED_OUT), { once: true }));
  let resp;
  try {
    resp = await Promise.race([deadline, fetch(url, {
      method: req.method === "post" ? "POST" : "GET",
      headers,
      // The guest's bytes come in an ArrayBuffer of their own (copied out of the worker), never
      // a shared one, which is all that `fetch` asks.
      body: req.method === "post" ? /** @type {Uint8Array<ArrayBuffer>} */ (req.body ?? new Uint8Array(0)) : undefined,
      // A redirect could carry the key elsewhere: never follow one.
      redirect: "manual",
      signal,
    })]);
    if (resp === TIMED_OUT) return { err: { tag: "timeout" } };
  } catch (e) {
    if (signal.aborted) return { err: { tag: "timeout" } };
    return { err: transport(String(e?.cause?.message ?? e?.message ?? e), !refusedBeforeSending(e)) };
  }
  try {
    const body = await Promise.race([deadline, readCapped(resp.body, maxBytes)]);
    if (body === TIMED_OUT) {
      resp.body?.cancel().catch(() => {});
      return { err: { tag: "timeout" } };
    }
    if (body === null) return { err: { tag: "too-large" } };
    return { ok: { status: resp.status, headers: wantedHeaders(resp.headers, req), body } };
  } catch (e) {
    if (signal.aborted) return { err: { tag: "timeout" } };
    // The request was answered, so it arrived.
    return { err: transport(String(e?.message ?? e), true) };
  }
}
