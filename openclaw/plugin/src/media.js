// @ts-check
// Media in a send: KakaoWork shows an image by its URL (the component turns a markdown image of
// an image URL into an `image_link` block, and any other URL into a link). A local file would
// need KakaoWork's upload (`conversations.upload`, then `messages.send_attachments`), whose
// request format this plugin does not know: it is refused, saying so.

export class MediaError extends Error {
  constructor(message) {
    super(message);
    this.name = "MediaError";
  }
}

/** Every media URL of an OpenClaw send context or payload, in order, without repeats. */
export function mediaUrlsOf(...sources) {
  const urls = [];
  for (const s of sources) {
    if (!s) continue;
    for (const u of [s.mediaUrl, ...(Array.isArray(s.mediaUrls) ? s.mediaUrls : [])]) {
      if (typeof u === "string" && u.trim() && !urls.includes(u.trim())) urls.push(u.trim());
    }
  }
  return urls;
}

/**
 * `text` (markdown) with each media URL under it as a markdown image. Anything that is not an
 * http(s) URL is refused with the reason, before anything is sent.
 */
export function withMedia(text, urls) {
  if (urls.length === 0) return text;
  for (const u of urls) {
    if (!/^https?:\/\/\S+$/i.test(u)) {
      throw new MediaError(
        `cannot send ${JSON.stringify(u)}: KakaoWork shows media by http(s) URL, and uploading a local file (conversations.upload) is not supported by this plugin yet; put the file where KakaoWork can fetch it and send its URL`,
      );
    }
  }
  // Inside `<...>` a URL may hold spaces-free characters markdown would otherwise take apart.
  const images = urls.map((u) => `![](<${u}>)`);
  return [text?.trim() ?? "", ...images].filter(Boolean).join("\n\n");
}
