package session_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/sendq"
	"github.com/cosmic-gardener/realtime/server/session"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// window is the default state update interval (10 per second): after it
// a pending state update always may go.
const window = 100 * time.Millisecond

// quickWait is how long a state update waits after one it follows closely
// when nothing was coalesced in between: 90 % of the interval
// (sendq.Queue.SentState).
const quickWait = 90 * time.Millisecond

func expectFrames(t *testing.T, got []protocol.Envelope, want ...string) {
	t.Helper()
	if s := summary(got); !slices.Equal(s, want) {
		t.Fatalf("frames\n got %q\nwant %q", s, want)
	}
}

func TestSessionSeqNumbering(t *testing.T) {
	e := newEnv(t, session.Config{})
	d, resumed := e.open("alice", "", 0)
	if resumed {
		t.Fatal("a new session reports resumed")
	}
	got, kind, _ := d.read()
	expectFrames(t, got, "Welcome", "StateUpdate#1:full@1")
	if kind != sendq.Idle {
		t.Fatalf("after the first frames Next says %v, want Idle", kind)
	}

	// An action inside the rate window: its result goes at once, the
	// state update waits for the window.
	d.act("a1")
	got, kind, wait := d.read()
	expectFrames(t, got, "ActionResult#2:a1")
	if kind != sendq.Wait || wait != quickWait {
		t.Fatalf("Next = %v %s, want Wait %s", kind, wait, quickWait)
	}
	e.clock.Advance(window)
	got, _, _ = d.read()
	expectFrames(t, got, "StateUpdate#3:1->2")

	// Heartbeats and rate_limited errors are not numbered; other errors
	// are.
	d.s.SendHeartbeat(d.o)
	d.s.SendError(d.o, "", protocol.CodeRateLimited, "slow", false)
	d.s.SendError(d.o, "x1", protocol.CodeInvalidData, "bad", true)
	e.clock.Advance(window)
	d.act("a2")
	got, _, _ = d.read()
	expectFrames(t, got, "Heartbeat", "Error", "Error#4:x1", "ActionResult#5:a2", "StateUpdate#6:2->3")
	d.converged()
	if st := d.s.Stats(); st.Seq != 6 || st.Resend != 3 || st.SentVersion != 3 || !st.Attached {
		t.Fatalf("stats %+v", st)
	}
}

func TestSessionAckTrimsResend(t *testing.T) {
	e := newEnv(t, session.Config{})
	d, _ := e.open("alice", "", 0)
	d.read()
	for _, id := range []string{"r1", "r2", "r3", "r4", "r5"} {
		d.s.SendResult(d.o, id, []byte(`{"success":true,"message":"ok"}`))
	}
	d.read()
	steps := []struct {
		ack          uint64
		acked        uint64
		resendRemain int
	}{
		{ack: 0, acked: 0, resendRemain: 5},
		{ack: 3, acked: 3, resendRemain: 3},  // seq 1 is the state, 2-3 results
		{ack: 2, acked: 3, resendRemain: 3},  // going back is ignored
		{ack: 99, acked: 3, resendRemain: 3}, // beyond the last seq: ignored
		{ack: 6, acked: 6, resendRemain: 0},
	}
	for _, st := range steps {
		d.s.Ack(st.ack)
		if got := d.s.Stats(); got.Acked != st.acked || got.Resend != st.resendRemain {
			t.Fatalf("after Ack(%d): acked %d resend %d, want %d %d", st.ack, got.Acked, got.Resend, st.acked, st.resendRemain)
		}
	}

	// A resume at the acknowledged point re-sends nothing.
	e.m.Detach(d.s, d.o)
	r, resumed := e.open("alice", d.s.ID(), 6)
	r.held, r.lastSeq = d.held, 6
	got, _, _ := r.read()
	if !resumed {
		t.Fatal("not resumed")
	}
	expectFrames(t, got, "Welcome")
	r.converged()
}

// history is the session the resume cases start from: seq 1-7 read by the
// client, then, while it is away, another device's change and the result
// of an action still in flight when the connection dropped (seq 8).
//
//	#1 full@1  #2 a1  #3 1->2  #4 a2  #5 2->3  #6 a3  #7 3->4  | #8 late
func history(t *testing.T, ack uint64) (*env, *device) {
	t.Helper()
	e := newEnv(t, session.Config{})
	d, _ := e.open("alice", "", 0)
	d.read()
	d.act("a1")
	d.read()
	e.clock.Advance(window)
	d.read()
	for _, id := range []string{"a2", "a3"} {
		e.clock.Advance(window)
		d.act(id)
		d.read()
	}
	expectFrames(t, d.got, "Welcome", "StateUpdate#1:full@1", "ActionResult#2:a1", "StateUpdate#3:1->2",
		"ActionResult#4:a2", "StateUpdate#5:2->3", "ActionResult#6:a3", "StateUpdate#7:3->4")
	if ack != 0 {
		d.s.Ack(ack)
	}
	e.m.Detach(d.s, d.o)

	other, _ := e.open("alice", "", 0)
	other.read()
	other.act("b1") // version 5
	d.act("late")   // version 6, result #8 kept for the resume
	if st := d.s.Stats(); st.Attached || st.Seq != 8 {
		t.Fatalf("detached session stats %+v", st)
	}
	return e, d
}

