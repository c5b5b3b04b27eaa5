// @ts-check
// The host's part of the configuration: the `channels.kakao` section, the App Key of each
// account (inline `appKey`, then `keyFile`, then KAKAOWORK_APP_KEY for the default account) and
// the redacted copy the guest gets. Everything else (accounts, defaults, validation) is parsed
// by the guest's `configure`, the one place that knows the section's rules.
import { readFileSync } from "node:fs";
import { createHash, createHmac } from "node:crypto";
/** @import { CredentialSource } from "../dist/component/interfaces/moltbot-channel-channel.js" */

export const CHANNEL_ID = "kakao";
export const APP_KEY_ENV = "KAKAOWORK_APP_KEY";

/** The `channels.kakao` section of an OpenClaw config (`{}` when absent). */
export function sectionOf(cfg) {
  const s = cfg?.channels?.[CHANNEL_ID];
  return s && typeof s === "object" && !Array.isArray(s) ? s : {};
}

/** The guest's account id for a raw `accounts` key (the same rule as the guest's). */
export function normalizeAccountId(raw) {
  return [...String(raw).trim().toLowerCase()]
    .map((c) => (/^[a-z0-9_-]$/.test(c) ? c : "-"))
    .slice(0, 64)
    .join("");
}

/**
 * The section with every `appKey` string, and the state's URL (it may hold Redis's password),
 * replaced by `true`: all the guest may see.
 */
export function redact(section) {
  const copy = structuredClone(section);
  if (typeof copy.appKey === "string") copy.appKey = true;
  if (typeof copy.state === "string") copy.state = true;
  if (copy.accounts && typeof copy.accounts === "object") {
    for (const a of Object.values(copy.accounts)) {
      if (a && typeof a === "object" && typeof a.appKey === "string") a.appKey = true;
    }
  }
  return copy;
}

/**
 * A short non-secret id of a key, so that the guest notices a changed key: HMAC-SHA-256 under
 * the state's salt, so that it cannot be used to test guesses of the key without the salt.
 */
export function keyId(key, salt) {
  return createHmac("sha256", salt).update(key).digest("hex").slice(0, 16);
}

export class CredentialError extends Error {
  constructor(message) {
    super(message);
    this.name = "CredentialError";
  }
}

/**
 * Why an App Key cannot be one, if it cannot: it goes into an HTTP header, so it is 1-512 visible
 * ASCII characters. The same rule as the Rust host's; both run the cases of `spec/app-keys.json`.
 */
export function appKeyProblem(key) {
  if (/[\n\r]/.test(key)) return "holds a line break";
  if (/[^\x00-\x7f]/.test(key)) return "holds a character outside ASCII";
  if (/[^\x21-\x7e]/.test(key)) return "holds a space or control character";
  if (key.length < 1 || key.length > 512) return "is not 1-512 characters long";
  return undefined;
}

/**
 * Resolves each account's App Key. `accounts` is what the guest's `configure` reported (ids
 * and which is the default); the raw section gives the key material.
 * @returns {Map<string, {source: CredentialSource, key?: string}>}
 */
