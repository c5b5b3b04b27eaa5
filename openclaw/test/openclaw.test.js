// The plugin inside the real OpenClaw CLI (the pinned `openclaw` package), with a private HOME,
// installed with `openclaw plugins install --link`, and the project's emulator as KakaoWork.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { startEmulator, openclawHome, openclaw, assertOk, fileScope } from "./helpers.js";

let emu;
let home;
const ctx = fileScope();

before(async () => {
  emu = await startEmulator(ctx);
  home = await openclawHome(ctx);
  const section = {
    enabled: true,
    appKey: emu.appKey,
    apiBase: emu.baseUrl,
    dmPolicy: "pairing",
    callbackSecret: "test-callback-secret-0123456789",
  };
  assertOk(
    await openclaw(home, ["config", "set", "channels.kakao", JSON.stringify(section), "--strict-json"]),
  );
});

const sendVia = (target, message, extra = []) =>
  openclaw(home, ["message", "send", "--channel", "kakao", "--target", target, "--message", message, "--json", ...extra]);

test("openclaw message send reaches users, conversations and e-mail addresses", async () => {
  for (const [target, path] of [
    ["user:10000001", "/v1/messages.send"],
    ["conversation:3000005", "/v1/messages.send"],
    ["email:jihoon.park@example.co.kr", "/v1/messages.send_by_email"],
  ]) {
    const text = `hello ${target} ${Date.now()}`;
    assertOk(await sendVia(target, text));
    const hits = (await emu.sends()).filter((r) => JSON.parse(r.body).text === text);
    assert.deepEqual(hits.map((r) => r.path), [path], `${target}: exactly one send`);
  }
});

test("a 6,000-character message arrives as ordered parts through openclaw", async () => {
  const words = Array.from({ length: 1200 }, (_, i) => `p${String(i).padStart(4, "0")}`);
  const text = words.join(" ");
  assert.ok(text.length >= 6000);
  const before = (await emu.posted()).length;
  assertOk(await sendVia("conversation:3000006", text));
  const parts = (await emu.posted()).slice(before).map((p) => p.text);
  assert.ok(parts.length >= 3, `${parts.length} parts`);
  assert.deepEqual(parts.join(" ").split(/\s+/), words);
});

test("markdown and a presentation's buttons arrive as blocks the emulator accepts", async () => {
  const before = (await emu.posted()).length;
  const card = {
    title: "배포 승인",
    blocks: [
      { type: "context", text: "빌드 1234" },
      { type: "buttons", buttons: [{ label: "승인", action: { type: "callback", value: "deploy:approve" } }] },
    ],
  };
  assertOk(await sendVia("user:10000002", "**굵게** 보낸 `코드`", ["--presentation", JSON.stringify(card)]));
  const posted = (await emu.posted()).slice(before);
  // Posted means accepted: the emulator refuses blocks KakaoWork would refuse.
  assert.equal(posted.length, 1);
  const blocks = posted[0].blocks;
  assert.deepEqual(blocks[0], { type: "header", text: "배포 승인", style: "blue" });
  const all = JSON.stringify(blocks);
  assert.match(all, /"text":"굵게","type":"styled"|"bold":true,"text":"굵게"/);
  const buttons = blocks.filter((b) => b.type === "action").flatMap((b) => b.elements);
  const approve = buttons.find((b) => b.text === "승인");
  assert.equal(approve.action_type, "submit_action");
  assert.equal(approve.action_name, "button-1");
  assert.match(approve.value, /^kw2\|l:button-1:승인:deploy:approve\|/);
});

test("targets are found by name and e-mail through the directory", async () => {
  const peers = await openclaw(home, ["directory", "peers", "list", "--channel", "kakao", "--query", "김민수", "--json"]);
  assertOk(peers);
  assert.match(peers.stdout, /user:10000001/);
  const groups = await openclaw(home, ["directory", "groups", "list", "--channel", "kakao", "--query", "프로젝트 채널 23", "--json"]);
  assertOk(groups);
  assert.match(groups.stdout, /conversation:3000023/);
  for (const [target, conversationId] of [
    ["이영희", 2090002],
    ["jihoon.park@example.co.kr", 2090003],
    ["#프로젝트 채널 23", 3000023],
  ]) {
    const text = `by name ${target} ${Date.now()}`;
    assertOk(await sendVia(target, text));
    const hits = (await emu.posted()).filter((p) => p.text === text);
    assert.deepEqual(hits.map((p) => p.conversationId), [conversationId], target);
  }
});

test("a bad target fails with the target hint and sends nothing", async () => {
  const before = (await emu.sends()).length;
  const r = await sendVia("someone", "never sent");
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /conversation:<id>|user:<user id>|email:/);
  assert.equal((await emu.sends()).length, before);
});

