// @ts-check
// OpenClaw's message presentation (a card's title, text, context, dividers and buttons) as a send
// the component understands: markdown text and the WIT's `action-button`s. The component checks
// KakaoWork's limits again; the limits here are what OpenClaw adapts a card to before rendering.
import {
  renderMessagePresentationChartFallbackText,
  resolveMessagePresentationOptionAction,
  renderMessagePresentationTableFallbackText,
  resolveMessagePresentationButtonAction,
} from "openclaw/plugin-sdk/interactive-runtime";
import { CHANNEL_ID } from "./config.js";
/** @import { ActionButton, ButtonStyle } from "../dist/component/interfaces/moltbot-channel-channel.js" */

/** @type {NonNullable<import("openclaw/plugin-sdk/channel-contract").ChannelOutboundAdapter["presentationCapabilities"]>} */
export const PRESENTATION = {
  supported: true,
  buttons: true,
  selects: false,
  context: true,
  divider: true,
  charts: false,
  tables: false,
  limits: {
    actions: {
      maxActions: 15,
      maxActionsPerRow: 3,
      maxRows: 5,
      maxLabelLength: 20,
      maxValueBytes: 200,
      supportsStyles: true,
      supportsDisabled: false,
    },
    text: { encoding: "characters", markdownDialect: "markdown" },
  },
};

/** @type {Record<string, ButtonStyle>} */
const STYLES = { primary: "primary", success: "primary", danger: "danger" };

/**
 * The names of OpenClaw's own command buttons (presentation `command` actions). Only
 * `renderPresentation` names a button so; the component signs the name into the button's value,
 * and a click on such a button runs its command. Any other button is a click the agent reads.
 */
const COMMAND_BUTTON = "openclaw-command-";

export const isCommandButton = (name) => typeof name === "string" && name.startsWith(COMMAND_BUTTON);

/** Buttons the agent gave as channel data: a name that claims to be a command button is renamed. */
export function agentButtons(buttons) {
  return (Array.isArray(buttons) ? buttons : []).map((b, i) =>
    isCommandButton(b?.name) ? { ...b, name: `button-${i + 1}` } : b,
  );
}

/** A presentation block or control this channel cannot show; `path` names it. */
export class PresentationError extends Error {
  constructor(path, why) {
    super(`${path}: ${why}`);
    this.name = "PresentationError";
    this.path = path;
  }
}

/**
 * `renderPresentation` of OpenClaw's outbound adapter: the payload `sendPayload` receives. Every
 * block is shown (text, context, dividers; charts, tables and selects as the text OpenClaw's own
 * fallbacks make; callback and command buttons as buttons, link buttons as links) or the send is
 * refused with the block's path: nothing is dropped without a word.
 */
export function renderPresentation({ payload, presentation }) {
  const { presentation: _card, ...rest } = payload ?? {};
  const parts = [];
  if (presentation?.title) parts.push(`## ${presentation.title}`);
  if (rest.text?.trim()) parts.push(rest.text.trim());
  /** @type {ActionButton[]} */
  const buttons = [];
  (presentation?.blocks ?? []).forEach((block, i) => {
    const path = `presentation.blocks[${i}]`;
    switch (block?.type) {
      case "text":
        parts.push(block.text);
        break;
      case "context":
        parts.push(`> ${block.text}`);
        break;
      case "divider":
        parts.push("---");
        break;
      case "chart":
        parts.push(fenced(renderMessagePresentationChartFallbackText(block)));
        break;
      case "table":
        parts.push(fenced(renderMessagePresentationTableFallbackText(block)));
        break;
      case "select":
        // A message has no select in KakaoWork (only a modal does): its choices as a list.
        parts.push(
          [block.placeholder ?? "Options", ...(block.options ?? []).map((o) => `- ${optionLabel(o)}`)].join("\n"),
        );
        break;
      case "buttons":
        (block.buttons ?? []).forEach((b, j) => {
          const action = resolveMessagePresentationButtonAction(b);
          if (b.disabled) {
            parts.push(`- ${b.label}`);
          } else if (action?.type === "callback" || action?.type === "command") {
            // A click comes back as an `action` event: a command button's runs its command, any
            // other reaches the agent as a click carrying this value.
            const command = action.type === "command";
            buttons.push({
              label: b.label,
              name: `${command ? COMMAND_BUTTON : "button-"}${buttons.length + 1}`,
              value: command ? action.command : action.value,
              style: STYLES[b.style] ?? "default",
            });
          } else if (action?.type === "url" || (action?.type === "web-app" && action.url)) {
            parts.push(`[${b.label}](${action.url})`);
          } else {
            const what = action ? `a \`${action.type}\` action` : "no action";
            throw new PresentationError(
              `${path}.buttons[${j}]`,
              `a button with ${what} cannot be shown in KakaoWork (it takes callback, command and link buttons); send the choice as text or as one of those`,
            );
          }
        });
        break;
      default:
        throw new PresentationError(path, `a \`${block?.type}\` block cannot be shown in KakaoWork`);
    }
  });
  return {
    ...rest,
    text: parts.join("\n\n"),
    channelData: { ...rest.channelData, [CHANNEL_ID]: { buttons } },
  };
}

/** An option as text: its label, with its command when it runs one (as OpenClaw's fallbacks do). */
function optionLabel(o) {
  const action = resolveMessagePresentationOptionAction(o);
  return action?.type === "command" ? `${o.label}: \`${action.command}\`` : o.label;
}

/** Fallback text laid out in columns, kept as it is (a code block). */
function fenced(text) {
  const fence = "```";
  return `${fence}\n${text.replaceAll(fence, "'''")}\n${fence}`;
}
