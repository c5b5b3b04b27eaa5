// The `openclaw` commands README.md and docs/openclaw.md show, run as written: each line is kept
// here verbatim, split into words as a shell would (`shellWords`, no shell), and run with the
// pinned `openclaw` CLI in a private HOME, from the repository root as the README says, against
// the project's emulator as KakaoWork (started with the docs' placeholder as its App Key).
// `xtask/tests/docs.rs` checks that every command the docs show is in a test; this file checks,
// the other way, that each line here is still what the docs show.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startEmulator, openclawHome, openclaw, assertOk, fileScope, shellWords, REPO } from "./helpers.js";

const README = {
  install: String.raw`openclaw plugins install --link ./openclaw/plugin --force --accept-capabilities`,
  config: String.raw`openclaw config set channels.kakao '{"appKey": "your-app-key-here", "dmPolicy": "pairing"}' --strict-json`,
  send: String.raw`openclaw message send --channel kakao --target user:10000001 --message "Hello from OpenClaw"`,
};
const OPENCLAW_MD = {
  presentation: String.raw`openclaw message send --channel kakao --target user:10000002 --message "**굵게** 보낸 \`코드\`" --presentation '{"title":"배포 승인","blocks":[{"type":"context","text":"빌드 1234"},{"type":"buttons","buttons":[{"label":"승인","action":{"type":"callback","value":"deploy:approve"}}]}]}'`,
  peers: String.raw`openclaw directory peers list --channel kakao --query 김민수 --json`,
  byName: String.raw`openclaw message send --channel kakao --target 이영희 --message "안녕하세요"`,
};

/** A document's text as `docs.rs` reads its commands: continuations joined, blanks collapsed. */
const shown = (file) =>
  readFileSync(join(REPO, file), "utf8").replace(/\\\n/g, " ").split(/\s+/).join(" ");

let emu;
let home;
const ctx = fileScope();

/** One docs line, run as written: its words after `openclaw`, from the repository root. */
const run = async (line) => {
  const [program, ...args] = shellWords(line);
  assert.equal(program, "openclaw", line);
  return assertOk(await openclaw(home, args, { cwd: REPO }));
};

before(async () => {
  emu = await startEmulator(ctx, ["--app-key", "your-app-key-here"]);
  home = await openclawHome(ctx, { install: false });
});

test("the lines here are the ones the docs show", () => {
  for (const [file, lines] of [["README.md", README], ["docs/openclaw.md", OPENCLAW_MD]]) {
    const text = shown(file);
    for (const line of Object.values(lines)) {
      assert.ok(text.includes(line.split(/\s+/).join(" ")), `${file} no longer shows: ${line}`);
    }
  }
});

test("README: install the plugin, configure the channel, send a message", async () => {
  await run(README.install);
  const installed = await openclaw(home, ["plugins", "list", "--json"]);
  assertOk(installed);
  assert.match(installed.stdout, /"kakao"/);

  await run(README.config);
  // Not a docs line: the emulator stands in for KakaoWork, so the account talks to it.
  assertOk(
    await openclaw(home, ["config", "set", "channels.kakao.apiBase", JSON.stringify(emu.baseUrl), "--strict-json"]),
  );
  const config = JSON.parse(readFileSync(join(home, ".openclaw", "openclaw.json"), "utf8"));
  assert.equal(config.channels.kakao.appKey, "your-app-key-here");
  assert.equal(config.channels.kakao.dmPolicy, "pairing");

  const before = (await emu.posted()).length;
  await run(README.send);
  const posted = (await emu.posted()).slice(before);
  // User 10000001's conversation with the bot (the emulator's DM rooms are 2090000 + user id).
  assert.deepEqual(
    posted.map((p) => [p.conversationId, p.text]),
    [[2090001, "Hello from OpenClaw"]],
  );
});

test("docs/openclaw.md: a presentation, the directory, a target by name", async () => {
  let before = (await emu.posted()).length;
  await run(OPENCLAW_MD.presentation);
  let posted = (await emu.posted()).slice(before);
  // Posted means accepted: the emulator refuses blocks KakaoWork would refuse.
  assert.equal(posted.length, 1);
  assert.equal(posted[0].conversationId, 2090002);
  const blocks = posted[0].blocks;
  assert.deepEqual(blocks[0], { type: "header", text: "배포 승인", style: "blue" });
  const all = JSON.stringify(blocks);
  assert.match(all, /"text":"굵게","type":"styled"|"bold":true,"text":"굵게"/);
  assert.ok(all.includes("코드") && all.includes("빌드 1234"), all);
  const approve = blocks
    .filter((b) => b.type === "action")
    .flatMap((b) => b.elements)
    .find((b) => b.text === "승인");
  assert.ok(approve, all);
  assert.match(approve.value, /^kw2\|l:button-1:승인:deploy:approve\|/);

  const peers = await run(OPENCLAW_MD.peers);
  const listed = JSON.stringify(JSON.parse(peers.stdout));
  assert.ok(listed.includes("user:10000001") && listed.includes("김민수"), peers.stdout);

  before = (await emu.posted()).length;
  await run(OPENCLAW_MD.byName);
  posted = (await emu.posted()).slice(before);
  assert.deepEqual(
    posted.map((p) => [p.conversationId, p.text]),
    [[2090002, "안녕하세요"]],
  );
});
