-- The first schema of the SQLite store, as the PRAGMA user_version step 1
-- of earlier servers created it (hence IF NOT EXISTS: on a file of theirs
-- this step only records version 1). Times are Unix nanoseconds. The
-- actions rowid records insertion order, which breaks ties of equal at.
-- actions_user_at serves LoadActions and per-user pruning, actions_at the
-- periodic sweep of expired records.

-- +goose Up
CREATE TABLE IF NOT EXISTS gardens (
	user_id    TEXT    NOT NULL PRIMARY KEY,
	version    INTEGER NOT NULL,
	state      BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
	user_id   TEXT    NOT NULL,
	action_id TEXT    NOT NULL,
	result    BLOB    NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (user_id, action_id)
);
CREATE INDEX IF NOT EXISTS actions_user_at ON actions (user_id, at);
CREATE INDEX IF NOT EXISTS actions_at ON actions (at);

-- +goose Down
DROP TABLE actions;
DROP TABLE gardens;
