// OpenClaw's presentation as the component's markdown and buttons.
import { test } from "node:test";
import assert from "node:assert/strict";
import { renderPresentation } from "../plugin/src/presentation.js";
import { inferTargetChatType } from "../plugin/src/directory.js";

test("a card becomes markdown text and action buttons", () => {
  const out = renderPresentation({
    payload: { text: "배포 준비 완료", presentation: {}, channelData: { other: 1 } },
    presentation: {
      title: "배포 승인",
      blocks: [
        { type: "text", text: "**api-server** v1.4.2" },
        { type: "context", text: "빌드 1234" },
        { type: "divider" },
        {
          type: "buttons",
          buttons: [
            { label: "승인", action: { type: "callback", value: "deploy:approve" }, style: "success" },
            { label: "반려", value: "deploy:reject", style: "danger" },
            { label: "로그", action: { type: "url", url: "https://ci.example.com/7" } },
            { label: "/status", action: { type: "command", command: "/status" } },
          ],
        },
      ],
    },
  });
  assert.equal(out.presentation, undefined);
  assert.equal(
    out.text,
    "## 배포 승인\n\n배포 준비 완료\n\n**api-server** v1.4.2\n\n> 빌드 1234\n\n---\n\n[로그](https://ci.example.com/7)",
  );
  assert.deepEqual(out.channelData, {
    other: 1,
    kakao: {
      buttons: [
        { label: "승인", name: "button-1", value: "deploy:approve", style: "primary" },
        { label: "반려", name: "button-2", value: "deploy:reject", style: "danger" },
        { label: "/status", name: "button-3", value: "/status", style: "default" },
      ],
    },
  });
});

test("names and e-mail addresses are looked up among members, #names among groups", () => {
  for (const [to, kind] of [
    ["김민수", "direct"],
    ["minsu.kim@example.co.kr", "direct"],
    ["user:10000001", "direct"],
    ["#프로젝트 채널 1", "group"],
    ["conversation:3000001", "group"],
    ["kakao:3000001", "group"],
    ["users:1,2", "group"],
  ]) {
    assert.equal(inferTargetChatType({ to }), kind, to);
  }
});
