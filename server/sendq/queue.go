package sendq

import (
	"time"
)

// Config sets a Queue's limits. Zero fields take the defaults.
type Config struct {
	// MaxControl bounds the control lane in messages, default 1024: more
	// than a rate-limit flood can queue before it is closed with 4429.
	MaxControl int
	// MaxControlBytes bounds it in bytes, default 1 MiB.
	MaxControlBytes int
	// UpdatesPerSecond limits state updates, default 10 (protocol.md §5).
	UpdatesPerSecond float64
	// BytesPerSecond is the byte budget refill rate; 0 means unlimited.
	BytesPerSecond int
	// BurstBytes is the bucket size, default BytesPerSecond (one second).
	BurstBytes int
}

func (c Config) withDefaults() Config {
	if c.MaxControl <= 0 {
		c.MaxControl = 1024
	}
	if c.MaxControlBytes <= 0 {
		c.MaxControlBytes = 1 << 20
	}
	if c.UpdatesPerSecond <= 0 {
		c.UpdatesPerSecond = 10
	}
	if c.BurstBytes <= 0 {
		c.BurstBytes = c.BytesPerSecond
	}
	return c
}

// Queue is described in the package comment. Its zero value is not usable:
// use New.
type Queue struct {
	cfg      Config
	interval time.Duration // the pace while changes keep coming
	quickGap time.Duration // the least gap after an update nothing was coalesced into
	window   time.Duration // at most cap(recent) paced updates in any window this long

	// recent holds when the last paced (not urgent) state updates went
	// out, as offsets from base, oldest at recent[oldest] once full.
	recent []time.Duration
	oldest int
	base   time.Time

	coalescedSince bool // a change merged into a pending one since the last update

	control      [][]byte
	controlBytes int

	statePending bool
	stateUrgent  bool      // next state update skips the rate limit
	nextState    time.Time // earliest time the next state update may go

	tokens     float64 // bytes; may go negative after a large frame
	lastRefill time.Time
}

// maxWindowUpdates bounds the ring of recent update times.
const maxWindowUpdates = 64

// New returns an empty queue.
func New(cfg Config) *Queue {
	cfg = cfg.withDefaults()
	// The ring holds one second of updates, at most maxWindowUpdates: for
	// higher rates the window shrinks to maxWindowUpdates/rate seconds
	// (the average stays at the rate) instead of the ring growing with it.
	perWindow := min(max(1, int(cfg.UpdatesPerSecond)), maxWindowUpdates)
	interval := time.Duration(float64(time.Second) / cfg.UpdatesPerSecond)
	return &Queue{
		cfg:      cfg,
		interval: interval,
		quickGap: interval * 9 / 10,
		window:   time.Duration(float64(perWindow) * float64(time.Second) / cfg.UpdatesPerSecond),
		recent:   make([]time.Duration, 0, perWindow),
		tokens:   float64(cfg.BurstBytes),
	}
}

// PushControl appends an encoded control frame. It never blocks; it
// returns false when the lane is full, and the caller drops the connection
// (the session's resend buffer, not this queue, guarantees delivery).
func (q *Queue) PushControl(frame []byte) bool {
	if len(q.control) >= q.cfg.MaxControl || q.controlBytes+len(frame) > q.cfg.MaxControlBytes {
		return false
	}
	q.control = append(q.control, frame)
	q.controlBytes += len(frame)
	return true
}

// DropControl empties the control lane, for a session moving to a new
// connection: numbered frames are re-sent from the resend buffer instead.
func (q *Queue) DropControl() {
	q.control, q.controlBytes = nil, 0
}

// MarkState records that a newer state exists. urgent skips the rate limit
// once: answers to GetState and the catch-up after a resume (protocol.md §5).
// It reports whether a pending state was coalesced into this one.
func (q *Queue) MarkState(urgent bool) (coalesced bool) {
	coalesced = q.statePending
	q.coalescedSince = q.coalescedSince || coalesced
	q.statePending = true
	q.stateUrgent = q.stateUrgent || urgent
	return coalesced
}

