// OpenClaw's message presentation (a card's title, text, context, dividers and buttons) as a send
// the component understands: markdown text and the WIT's `action-button`s. The component checks
// KakaoWork's limits again; the limits here are what OpenClaw adapts a card to before rendering.
import { CHANNEL_ID } from "./config.js";

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

/** The button's action, from the typed `action` or the legacy `url`/`value` fields. */
function actionOf(b) {
  if (b.action) return b.action;
  if (b.url) return { type: "url", url: b.url };
  if (b.value !== undefined) return { type: "callback", value: String(b.value) };
  return undefined;
}

/** `renderPresentation` of OpenClaw's outbound adapter: the payload `sendPayload` receives. */
export function renderPresentation({ payload, presentation }) {
  const { presentation: _card, ...rest } = payload ?? {};
  const parts = [];
  if (presentation?.title) parts.push(`## ${presentation.title}`);
  if (rest.text?.trim()) parts.push(rest.text.trim());
  const buttons = [];
  for (const block of presentation?.blocks ?? []) {
    switch (block.type) {
      case "text":
        parts.push(block.text);
        break;
      case "context":
        parts.push(`> ${block.text}`);
        break;
      case "divider":
        parts.push("---");
        break;
      case "buttons":
        for (const b of block.buttons ?? []) {
          const action = actionOf(b);
          if (action?.type === "callback" || action?.type === "command") {
            // A click comes back as an `action` event: a command button's runs its command, any
            // other reaches the agent as a click carrying this value.
            const command = action.type === "command";
            buttons.push({
              label: b.label,
              name: `${command ? COMMAND_BUTTON : "button-"}${buttons.length + 1}`,
              value: command ? action.command : action.value,
              style: STYLES[b.style] ?? "default",
            });
          } else if (action?.type === "url" || action?.type === "web-app") {
            parts.push(action.url ? `[${b.label}](${action.url})` : b.label);
          } else {
            parts.push(`- ${b.label}`);
          }
        }
        break;
      default:
        // Core turns charts and tables into text before rendering; anything else keeps its text.
        if (block.text) parts.push(block.text);
    }
  }
  return {
    ...rest,
    text: parts.join("\n\n"),
    channelData: { ...rest.channelData, [CHANNEL_ID]: { buttons } },
  };
}