export function resolveCredentials(section, accountIds, defaultAccount, env = process.env) {
  const rawAccounts =
    section.accounts && typeof section.accounts === "object" ? section.accounts : {};
  const byId = new Map(Object.entries(rawAccounts).map(([k, v]) => [normalizeAccountId(k), { k, v }]));
  /** @type {Map<string, {source: CredentialSource, key?: string}>} */
  const out = new Map();
  const envKey = typeof env[APP_KEY_ENV] === "string" ? env[APP_KEY_ENV].trim() : "";
  for (const id of accountIds) {
    const own = byId.get(id);
    const entry = own && own.v && typeof own.v === "object" ? own.v : {};
    const path = own ? `channels.kakao.accounts.${own.k}` : "channels.kakao";
    const inline = [entry.appKey, section.appKey].find((k) => typeof k === "string" && k.trim());
    // Trimmed, as the guest's parser (and so the Rust host) reads it (spec/credentials.json).
    const keyFile = [entry.keyFile, section.keyFile].find((k) => typeof k === "string" && k.trim())?.trim();
    if (inline) {
      out.set(id, { source: "config", key: inline.trim() });
    } else if (keyFile) {
      let text;
      try {
        text = readFileSync(keyFile, "utf8").trim();
      } catch (e) {
        throw new CredentialError(
          `${path}.keyFile: cannot read ${keyFile} for account \`${id}\`: ${e.message} (fix: point keyFile at a readable file that holds the App Key)`,
        );
      }
      if (!text) {
        throw new CredentialError(
          `${path}.keyFile: ${keyFile} for account \`${id}\` is empty (fix: put the App Key in it)`,
        );
      }
      out.set(id, { source: "key-file", key: text });
    } else if (id === defaultAccount && envKey) {
      out.set(id, { source: "env", key: envKey });
    } else {
      out.set(id, { source: "none" });
    }
    const key = out.get(id)?.key;
    const why = key === undefined ? undefined : appKeyProblem(key);
    if (why) {
      // Refused here, naming the account, rather than throwing later in a request's headers;
      // the key itself is not shown.
      throw new CredentialError(
        `${path}.appKey: the App Key of account \`${id}\` ${why} (fix: copy the App Key again from the KakaoWork admin console, as one line)`,
      );
    }
  }
  return out;
}

/**
 * What the section's key files hold now (a digest each, or why they cannot be read), so that a
 * running gateway notices a rotated key file without a config change.
 */
export function keyFileStamps(section) {
  const files = [section.keyFile];
  if (section.accounts && typeof section.accounts === "object") {
    for (const a of Object.values(section.accounts)) files.push(a?.keyFile);
  }
  return files
    .filter((f) => typeof f === "string" && f.trim())
    .map((f) => {
      try {
        return createHash("sha256").update(readFileSync(f.trim(), "utf8").trim()).digest("hex");
      } catch (e) {
        return e.code ?? "unreadable";
      }
    });
}

/** Account ids as the guest derives them (OpenClaw's config adapter is synchronous). */
export function listAccountIds(section) {
  const a = section.accounts;
  if (a && typeof a === "object" && !Array.isArray(a) && Object.keys(a).length > 0) {
    return [...new Set(Object.keys(a).map(normalizeAccountId))].sort();
  }
  const d = section.defaultAccount;
  return [typeof d === "string" ? normalizeAccountId(d) : "default"];
}

/** `defaultAccount` if it names an account, else `default`, else the first id. */
export function defaultAccountId(section) {
  const ids = listAccountIds(section);
  const d = typeof section.defaultAccount === "string" ? normalizeAccountId(section.defaultAccount) : null;
  if (d && ids.includes(d)) return d;
  if (ids.includes("default")) return "default";
  return ids[0];
}

/** Base fields overridden by the account's own: what OpenClaw's adapters read. */
export function resolveAccount(section, accountId, env = process.env) {
  const id = accountId ? normalizeAccountId(accountId) : defaultAccountId(section);
  const raw = Object.entries(section.accounts ?? {}).find(([k]) => normalizeAccountId(k) === id);
  const own = raw && raw[1] && typeof raw[1] === "object" ? raw[1] : {};
  const merged = { ...section, ...own };
  delete merged.accounts;
  delete merged.defaultAccount;
  const hasKey =
    (typeof merged.appKey === "string" && merged.appKey.trim() !== "") ||
    (typeof merged.keyFile === "string" && merged.keyFile.trim() !== "") ||
    (id === defaultAccountId(section) && Boolean(env[APP_KEY_ENV]?.trim()));
  return {
    accountId: id,
    name: typeof merged.name === "string" ? merged.name : undefined,
    enabled: section.enabled !== false && merged.enabled !== false,
    configured: hasKey,
    dmPolicy: typeof merged.dmPolicy === "string" ? merged.dmPolicy : "pairing",
    allowFrom: Array.isArray(merged.allowFrom) ? merged.allowFrom.map(String) : [],
    callbackUrl: typeof merged.callbackUrl === "string" ? merged.callbackUrl : undefined,
  };
}
