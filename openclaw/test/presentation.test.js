// OpenClaw's presentation as the component's markdown and buttons.
import { test } from "node:test";
import assert from "node:assert/strict";
import { renderPresentation, agentButtons } from "../plugin/src/presentation.js";
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
        { label: "/status", name: "openclaw-command-3", value: "/status", style: "default" },
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

test("a click on the agent's button is data for the agent; only OpenClaw's command buttons run", async () => {
  const { messageOf, CLICK_COMMAND_BODY } = await import("../plugin/src/gateway.js");
  // Values and captions an injected reply could choose: commands, inline shortcuts, directives.
  for (const value of ["/reset", "/new", "x /status y", "/model fake/echo-1", "hi /think high"]) {
    const event = {
      kind: "action",
      actionName: "button-1",
      actionValue: value,
      actionLabel: `Details ${value}`,
      text: `[Clicked the button "Details ${value}" (value: ${value})]`,
    };
    const m = messageOf(event);
    assert.equal(m.bodyForAgent, event.text, "the agent reads the click");
    assert.equal(m.commandBody, CLICK_COMMAND_BODY, value);
    assert.ok(!m.commandBody.includes("/"), "nothing in it for OpenClaw to run");
  }
  // A button named as a command button by the agent's own channel data is renamed first.
  const [renamed] = agentButtons([{ label: "Details", name: "openclaw-command-1", value: "/reset" }]);
  assert.equal(renamed.name, "button-1");
  assert.equal(messageOf({ kind: "action", actionName: renamed.name, actionValue: "/reset", text: "t" }).commandBody, CLICK_COMMAND_BODY);
  // OpenClaw's own command button (rendered from a presentation's `command` action) runs it.
  const out = renderPresentation({
    payload: { text: "", presentation: {} },
    presentation: { blocks: [{ type: "buttons", buttons: [{ label: "상태", action: { type: "command", command: "/status" } }] }] },
  });
  const [button] = out.channelData.kakao.buttons;
  const m = messageOf({ kind: "action", actionName: button.name, actionValue: button.value, text: "t" });
  assert.equal(m.commandBody, "/status");
  // Typed replies keep their text as the command body (a user may type a command).
  assert.equal(messageOf({ kind: "text", text: "/new" }).commandBody, "/new");
});

test("every presentation block kind is shown, or refused with its path", () => {
  const chart = { type: "chart", chartType: "bar", title: "배포 수", categories: ["월", "화"], series: [{ name: "api", values: [3, 5] }] };
  const table = { type: "table", caption: "서버", headers: ["이름", "상태"], rows: [["api-1", "정상"], ["api-2", "점검"]] };
  const select = { type: "select", placeholder: "환경", options: [{ label: "운영", value: "prod" }, { label: "상태", action: { type: "command", command: "/status" } }] };
  const out = renderPresentation({
    payload: { text: "" },
    presentation: {
      title: "보고",
      blocks: [
        { type: "text", text: "본문" },
        { type: "context", text: "맥락" },
        { type: "divider" },
        chart,
        table,
        select,
        { type: "buttons", buttons: [{ label: "링크", action: { type: "url", url: "https://x.example" } }, { label: "끈 버튼", disabled: true, value: "x" }] },
      ],
    },
  });
  for (const shown of ["## 보고", "본문", "> 맥락", "---", "배포 수", "api-1", "점검", "환경", "- 운영", "상태: `/status`", "[링크](https://x.example)", "- 끈 버튼"]) {
    assert.ok(out.text.includes(shown), `${shown} in ${out.text}`);
  }
  // What cannot be shown is refused with where it is.
  const refused = (blocks) => {
    try {
      renderPresentation({ payload: { text: "" }, presentation: { blocks } });
    } catch (e) {
      assert.equal(e.name, "PresentationError");
      return e.message;
    }
    assert.fail("rendered");
  };
  const approval = { type: "buttons", buttons: [{ label: "승인", action: { type: "approval", approvalId: "a1", approvalKind: "exec", decision: "allow-once" } }] };
  assert.match(refused([{ type: "text", text: "x" }, approval]), /^presentation\.blocks\[1\]\.buttons\[0\]: .*`approval`/);
  assert.match(refused([{ type: "buttons", buttons: [{ label: "빈 버튼" }] }]), /^presentation\.blocks\[0\]\.buttons\[0\]: .*no action/);
  assert.match(refused([{ type: "hologram" }]), /^presentation\.blocks\[0\]: a `hologram` block/);
});
