// @ts-check
// The host's delivery loop (as `host-test/src/serve/delivery.rs`): call `send` with the same
// idempotency key until it is delivered, honouring the guest's deferrals and retry hints.
import { ChannelError } from "./component.js";
/** @import { ComponentHost } from "./component.js" */
/** @import { SendRequest, SendReceipt } from "../dist/component/interfaces/moltbot-channel-channel.js" */

export const MAX_CALLS = 50;

/**
 * How long to wait before calling again, or `null` when calling again is useless.
 * @param {ChannelError["payload"] | undefined} payload
 */
export function retryHint(payload) {
  // Config issues (a list) are never worth another call.
  if (!payload || Array.isArray(payload)) return null;
  switch (payload.tag) {
    case "deferred":
      return Number(payload.val);
    case "api":
    case "rate-limited":
      return payload.val.retryable ? Number(payload.val.retryAfterMs ?? 1000) : null;
    case "transport":
      return payload.val.retryAfterMs === undefined ? null : Number(payload.val.retryAfterMs);
    default:
      return null;
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * A send request with the WIT's defaults for what the caller left out (plain text, no
 * blocks, no buttons).
 * @param {Omit<SendRequest, "format" | "blocks" | "buttons"> & Partial<SendRequest>} req
 * @returns {SendRequest}
 */
export function sendRequest(req) {
  return { format: "plain", blocks: undefined, buttons: [], ...req };
}

/**
 * Sends one message; resolves with the receipt or rejects with the last `ChannelError`.
 * @param {ComponentHost} host
 * @param {Parameters<typeof sendRequest>[0]} req
 * @param {Parameters<typeof withRetries>[1]} [opts]
 * @returns {Promise<SendReceipt>}
 */
export function deliver(host, req, opts = {}) {
  const full = sendRequest(req);
  return withRetries(() => host.call("send", full), opts);
}

/**
 * Calls `call` until it succeeds or fails for good, waiting as the guest's hints say.
 * @template T
 * @param {() => Promise<T>} call
 * @param {{signal?: AbortSignal, onWait?: (ms: number, e: ChannelError) => void}} [opts]
 * @returns {Promise<T>}
 */
export async function withRetries(call, { signal, onWait } = {}) {
  for (let calls = 1; ; calls++) {
    try {
      return await call();
    } catch (e) {
      const wait = e instanceof ChannelError ? retryHint(e.payload) : null;
      if (wait === null || calls >= MAX_CALLS) throw e;
      onWait?.(wait, e);
      await sleep(wait, signal);
    }
  }
}
