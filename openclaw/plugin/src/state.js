// @ts-check
// Where the plugin's state (rate budget, send ledgers, replay markers, caches, key-id salt,
// approval records) lives: `channels.kakao.state` (a Redis URL), else `KAKAOWORK_STATE`, else
// the SQLite file in OpenClaw's state directory. On Redis it is shared with every gateway and
// `kakaowork-host` process pointing at the same Redis.
import { join } from "node:path";
import { SqliteKv } from "./kv.js";
import { RedisKv, shownUrl } from "./kv-redis.js";

export const STATE_ENV = "KAKAOWORK_STATE";
export const STATE_CA_ENV = "KAKAOWORK_STATE_CA";

/** The SQLite file: `<OpenClaw state dir>/kakaowork/state.sqlite3`. */
export function statePath(env = process.env) {
  const base =
    env.OPENCLAW_STATE_DIR?.trim() || join(env.HOME ?? env.USERPROFILE ?? ".", ".openclaw");
  return join(base, "kakaowork", "state.sqlite3");
}

/** A setting of the state that cannot be used, as a config issue (path, message, fix). */
export class StateConfigError extends Error {
  constructor(issue) {
    super(`${issue.path}: ${issue.message} (fix: ${issue.fix})`);
    this.name = "StateConfigError";
    this.issue = issue;
  }
}

/**
 * Which store the section and environment ask for.
 * @returns {{kind: "redis", url: string, shown: string, ca?: string} | {kind: "sqlite", path: string}}
 */
export function stateSpec(section, env = process.env) {
  const fromConfig = section?.state;
  const fromEnv = env[STATE_ENV]?.trim();
  const [value, path] =
    fromConfig !== undefined ? [fromConfig, "channels.kakao.state"] : [fromEnv || undefined, STATE_ENV];
  if (value === undefined) return { kind: "sqlite", path: statePath(env) };
  if (typeof value !== "string" || !/^rediss?:\/\/[^/]/.test(value)) {
    throw new StateConfigError({
      path,
      message: `takes a Redis URL, redis://host:port/db (rediss:// for TLS), not ${typeof value === "string" ? shownUrl(value) : typeof value}`,
      fix: "write it like redis://127.0.0.1:6379/0, or remove it to keep the state in SQLite",
    });
  }
  // The CA of a rediss:// state: the config's, else the environment's, else the system's.
  const ca = (typeof section?.stateCa === "string" && section.stateCa.trim()) || env[STATE_CA_ENV]?.trim() || undefined;
  return { kind: "redis", url: value, shown: shownUrl(value), ca };
}

/**
 * Opens the store of a spec (Redis connects on its first call).
 * @param {ReturnType<typeof stateSpec>} spec
 */
export function openStore(spec) {
  return spec.kind === "redis" ? new RedisKv(spec.url, { ca: spec.ca }) : new SqliteKv(spec.path);
}
