-- The first schema of the PostgreSQL store: the same tables as SQLite's
-- schemaV1 (schema.go). Times are Unix nanoseconds; states and results are
-- stored verbatim as bytes (jsonb would reorder keys). seq records
-- insertion order, which breaks ties of equal at.

-- +goose Up
CREATE TABLE gardens (
	user_id    TEXT   NOT NULL PRIMARY KEY,
	version    BIGINT NOT NULL,
	state      BYTEA  NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE actions (
	user_id   TEXT   NOT NULL,
	action_id TEXT   NOT NULL,
	result    BYTEA  NOT NULL,
	at        BIGINT NOT NULL,
	seq       BIGINT GENERATED ALWAYS AS IDENTITY,
	PRIMARY KEY (user_id, action_id)
);
CREATE INDEX actions_user_at ON actions (user_id, at);
CREATE INDEX actions_at ON actions (at);

-- +goose Down
DROP TABLE actions;
DROP TABLE gardens;
