package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cosmic-gardener/realtime/server/garden"
	"github.com/cosmic-gardener/realtime/server/sendq"
)

// Observer receives session events for metrics. Methods must be cheap,
// non-blocking and safe for concurrent use.
type Observer interface {
	Opened(resumed bool)
	Expired()
	TakenOver()
	Resync(reason string)
	Coalesced()
	Overflow()
	StateSent(full bool, bytes int)
}

// Config configures a Manager. Zero fields take the defaults.
type Config struct {
	Gardens *garden.Manager // required
	// Retention is how long a session outlives its connection, default 2m.
	Retention time.Duration
	// MaxPerUser bounds one user's sessions, default 1000. Beyond it the
	// oldest detached session is evicted; with none, Open fails with
	// ErrTooManySessions.
	MaxPerUser int
	// MaxResend bounds each session's resend buffer in messages, default
	// 1024. A client that never acknowledges loses the oldest first, and
	// a resume that needs them falls back to a full resync.
	MaxResend int
	Queue     sendq.Config
	Clock     func() time.Time
	Observer  Observer
}

// ErrTooManySessions is returned by Open when a user has MaxPerUser
// sessions, all connected.
var ErrTooManySessions = errors.New("session: too many sessions for this user")

// Manager owns every session. Safe for concurrent use.
type Manager struct {
	cfg Config
	obs Observer

	mu       sync.Mutex
	sessions map[string]*Session
	byUser   map[string][]*Session
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Gardens == nil {
		return nil, errors.New("session: Config.Gardens is required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 2 * time.Minute
	}
	if cfg.MaxPerUser <= 0 {
		cfg.MaxPerUser = 1000
	}
	if cfg.MaxResend <= 0 {
		cfg.MaxResend = 1024
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Manager{cfg: cfg, obs: cfg.Observer, sessions: map[string]*Session{}, byUser: map[string][]*Session{}}, nil
}

// Open attaches outlet o to userID's session resumeID when it exists and
// belongs to userID (resumed is true), or to a new session. welcome builds
// the Welcome frame, which goes out first. The caller must Detach when
// the connection ends.
func (m *Manager) Open(ctx context.Context, o Outlet, userID, resumeID string, lastSeq uint64, welcome func(s *Session, resumed bool) []byte) (s *Session, resumed bool, err error) {
	if resumeID != "" {
		// Under m.mu, so that Sweep cannot expire the session between the
		// lookup and the attach.
		m.mu.Lock()
		s = m.sessions[resumeID]
		if s != nil && s.userID == userID {
			s.attach(o, true, lastSeq, welcome(s, true))
			m.mu.Unlock()
			m.obs.Opened(true)
			return s, true, nil
		}
		m.mu.Unlock()
		m.obs.Resync("unknown_session")
	}
	g, err := m.cfg.Gardens.Acquire(ctx, userID)
	if err != nil {
		return nil, false, err
	}
	s = &Session{id: newID(), userID: userID, garden: g, m: m, q: sendq.New(m.cfg.Queue)}
	if err := m.add(s); err != nil {
		m.cfg.Gardens.Release(g)
		return nil, false, err
	}
	g.Subscribe(s)
	s.attach(o, false, 0, welcome(s, false))
	m.obs.Opened(false)
	return s, false, nil
}

func (m *Manager) add(s *Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if set := m.byUser[s.userID]; len(set) >= m.cfg.MaxPerUser {
		var oldest *Session
		var oldestAt time.Time
		for _, c := range set {
			if at, detached := c.detachedSince(); detached && (oldest == nil || at.Before(oldestAt)) {
				oldest, oldestAt = c, at
			}
		}
		if oldest == nil {
			return ErrTooManySessions
		}
		m.removeLocked(oldest)
	}
	m.byUser[s.userID] = append(m.byUser[s.userID], s)
	m.sessions[s.id] = s
	return nil
}

// Detach ends o's service of s; the session is kept for Retention.
func (m *Manager) Detach(s *Session, o Outlet) {
	s.detach(o, m.cfg.Clock())
}

// Sweep expires sessions detached for longer than Retention. The owner of
// the Manager calls it periodically.
func (m *Manager) Sweep() {
	cutoff := m.cfg.Clock().Add(-m.cfg.Retention)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		if at, detached := s.detachedSince(); detached && at.Before(cutoff) {
			m.removeLocked(s)
		}
	}
}

// Close expires every session. Connections must be gone first.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		m.removeLocked(s)
	}
}

func (m *Manager) removeLocked(s *Session) {
	delete(m.sessions, s.id)
	set := m.byUser[s.userID]
	if i := slices.Index(set, s); i >= 0 {
		if set = slices.Delete(set, i, i+1); len(set) == 0 {
			delete(m.byUser, s.userID)
		} else {
			m.byUser[s.userID] = set
		}
	}
	s.garden.Unsubscribe(s)
	m.cfg.Gardens.Release(s.garden)
	m.obs.Expired()
}

// Count returns the number of live sessions.
func (m *Manager) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// Get returns a session by id, for tests and tools.
func (m *Manager) Get(id string) (*Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	return s, ok
}

func (s *Session) detachedSince() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.detachedAt, s.out == nil && !s.detachedAt.IsZero()
}

// newID returns a random session id: 128 bits, hex.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("session: crypto/rand failed: %v", err)) // never on supported platforms
	}
	return hex.EncodeToString(b[:])
}

type nopObserver struct{}

func (nopObserver) Opened(bool)         {}
func (nopObserver) Expired()            {}
func (nopObserver) TakenOver()          {}
func (nopObserver) Resync(string)       {}
func (nopObserver) Coalesced()          {}
func (nopObserver) Overflow()           {}
func (nopObserver) StateSent(bool, int) {}
