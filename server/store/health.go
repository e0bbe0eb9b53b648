package store

import (
	"fmt"
	"log/slog"
	"sync/atomic"
)

// health is a store's commit health, shared by SQLite and Postgres: the
// error of the latest write transaction (a commit or a probe), nil when it
// committed. Safe for concurrent use; reading it does no I/O.
type health struct {
	failure atomic.Pointer[error]
}

// failing reports whether the latest transaction failed, so that the
// store's maintenance loop probes until one commits again.
func (h *health) failing() bool { return h.failure.Load() != nil }

// err returns the latest failure, or nil.
func (h *health) err() error {
	if e := h.failure.Load(); e != nil {
		return *e
	}
	return nil
}

// set records the outcome of the latest transaction and logs each change
// between failing and committing once.
func (h *health) set(log *slog.Logger, err error) {
	if err == nil {
		if h.failure.Swap(nil) != nil {
			log.Info("store: commits succeed again")
		}
		return
	}
	err = fmt.Errorf("store: cannot commit: %w", err)
	if h.failure.Swap(&err) == nil {
		log.Error("store: commits fail; not ready until one succeeds", "error", err)
	}
}
