// Package store is the durable store of the game server: one garden (JSON
// state plus version) per user and the action dedup records that make
// action ids idempotency keys (protocol.md §2), in the SQLite file named by
// DB_PATH (protocol.md §11) or, with DATABASE_URL, in PostgreSQL
// ([OpenPostgres], [*Postgres]). Both keep the same guarantees, checked by
// one test suite (suite_test.go).
//
// Conditional commits: a [Commit] with Expect is written only if the
// stored garden is still at the version it was computed from, else Commit
// returns an error wrapping [ErrConflict] and writes nothing (another
// process on the same database wrote first). The garden reloads and
// applies again. In SQLite's group commit a conflict is found per
// statement and fails only its own commit, not the batch.
//
// [Open] returns a [*SQLite]. All its methods are safe for concurrent use.
// Writes go through [SQLite.Commit], which hands the [Commit] to one writer
// goroutine owned by the *SQLite (started by Open, stopped by
// [SQLite.Close]). The writer group-commits: it takes everything queued, up
// to Config.MaxBatch commits, writes it in one transaction and only then
// answers every waiter, so a caller may acknowledge an action to its client
// as soon as Commit returns nil. Reads use a separate pool of read-only
// connections and see every commit that has returned.
//
// The database runs in WAL mode. With Synchronous "NORMAL" (the default) a
// returned commit survives a crash or kill -9 of the process, because its WAL
// frames are written to the operating system before COMMIT returns; "FULL"
// also fsyncs the WAL on every commit, so it survives power loss.
//
// If a batch's transaction fails, it is rolled back. A failure of the
// database itself (locked beyond Config.BusyTimeout, full, I/O error) fails
// every commit of the batch at once; any other is retried commit by commit,
// so that it reaches only the commits it concerns (Commit validates its
// argument first, so in practice only database failures remain).
// [SQLite.Healthy] reports whether the latest transaction committed; while
// it did not, the writer tries a probe transaction every second, so health
// comes back without traffic (/readyz, protocol.md §11).
//
// Schema: one versioned set of migrations for both stores
// (migrations/sqlite, migrations/postgres, the same version numbers), applied
// by goose at Open; a database at a newer version than this server knows is
// refused ([ErrSchemaTooNew]). SQLite files of servers before goose
// (PRAGMA user_version 1) open unchanged.
//
// Open refuses an existing file that is not an SQLite database, whatever
// its size, and never writes to it ([ErrNotDatabase]).
//
// Garden writes are upserts that never let an older version overwrite a
// newer one. An action id is recorded once: a later record with the same
// (user id, action id) is ignored, so the first result stays; a
// conditional commit (Commit.Expect) carrying a known id writes nothing at
// all and returns a [*KnownActionError] with the stored record, so the
// garden needs no read before a new action. Records are
// kept by age only, Config.MaxActionAge (default 31 days: the 30 of
// protocol.md §2 and a day of grace for client clocks),
// never by count: the writer deletes the expired records of the users it
// writes for, and sweeps those of all users at Open and every minute (every
// second while a sweep finds more than it may delete at once).
package store
