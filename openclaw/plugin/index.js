// @ts-check
// OpenClaw's entry point for the KakaoWork channel plugin.
import { defineChannelPluginEntry } from "openclaw/plugin-sdk/channel-core";
import { kakaoPlugin } from "./src/channel.js";
import { setRuntime } from "./src/openclaw-runtime.js";

export default defineChannelPluginEntry({
  id: "kakao",
  name: "KakaoWork",
  description: "KakaoWork channel: the kakaowork-channel WebAssembly component, hosted through jco",
  plugin: kakaoPlugin,
  setRuntime,
});