func TestSessionResume(t *testing.T) {
	tests := []struct {
		name    string
		ack     uint64
		lastSeq uint64
		want    []string
	}{
		{name: "mid-way: unacked results in order, then one patch from the client's version", lastSeq: 3,
			want: []string{"Welcome", "ActionResult#4:a2", "ActionResult#6:a3", "ActionResult#8:late", "StateUpdate#9:2->6"}},
		{name: "after the last state", lastSeq: 7,
			want: []string{"Welcome", "ActionResult#8:late", "StateUpdate#9:4->6"}},
		{name: "everything read", lastSeq: 8,
			want: []string{"Welcome", "StateUpdate#9:4->6"}},
		{name: "last_seq beyond the session's is clamped", lastSeq: 100,
			want: []string{"Welcome", "StateUpdate#9:4->6"}},
		{name: "nothing read: full state", lastSeq: 0,
			want: []string{"Welcome", "ActionResult#2:a1", "ActionResult#4:a2", "ActionResult#6:a3", "ActionResult#8:late", "StateUpdate#9:full@6"}},
		{name: "after an ack", ack: 4, lastSeq: 5,
			want: []string{"Welcome", "ActionResult#6:a3", "ActionResult#8:late", "StateUpdate#9:3->6"}},
		{name: "predating the ack: full state, nothing acked re-sent", ack: 4, lastSeq: 3,
			want: []string{"Welcome", "ActionResult#6:a3", "ActionResult#8:late", "StateUpdate#9:full@6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, old := history(t, tt.ack)
			r, resumed := e.open("alice", old.s.ID(), tt.lastSeq)
			if !resumed || r.s != old.s {
				t.Fatalf("resumed %v, same session %v", resumed, r.s == old.s)
			}
			// The client holds what it had at lastSeq.
			r.lastSeq = min(tt.lastSeq, 8)
			r.held = old.heldUpTo(r.lastSeq)
			got, kind, _ := r.read()
			expectFrames(t, got, tt.want...)
			if kind != sendq.Idle {
				t.Fatalf("Next = %v after the catch-up, want Idle", kind)
			}
			if !r.welcome.Resumed || r.welcome.SessionID != old.s.ID() {
				t.Fatalf("welcome %+v", r.welcome)
			}
			r.converged()
			// The stale outlet gets nothing.
			if buf, kind, _ := r.s.Next(old.o, e.clock.Now(), nil); kind != sendq.Idle || len(buf) != 0 {
				t.Fatalf("old outlet got %v %q", kind, buf)
			}
		})
	}
}

func TestSessionResumeUnknownSession(t *testing.T) {
	e := newEnv(t, session.Config{})
	alice, _ := e.open("alice", "", 0)
	alice.read()
	e.m.Detach(alice.s, alice.o)
	for _, tc := range []struct{ user, id string }{
		{"alice", "0123456789abcdef0123456789abcdef"},
		{"bob", alice.s.ID()}, // another user's session is not theirs to resume
	} {
		d, resumed := e.open(tc.user, tc.id, 5)
		if resumed || d.s.ID() == tc.id {
			t.Fatalf("%s resuming %s: resumed %v id %s", tc.user, tc.id, resumed, d.s.ID())
		}
		got, _, _ := d.read()
		expectFrames(t, got, "Welcome", "StateUpdate#1:full@1")
		if d.welcome.Resumed || d.welcome.UserID != tc.user {
			t.Fatalf("welcome %+v", d.welcome)
		}
	}
	if st := alice.s.Stats(); st.Attached {
		t.Fatal("bob attached to alice's session")
	}
}

