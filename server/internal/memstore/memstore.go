// Package memstore is an in-memory stand-in for the SQLite store, for
// tests of the packages above it (the store has its own tests against
// real files). It keeps the store's rules that callers rely on: a garden
// write never replaces a newer version, a conditional commit (Expect) that
// does not hold fails with store.ErrConflict, a conditional commit with a
// known action id fails with *store.KnownActionError and writes nothing,
// and the first record of an action id stays.
package memstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/cosmic-gardener/realtime/server/store"
)

// Store implements garden.Store in memory. Safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	gardens map[string]store.Garden
	actions map[string]map[string]store.ActionRecord // user id, action id
	commits []store.Commit
	fail    error
}

// New returns an empty Store.
func New() *Store {
	return &Store{gardens: map[string]store.Garden{}, actions: map[string]map[string]store.ActionRecord{}}
}

// LoadGarden implements garden.Store.
func (s *Store) LoadGarden(_ context.Context, userID string) (store.Garden, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gardens[userID]
	return g, ok, nil
}

// LookupAction returns the record of an action id (for tests): the first
// record of the id stays.
func (s *Store) LookupAction(_ context.Context, userID, actionID string) (store.ActionRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.actions[userID][actionID]
	return a, ok, nil
}

// Commit implements garden.Store; it fails with the error set by Fail.
func (s *Store) Commit(_ context.Context, c store.Commit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if e := c.Expect; e != nil {
		// Records first, as in the stores: a known id wins over a
		// conflict, and nothing of the commit is written.
		for _, a := range c.Actions {
			if rec, ok := s.actions[a.UserID][a.ActionID]; ok {
				return &store.KnownActionError{Record: rec}
			}
		}
		old, ok := s.gardens[e.UserID]
		if (ok && old.Version != e.Version) || (!ok && e.Version != 0) {
			return fmt.Errorf("memstore: %w", store.ErrConflict)
		}
	}
	s.commits = append(s.commits, c)
	if g := c.Garden; g != nil && g.State != nil {
		if old, ok := s.gardens[g.UserID]; !ok || g.Version > old.Version || c.Expect != nil {
			s.gardens[g.UserID] = *g
		}
	}
	for _, a := range c.Actions {
		m := s.actions[a.UserID]
		if m == nil {
			m = map[string]store.ActionRecord{}
			s.actions[a.UserID] = m
		}
		if _, ok := m[a.ActionID]; !ok {
			m[a.ActionID] = a
		}
	}
	return nil
}

// Fail makes every Commit fail with err until called with nil.
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Commits returns the commits accepted so far.
func (s *Store) Commits() []store.Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.Commit(nil), s.commits...)
}

// Garden returns the stored garden of userID.
func (s *Store) Garden(userID string) (store.Garden, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gardens[userID]
	return g, ok
}