test("openclaw config rejects a wrong value with its path", async () => {
  const r = await openclaw(home, ["config", "set", "channels.kakao.dmPolicy", '"sometimes"', "--strict-json"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /channels\.kakao\.dmPolicy/);
  const r2 = await openclaw(home, ["config", "set", "channels.kakao.rateLimit", '{"burst": 0}', "--strict-json"]);
  assert.notEqual(r2.code, 0);
  assert.match(r2.stdout + r2.stderr, /channels\.kakao\.rateLimit\.burst/);
});

test("with channels.kakao.state, openclaw keeps the plugin's state in Redis, in the layout both hosts share", async (t) => {
  const { startRedis } = await import("./helpers.js");
  const { RedisKv } = await import("../plugin/src/kv-redis.js");
  const redis = await startRedis(t);
  const bad = await openclaw(home, ["config", "set", "channels.kakao.state", '"/var/lib/kakao"', "--strict-json"]);
  assert.notEqual(bad.code, 0, "a state that is not a Redis URL is refused");
  assert.match(bad.stdout + bad.stderr, /channels\.kakao\.state/);
  assertOk(await openclaw(home, ["config", "set", "channels.kakao.state", JSON.stringify(redis.url), "--strict-json"]));
  t.after(() => openclaw(home, ["config", "unset", "channels.kakao.state"]));

  const text = `through redis ${Date.now()}`;
  assertOk(await sendVia("conversation:3000007", text));
  assert.equal((await emu.posted()).filter((p) => p.text === text).length, 1);
  // The ledger, the budget and the key-id salt are in Redis, in the layout both hosts share.
  const store = new RedisKv(redis.url);
  t.after(() => store.close());
  const ledgers = await store.listKeys("ledger/v1/default/openclaw:");
  assert.equal(ledgers.length, 1, JSON.stringify(ledgers));
  assert.ok((await store.listKeys("rl/v2/")).length >= 1, "the rate budget");
  assert.equal((await store.get("host/key-id-salt"))?.length, 32);
});

test("openclaw message send --media: an image URL as an image, another URL as a link, a local file refused", async () => {
  const before = (await emu.sends()).length;
  assertOk(await sendVia("conversation:3000007", "빌드 결과 화면", ["--media", "https://ci.example.com/build/42/screen.png"]));
  const image = (await emu.posted()).find((p) => p.text.includes("빌드 결과 화면"));
  assert.ok(image, "posted: the emulator accepted the blocks");
  assert.deepEqual(
    image.blocks.filter((b) => b.type === "image_link").map((b) => b.url),
    ["https://ci.example.com/build/42/screen.png"],
  );
  assertOk(await sendVia("conversation:3000007", "빌드 로그", ["--media", "https://ci.example.com/build/42/log.txt"]));
  const link = (await emu.posted()).find((p) => p.text.includes("빌드 로그"));
  assert.equal(link.blocks.filter((b) => b.type === "image_link").length, 0);
  assert.match(JSON.stringify(link.blocks), /https:\/\/ci\.example\.com\/build\/42\/log\.txt/);
  const { writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const file = join(home, "photo.png");
  writeFileSync(file, "not really a png");
  const local = await sendVia("conversation:3000007", "로컬 파일", ["--media", file]);
  assert.notEqual(local.code, 0);
  assert.match(local.stdout + local.stderr, /not supported/);
  assert.equal((await emu.sends()).length, before + 2, "the refused one made no request");
});

test("a presentation with every block kind is shown in the blocks KakaoWork accepts, or refused with its path", async () => {
  const card = {
    title: "주간 보고",
    blocks: [
      { type: "text", text: "이번 주 배포" },
      { type: "context", text: "자동 생성" },
      { type: "divider" },
      { type: "chart", chartType: "bar", title: "배포 수", categories: ["월", "화"], series: [{ name: "api", values: [3, 5] }] },
      { type: "table", caption: "서버 상태", headers: ["이름", "상태"], rows: [["api-1", "정상"]] },
      { type: "select", placeholder: "환경 선택", options: [{ label: "운영", value: "prod" }] },
      { type: "buttons", buttons: [{ label: "승인", action: { type: "callback", value: "ok" } }] },
    ],
  };
  assertOk(await sendVia("conversation:3000008", "보고서", ["--presentation", JSON.stringify(card)]));
  const m = (await emu.posted()).find((p) => JSON.stringify(p.blocks).includes("이번 주 배포"));
  assert.ok(m, "posted: KakaoWork's checks passed");
  const all = JSON.stringify(m.blocks);
  for (const shown of ["주간 보고", "자동 생성", "배포 수", "서버 상태", "api-1", "환경 선택", "운영", "승인"]) {
    assert.ok(all.includes(shown), `${shown} in ${all}`);
  }
  assert.ok(m.blocks.some((b) => b.type === "divider"));
  const approval = { blocks: [{ type: "buttons", buttons: [{ label: "허용", action: { type: "approval", approvalId: "a1", approvalKind: "exec", decision: "allow-once" } }] }] };
  const r = await sendVia("conversation:3000008", "승인 요청", ["--presentation", JSON.stringify(approval)]);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /presentation\.blocks\[0\]\.buttons\[0\]/);
});