func TestSessionTakeover(t *testing.T) {
	e := newEnv(t, session.Config{})
	d1, _ := e.open("alice", "", 0)
	d1.read()
	d1.act("a1")
	d1.read()

	// The old connection is still attached when the new one resumes.
	d2, resumed := e.open("alice", d1.s.ID(), 1)
	if !resumed {
		t.Fatal("not resumed")
	}
	if _, _, taken, _ := d1.o.counts(); taken != 1 {
		t.Fatalf("old outlet TakenOver %d times, want 1", taken)
	}
	if _, _, taken, _ := d2.o.counts(); taken != 0 {
		t.Fatal("new outlet told it was taken over")
	}
	d2.lastSeq, d2.held = 1, d1.heldAt[1]
	e.clock.Advance(window)
	got, _, _ := d2.read()
	expectFrames(t, got, "Welcome", "ActionResult#2:a1", "StateUpdate#3:1->2")

	// The old connection finishes an action it was handling: its result
	// belongs to the session and reaches the new connection, without a
	// gap in seq (protocol.md §5).
	d1.act("a2")
	if buf, kind, _ := d1.s.Next(d1.o, e.clock.Now(), nil); kind != sendq.Idle || len(buf) != 0 {
		t.Fatalf("old outlet got %v %q", kind, buf)
	}
	e.clock.Advance(window)
	got, _, _ = d2.read()
	expectFrames(t, got, "ActionResult#4:a2", "StateUpdate#5:2->3")
	// Its non-numbered messages (heartbeat answers) are dropped.
	d1.s.SendHeartbeat(d1.o)
	got, _, _ = d2.read()
	expectFrames(t, got)

	// The old connection's late Detach leaves the new one attached.
	e.m.Detach(d1.s, d1.o)
	if st := d2.s.Stats(); !st.Attached {
		t.Fatal("stale Detach detached the new connection")
	}
	d2.converged()
}

func TestSessionRetention(t *testing.T) {
	e := newEnv(t, session.Config{Retention: time.Minute})
	d, _ := e.open("alice", "", 0)
	d.read()
	kept, _ := e.open("bob", "", 0) // attached: never expires
	e.m.Detach(d.s, d.o)
	if e.gardens.Loaded() != 2 {
		t.Fatalf("%d gardens loaded, want 2", e.gardens.Loaded())
	}

	e.clock.Advance(time.Minute)
	e.m.Sweep()
	if _, ok := e.m.Get(d.s.ID()); !ok {
		t.Fatal("expired at exactly the retention time")
	}
	e.clock.Advance(time.Millisecond)
	e.m.Sweep()
	if _, ok := e.m.Get(d.s.ID()); ok {
		t.Fatal("still there after the retention time")
	}
	if e.m.Count() != 1 || e.gardens.Loaded() != 1 {
		t.Fatalf("%d sessions, %d gardens; want bob's one each", e.m.Count(), e.gardens.Loaded())
	}
	if _, ok := e.m.Get(kept.s.ID()); !ok {
		t.Fatal("an attached session expired")
	}
	r, resumed := e.open("alice", d.s.ID(), 1)
	if resumed {
		t.Fatal("resumed an expired session")
	}
	got, _, _ := r.read()
	expectFrames(t, got, "Welcome", "StateUpdate#1:full@1")
}

func TestSessionMaxPerUser(t *testing.T) {
	e := newEnv(t, session.Config{MaxPerUser: 2})
	d1, _ := e.open("alice", "", 0)
	d2, _ := e.open("alice", "", 0)
	if _, _, err := e.m.Open(t.Context(), &outlet{}, "alice", "", 0, welcomeFrame); !errors.Is(err, session.ErrTooManySessions) {
		t.Fatalf("third session with both attached: %v, want ErrTooManySessions", err)
	}
	if _, ok := e.open("bob", "", 0); ok {
		t.Fatal("bob resumed")
	}
	// d2 detaches first, so it is the oldest detached.
	e.m.Detach(d2.s, d2.o)
	e.clock.Advance(time.Second)
	e.m.Detach(d1.s, d1.o)
	d3, _ := e.open("alice", "", 0)
	if _, ok := e.m.Get(d2.s.ID()); ok {
		t.Fatal("the oldest detached session was not evicted")
	}
	for _, d := range []*device{d1, d3} {
		if _, ok := e.m.Get(d.s.ID()); !ok {
			t.Fatalf("session %s evicted", d.s.ID())
		}
	}
	if e.m.Count() != 3 { // alice 2, bob 1
		t.Fatalf("%d sessions, want 3", e.m.Count())
	}
	// The evicted session released its garden reference: once the rest
	// expire, no garden stays loaded.
	e.m.Detach(d3.s, d3.o)
	e.clock.Advance(time.Hour)
	e.m.Sweep()
	if e.m.Count() != 1 || e.gardens.Loaded() != 1 {
		t.Fatalf("%d sessions %d gardens, want bob's", e.m.Count(), e.gardens.Loaded())
	}
}