// StatePending reports whether a state update waits.
func (q *Queue) StatePending() bool { return q.statePending }

// Len returns the number of queued control messages.
func (q *Queue) Len() int { return len(q.control) }

// Kind says what Next found.
type Kind int

const (
	// Idle: nothing to send.
	Idle Kind = iota
	// Control: a control message was popped.
	Control
	// State: a state update may be sent now; call SentState after.
	State
	// Wait: a state update waits for the rate limit or the byte budget;
	// call Next again after the returned duration or when something new
	// is pushed.
	Wait
)

// Next returns what to send at now. Control messages go first and are
// never held back by the budget; state waits for both limits.
func (q *Queue) Next(now time.Time) (Kind, []byte, time.Duration) {
	if len(q.control) > 0 {
		f := q.control[0]
		q.control[0] = nil
		q.control = q.control[1:]
		q.controlBytes -= len(f)
		if len(q.control) == 0 {
			q.control = nil // let the backing array go while idle
		}
		return Control, f, 0
	}
	if !q.statePending {
		return Idle, nil, 0
	}
	var wait time.Duration
	if !q.stateUrgent {
		earliest := q.nextState
		if len(q.recent) == cap(q.recent) {
			earliest = later(earliest, q.base.Add(q.recent[q.oldest]+q.window))
		}
		if now.Before(earliest) {
			wait = earliest.Sub(now)
		}
	}
	if q.cfg.BytesPerSecond > 0 {
		q.refill(now)
		if q.tokens < 0 {
			wait = max(wait, time.Duration(-q.tokens/float64(q.cfg.BytesPerSecond)*float64(time.Second))+time.Millisecond)
		}
	}
	if wait > 0 {
		return Wait, nil, wait
	}
	return State, nil, 0
}

// Sent charges n bytes written at now to the byte budget.
func (q *Queue) Sent(now time.Time, n int) {
	if q.cfg.BytesPerSecond <= 0 {
		return
	}
	q.refill(now)
	q.tokens -= float64(n)
}

// SentState records a state update of n bytes written at now, or none
// (n == 0: the session was already current).
//
// The limit (protocol.md §5, at most UpdatesPerSecond) is kept two ways: no
// window of one second (for fractional rates: of perWindow/rate seconds)
// holds more than perWindow paced updates, and updates are spaced
// interval apart while changes keep coming (one was coalesced since the
// last update). A change that arrives after a quiet 90 % of an interval
// goes out at once: strict spacing would make a garden changing about
// UpdatesPerSecond times a second wait for its own phase, up to a whole
// interval each time (docs/performance.md, Round 2 item 5).
// Urgent updates keep the spacing but stay out of the window count.
func (q *Queue) SentState(now time.Time, n int) {
	urgent, coalesced := q.stateUrgent, q.coalescedSince
	q.statePending, q.stateUrgent, q.coalescedSince = false, false, false
	if n == 0 {
		return
	}
	gap := q.quickGap
	if coalesced {
		gap = q.interval
	}
	q.nextState = now.Add(gap)
	if !urgent {
		q.remember(now)
	}
	q.Sent(now, n)
}

// remember records a paced update at now in the window ring.
func (q *Queue) remember(now time.Time) {
	if q.base.IsZero() {
		q.base = now
	}
	at := now.Sub(q.base)
	if len(q.recent) < cap(q.recent) {
		q.recent = append(q.recent, at)
		return
	}
	q.recent[q.oldest] = at
	q.oldest = (q.oldest + 1) % len(q.recent)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (q *Queue) refill(now time.Time) {
	if q.lastRefill.IsZero() {
		q.lastRefill = now
		return
	}
	if d := now.Sub(q.lastRefill); d > 0 {
		q.tokens = min(float64(q.cfg.BurstBytes), q.tokens+d.Seconds()*float64(q.cfg.BytesPerSecond))
		q.lastRefill = now
	}
}
