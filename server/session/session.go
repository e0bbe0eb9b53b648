package session

import (
	"sync"
	"time"

	"github.com/cosmic-gardener/realtime/server/garden"
	"github.com/cosmic-gardener/realtime/server/sendq"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// Outlet is the connection serving a session. Its methods are called with
// the session lock held and must not block.
type Outlet interface {
	// Wake starts the connection's writer (start is true: none runs) or
	// nudges the running one, so that it calls Session.Next.
	Wake(start bool)
	// TakenOver tells the connection a newer one took the session over;
	// it closes with 4409.
	TakenOver()
	// Overflow tells the connection its send queue is full; it closes, and
	// the client resumes (nothing numbered is lost).
	Overflow()
}

// Session is one device's session. Safe for concurrent use.
type Session struct {
	id     string
	userID string
	garden *garden.Garden
	m      *Manager

	mu           sync.Mutex
	out          Outlet
	writerActive bool
	detachedAt   time.Time

	q        *sendq.Queue
	welcome  []byte
	resendQ  [][]byte   // numbered frames to write before anything else
	resend   []numbered // written or queued, not yet acknowledged
	stateLog []numberedState

	seq         uint64 // last seq assigned
	acked       uint64
	baseSeq     uint64 // seq of the newest state update dropped from stateLog
	baseVersion uint64 // and its version
	lostBefore  uint64 // resend entries below this seq were dropped
	sentVersion uint64 // version of the newest state update written
	wantFull    bool
}

type numbered struct {
	seq   uint64
	frame []byte
}

type numberedState struct {
	seq, version uint64
}

// ID returns the session id sent in Welcome.
func (s *Session) ID() string { return s.id }

// UserID returns the owner.
func (s *Session) UserID() string { return s.userID }

// Garden returns the user's garden.
func (s *Session) Garden() *garden.Garden { return s.garden }

// attach makes o the session's connection (see Manager.Open).
func (s *Session) attach(o Outlet, resumed bool, lastSeq uint64, welcome []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.out; old != nil && old != o {
		old.TakenOver()
		s.m.obs.TakenOver()
	}
	s.out, s.writerActive, s.detachedAt = o, false, time.Time{}
	s.welcome = welcome
	s.q.DropControl() // numbered frames come back from resend below
	s.resendQ = nil

	if !resumed {
		s.wantFull = true
		s.q.MarkState(true)
		s.wake()
		return
	}
	lastSeq = min(lastSeq, s.seq)
	clientVersion, known := s.versionAt(lastSeq)
	if lastSeq > s.acked {
		s.ack(lastSeq)
	}
	for _, r := range s.resend {
		if r.seq > lastSeq {
			s.resendQ = append(s.resendQ, r.frame)
		}
	}
	// Every state update after lastSeq is coalesced into one from the
	// client's version; numbered state entries after it are dropped.
	s.stateLog = trimAfter(s.stateLog, lastSeq)
	s.sentVersion = clientVersion
	if !known || (s.lostBefore > 0 && lastSeq+1 < s.lostBefore) {
		s.wantFull = true
		s.m.obs.Resync("resume_gap")
	}
	s.q.MarkState(true)
	s.wake()
}

// versionAt returns the state version a client that received every
// message up to seq holds, and whether the session knows it.
func (s *Session) versionAt(seq uint64) (uint64, bool) {
	if seq < s.acked || seq < s.baseSeq {
		return 0, false
	}
	v := s.baseVersion
	for _, e := range s.stateLog {
		if e.seq > seq {
			break
		}
		v = e.version
	}
	return v, v != 0
}

func trimAfter(log []numberedState, seq uint64) []numberedState {
	for i, e := range log {
		if e.seq > seq {
			return log[:i]
		}
	}
	return log
}

// detach releases o if it still serves the session.
func (s *Session) detach(o Outlet, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == o {
		s.out, s.writerActive, s.detachedAt = nil, false, now
		s.welcome, s.resendQ = nil, nil
		s.q.DropControl()
	}
}

// Ack trims the resend buffer up to seq (protocol.md §3 Ack).
func (s *Session) Ack(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.acked && seq <= s.seq {
		s.ack(seq)
	}
}

func (s *Session) ack(seq uint64) {
	s.acked = seq
	i := 0
	for i < len(s.resend) && s.resend[i].seq <= seq {
		s.resend[i] = numbered{}
		i++
	}
	s.resend = s.resend[i:]
	j := 0
	for j < len(s.stateLog) && s.stateLog[j].seq <= seq {
		s.baseSeq, s.baseVersion = s.stateLog[j].seq, s.stateLog[j].version
		j++
	}
	s.stateLog = s.stateLog[j:]
}

// SendResult queues the ActionResult answering action id; data is the
// encoded result (protocol.AppendResultData, or the record a replay
// found). It is numbered (see send).
func (s *Session) SendResult(o Outlet, id string, data []byte) {
	s.send(o, true, func(dst []byte, seq uint64) []byte { return protocol.AppendResult(dst, id, seq, data) })
}

// SendError queues an Error echoing id ("" for none); numbered is false
// only for one not kept for resume (rate_limited, protocol.md §2).
func (s *Session) SendError(o Outlet, id, code, message string, numbered bool) {
	s.send(o, numbered, func(dst []byte, seq uint64) []byte { return protocol.AppendError(dst, id, seq, code, message) })
}

// SendHeartbeat queues the answer to a Heartbeat, not numbered.
func (s *Session) SendHeartbeat(o Outlet) {
	s.send(o, false, func(dst []byte, _ uint64) []byte { return protocol.AppendHeartbeat(dst) })
}

// send queues a control message from outlet o, built by frame with its seq
// (0 when not numbered). numbered messages get the next seq and enter the
// resend buffer at once, so they survive a dropped connection or a full
// queue (protocol.md §5). Messages from an outlet that no longer serves the
// session are dropped, numbered ones excepted: they go to the connection
// that took the session over, so that its seq has no gap over an
// ActionResult or Error (protocol.md §5).
func (s *Session) send(o Outlet, numbered bool, frame func(dst []byte, seq uint64) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f []byte
	if numbered {
		s.seq++
		f = frame(nil, s.seq)
		s.remember(s.seq, f)
	} else {
		f = frame(nil, 0)
	}
	if s.out == nil || (s.out != o && !numbered) {
		return
	}
	if !s.q.PushControl(f) {
		s.m.obs.Overflow()
		s.out.Overflow()
		return
	}
	s.wake()
}

func (s *Session) remember(seq uint64, frame []byte) {
	if len(s.resend) >= s.m.cfg.MaxResend {
		s.lostBefore = s.resend[0].seq + 1
		s.resend[0] = numbered{}
		s.resend = s.resend[1:]
	}
	s.resend = append(s.resend, numbered{seq: seq, frame: frame})
}

// RequestFull queues a full state update that skips the rate limit: the
// answer to GetState.
func (s *Session) RequestFull() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wantFull = true
	s.q.MarkState(true)
	s.wake()
}