func TestSessionMaxResend(t *testing.T) {
	tests := []struct {
		name    string
		lastSeq uint64
		want    []string
	}{
		// #2 and #3 were dropped from the buffer: a client that missed
		// them gets a full state (it cannot get the results back).
		{name: "missed dropped entries", lastSeq: 1,
			want: []string{"Welcome", "ActionResult#4:r3", "ActionResult#5:r4", "ActionResult#6:r5", "StateUpdate#7:full@1"}},
		{name: "missed only kept entries", lastSeq: 3,
			want: []string{"Welcome", "ActionResult#4:r3", "ActionResult#5:r4", "ActionResult#6:r5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, session.Config{MaxResend: 3})
			d, _ := e.open("alice", "", 0)
			d.read()
			for _, id := range []string{"r1", "r2", "r3", "r4", "r5"} {
				d.s.SendResult(d.o, id, []byte(`{"success":true,"message":"ok"}`))
			}
			if st := d.s.Stats(); st.Resend != 3 || st.Seq != 6 {
				t.Fatalf("stats %+v, want 3 in the resend buffer", st)
			}
			e.m.Detach(d.s, d.o)
			r, _ := e.open("alice", d.s.ID(), tt.lastSeq)
			r.lastSeq, r.held = tt.lastSeq, d.heldAt[1]
			got, _, _ := r.read()
			expectFrames(t, got, tt.want...)
			r.converged()
		})
	}

	// State updates alone (another device's changes) overflow the state
	// log: a resume from before its oldest entry gets the full state.
	for _, tt := range []struct {
		lastSeq uint64
		want    string
	}{
		{lastSeq: 1, want: "StateUpdate#6:full@5"},
		{lastSeq: 2, want: "StateUpdate#6:2->5"},
	} {
		t.Run(fmt.Sprintf("state log, last_seq %d", tt.lastSeq), func(t *testing.T) {
			e := newEnv(t, session.Config{MaxResend: 3})
			d, _ := e.open("alice", "", 0)
			d.read()
			other, _ := e.open("alice", "", 0)
			for _, id := range []string{"o1", "o2", "o3", "o4"} {
				e.clock.Advance(window)
				other.act(id)
				d.read()
			}
			expectFrames(t, d.got, "Welcome", "StateUpdate#1:full@1", "StateUpdate#2:1->2", "StateUpdate#3:2->3", "StateUpdate#4:3->4", "StateUpdate#5:4->5")
			e.m.Detach(d.s, d.o)
			r, _ := e.open("alice", d.s.ID(), tt.lastSeq)
			r.lastSeq, r.held = tt.lastSeq, d.heldAt[tt.lastSeq]
			got, _, _ := r.read()
			expectFrames(t, got, "Welcome", tt.want)
			r.converged()
		})
	}
}

func TestSessionOverflow(t *testing.T) {
	e := newEnv(t, session.Config{Queue: sendq.Config{MaxControl: 2}})
	d, _ := e.open("alice", "", 0)
	d.read()
	for _, id := range []string{"r1", "r2", "r3"} {
		d.s.SendResult(d.o, id, []byte(`{"success":true,"message":"ok"}`))
	}
	if _, _, _, overflow := d.o.counts(); overflow != 1 {
		t.Fatalf("Overflow called %d times, want 1", overflow)
	}
	// The result that did not fit is kept for the resume.
	if st := d.s.Stats(); st.Resend != 3 || st.Queued != 2 {
		t.Fatalf("stats %+v", st)
	}
	e.m.Detach(d.s, d.o)
	r, _ := e.open("alice", d.s.ID(), 1)
	r.lastSeq, r.held = 1, d.heldAt[1]
	got, _, _ := r.read()
	expectFrames(t, got, "Welcome", "ActionResult#2:r1", "ActionResult#3:r2", "ActionResult#4:r3")
}

func TestSessionWake(t *testing.T) {
	e := newEnv(t, session.Config{})
	d, _ := e.open("alice", "", 0)
	other, _ := e.open("alice", "", 0)
	other.read()
	check := func(wantStarts, wantNudges int) {
		t.Helper()
		if starts, nudges, _, _ := d.o.counts(); starts != wantStarts || nudges != wantNudges {
			t.Fatalf("starts %d nudges %d, want %d %d", starts, nudges, wantStarts, wantNudges)
		}
	}
	check(1, 0) // Open starts the writer for the Welcome
	e.clock.Advance(window)
	other.act("o1") // the writer has not run yet: a nudge
	check(1, 1)
	d.read() // runs until Idle: the writer exits
	check(1, 1)
	e.clock.Advance(window)
	other.act("o2") // so the next change starts one
	check(2, 1)
	d.read()
	other.act("o3")
	check(3, 1)
	// A writer waiting for the rate window is nudged, not restarted.
	if _, kind, _ := d.read(); kind != sendq.Wait {
		t.Fatalf("Next = %v, want Wait", kind)
	}
	other.act("o4")
	check(3, 2)
	e.clock.Advance(window)
	expectFrames(t, d.got[1:], "StateUpdate#1:full@2", "StateUpdate#2:2->3")
	got, _, _ := d.read()
	expectFrames(t, got, "StateUpdate#3:3->5") // o3 and o4 coalesced
	d.converged()
}
