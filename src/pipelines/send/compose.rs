//! What one `send` posts: its text, markdown, card and buttons turned into parts (one message
//! each), every limit checked before any request. A plain text without buttons stays plain
//! text, split as before; everything else is Block Kit.

use crate::contract::records::{ActionButton, ButtonStyle, SendRequest, TextFormat};
use crate::model::error::ChannelError;
use crate::render::blockkit::{
    self, Action, Block, Button, MAX_BLOCKS, MAX_MESSAGE_TEXT_CHARS, Style,
};
use crate::render::chunk;
use crate::render::markdown;
use crate::state::ledger;

/// Buttons one message takes from a host: five rows of three.
pub const MAX_BUTTONS: usize = 15;
/// Blocks each part keeps free for the plugin's own Reply button row.
const REPLY_ROOM: usize = 1;

/// One message of a send: its text (with blocks, the notification preview) and its blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub text: String,
    pub blocks: Option<Vec<Block>>,
}

fn invalid(m: String) -> ChannelError {
    ChannelError::InvalidMessage(m)
}

/// Identifies a message, so that an idempotency key reused for another one is refused. A
/// plain text's is the hash of its text alone, as ledgers written before blocks have it.
pub fn identity(req: &SendRequest) -> u64 {
    if req.format == TextFormat::Plain && req.blocks.is_none() && req.buttons.is_empty() {
        return ledger::fnv1a(&req.text);
    }
    let format = match req.format {
        TextFormat::Plain => "\0plain",
        TextFormat::Markdown => "\0markdown",
    };
    let blocks = req.blocks.as_deref().map(|b| ["\0blocks\0", b]);
    let buttons = req.buttons.iter().flat_map(|b| {
        let style = match b.style {
            ButtonStyle::Default => "\0d",
            ButtonStyle::Primary => "\0p",
            ButtonStyle::Danger => "\0x",
        };
        ["\0", &b.label, "\0", &b.name, "\0", &b.value, style]
    });
    ledger::fnv1a_parts(
        [req.text.as_str(), format]
            .into_iter()
            .chain(blocks.into_iter().flatten())
            .chain(buttons),
    )
}

/// The host's buttons, checked, as rows of at most three.
fn button_rows(buttons: &[ActionButton]) -> Result<Vec<Block>, ChannelError> {
    if buttons.len() > MAX_BUTTONS {
        return Err(invalid(format!(
            "{} buttons; a message takes at most {MAX_BUTTONS} (5 rows of 3)",
            buttons.len()
        )));
    }
    let mut problems = vec![];
    let checked: Vec<Button> = buttons
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let button = Button {
                text: b.label.clone(),
                style: match b.style {
                    ButtonStyle::Default => Style::Default,
                    ButtonStyle::Primary => Style::Primary,
                    ButtonStyle::Danger => Style::Danger,
                },
                action: Action::Submit {
                    name: b.name.clone(),
                    value: b.value.clone(),
                },
            };
            problems.extend(blockkit::check_button(&format!("buttons[{i}]"), &button));
            button
        })
        .collect();
    if !problems.is_empty() {
        return Err(invalid(blockkit::describe(&problems)));
    }
    Ok(checked
        .chunks(blockkit::MAX_ROW_BUTTONS)
        .map(|row| Block::Action(row.to_vec()))
        .collect())
}

/// The preview of blocks: what they show, on one line, within KakaoWork's text limit.
fn preview(blocks: &[Block]) -> String {
    let mut s = blocks
        .iter()
        .filter_map(Block::plain_text)
        .collect::<Vec<_>>()
        .join("\n");
    if let Some((i, _)) = s.char_indices().nth(MAX_MESSAGE_TEXT_CHARS) {
        s.truncate(i);
    }
    if s.trim().is_empty() {
        // KakaoWork needs a text; a card of images and buttons has none of its own.
        s = "(카드 메시지)".into();
    }
    s
}

/// The parts of a request, or why it cannot be sent. `chunk_limit` bounds a part's text.
pub fn parts(req: &SendRequest, chunk_limit: usize) -> Result<Vec<Part>, ChannelError> {
    let rows = button_rows(&req.buttons)?;
    if let Some(json) = &req.blocks {
        let card = blockkit::parse_card(json).map_err(|p| invalid(blockkit::describe(&p)))?;
        let mut blocks = card.blocks;
        blocks.extend(rows);
        if blocks.len() + REPLY_ROOM > MAX_BLOCKS {
            return Err(invalid(format!(
                "the card and its buttons make {} blocks; one message takes at most {}",
                blocks.len(),
                MAX_BLOCKS - REPLY_ROOM
            )));
        }
        let text = Some(req.text.trim())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .or(card.text.filter(|t| !t.trim().is_empty()))
            .unwrap_or_else(|| preview(&blocks));
        let n = text.chars().count();
        if n > MAX_MESSAGE_TEXT_CHARS {
            return Err(invalid(format!(
                "the preview text is {n} characters; KakaoWork takes at most {MAX_MESSAGE_TEXT_CHARS}"
            )));
        }
        return Ok(vec![Part {
            text,
            blocks: Some(blocks),
        }]);
    }
    if req.text.trim().is_empty() {
        return Err(invalid("the text is empty".into()));
    }
    match req.format {
        TextFormat::Markdown => {
            let blocks = markdown::render(&req.text);
            if blocks.is_empty() {
                return Err(invalid("the markdown shows no text".into()));
            }
            Ok(pack(blocks, rows, chunk_limit))
        }
        TextFormat::Plain if rows.is_empty() => Ok(chunk::split(&req.text, chunk_limit)
            .into_iter()
            .map(|text| Part {
                text: text.into_owned(),
                blocks: None,
            })
            .collect()),
        TextFormat::Plain => {
            let mut parts: Vec<Part> = chunk::split(&req.text, chunk_limit)
                .into_iter()
                .map(|text| Part {
                    text: text.into_owned(),
                    blocks: None,
                })
                .collect();
            if let Some(last) = parts.last_mut() {
                let mut blocks: Vec<Block> = chunk::split(&last.text, blockkit::MAX_TEXT_CHARS)
                    .into_iter()
                    .map(|t| Block::Text(blockkit::Text::plain(t)))
                    .collect();
                blocks.extend(rows);
                last.blocks = Some(blocks);
            }
            Ok(parts)
        }
    }
}

/// Blocks in messages of at most `MAX_BLOCKS` (room kept for the Reply button, and for the
/// buttons on the last) showing at most about `chunk_limit` characters each.
fn pack(blocks: Vec<Block>, rows: Vec<Block>, chunk_limit: usize) -> Vec<Part> {
    let budget = chunk_limit.max(blockkit::MAX_TEXT_CHARS);
    let cap = MAX_BLOCKS - REPLY_ROOM - rows.len();
    let mut groups: Vec<Vec<Block>> = vec![];
    let mut cur: Vec<Block> = vec![];
    let mut chars = 0;
    for b in blocks {
        let n = b.plain_text().map_or(0, |t| t.chars().count());
        if !cur.is_empty() && (cur.len() == cap || chars + n > budget) {
            groups.push(std::mem::take(&mut cur));
            chars = 0;
        }
        chars += n;
        cur.push(b);
    }
    groups.push(cur);
    if let Some(last) = groups.last_mut() {
        last.extend(rows);
    }
    groups
        .into_iter()
        .map(|blocks| Part {
            text: preview(&blocks),
            blocks: Some(blocks),
        })
        .collect()
}

#[cfg(test)]
mod tests;