// Changed implements garden.Subscriber.
func (s *Session) Changed(_ *garden.Snapshot, _ garden.Subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.q.MarkState(false) {
		s.m.obs.Coalesced()
	}
	s.wake()
}

func (s *Session) wake() {
	if s.out == nil {
		return
	}
	start := !s.writerActive
	s.writerActive = true
	s.out.Wake(start)
}

// Kind says what Next produced.
type Kind = sendq.Kind

// Next is called by o's writer: it appends the next frame to buf and
// returns it with sendq.Control or sendq.State, or says to wait
// (sendq.Wait, with a duration) or stop (sendq.Idle: the writer exits and
// is woken again by Outlet.Wake). Only the attached outlet gets frames.
func (s *Session) Next(o Outlet, now time.Time, buf []byte) ([]byte, Kind, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != o {
		return buf, sendq.Idle, 0
	}
	if s.welcome != nil {
		buf = append(buf, s.welcome...)
		s.welcome = nil
		return buf, sendq.Control, 0
	}
	if len(s.resendQ) > 0 {
		buf = append(buf, s.resendQ[0]...)
		s.resendQ[0] = nil
		s.resendQ = s.resendQ[1:]
		s.q.Sent(now, len(buf))
		return buf, sendq.Control, 0
	}
	for {
		kind, frame, wait := s.q.Next(now)
		switch kind {
		case sendq.Control:
			buf = append(buf, frame...)
			s.q.Sent(now, len(frame))
			return buf, kind, 0
		case sendq.State:
			from := s.sentVersion
			if s.wantFull {
				from = 0
			}
			data, full, to, ok := s.garden.Update(from)
			if !ok {
				s.q.SentState(now, 0)
				continue
			}
			s.seq++
			start := len(buf)
			buf = protocol.AppendStateUpdate(buf, s.seq, full, data)
			s.stateLog = append(s.stateLog, numberedState{seq: s.seq, version: to.Version})
			if len(s.stateLog) > s.m.cfg.MaxResend {
				s.baseSeq, s.baseVersion = s.stateLog[0].seq, s.stateLog[0].version
				s.stateLog = s.stateLog[1:]
			}
			s.sentVersion, s.wantFull = to.Version, false
			s.q.SentState(now, len(buf)-start)
			s.m.obs.StateSent(full, len(buf)-start)
			return buf, kind, 0
		case sendq.Wait:
			return buf, kind, wait
		default:
			s.writerActive = false
			return buf, sendq.Idle, 0
		}
	}
}

// Stats is a snapshot of a session's counters, for tests and metrics.
type Stats struct {
	Seq, Acked, SentVersion uint64
	Resend, Queued          int
	Attached                bool
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Seq: s.seq, Acked: s.acked, SentVersion: s.sentVersion,
		Resend: len(s.resend), Queued: s.q.Len(), Attached: s.out != nil}
}
