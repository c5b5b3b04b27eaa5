// @ts-check
// The `PluginRuntime` OpenClaw hands the plugin at load time (used by the gateway's inbound path).
/** @import { PluginRuntime } from "openclaw/plugin-sdk/channel-core" */
/** @type {PluginRuntime | null} */
let runtime = null;

/** @param {PluginRuntime} rt */
export function setRuntime(rt) {
  runtime = rt;
}

export function getRuntime() {
  if (!runtime) throw new Error("the KakaoWork plugin's OpenClaw runtime is not set yet");
  return runtime;
}

/** The runtime if OpenClaw has set it (it has not in plain Node tests). */
export function maybeRuntime() {
  return runtime;
}
