-- The SQLite state's schema and pragmas, run by both hosts on every open
-- (host-test/src/runtime/kv/sqlite.rs through include_str!; openclaw/plugin/src/kv.js reads the
-- copy `npm run build` puts in openclaw/plugin/dist/). Files already on disk must keep opening:
-- change it only with a migration.
-- WAL: a serving process and an admin's CLI share the file.
PRAGMA journal_mode = WAL;
-- FULL: a claim that guards against sending twice is on disk before the request leaves.
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;
