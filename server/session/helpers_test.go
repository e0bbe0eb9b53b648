package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/garden"
	"github.com/cosmic-gardener/realtime/server/internal/fakeclock"
	"github.com/cosmic-gardener/realtime/server/internal/memstore"
	"github.com/cosmic-gardener/realtime/server/sendq"
	"github.com/cosmic-gardener/realtime/server/session"
	"github.com/cosmic-gardener/realtime/server/store"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// outlet is a fake connection recording what the session asks of it.
type outlet struct {
	name string

	mu                                  sync.Mutex
	starts, nudges, takenOver, overflow int
}

func (o *outlet) Wake(start bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if start {
		o.starts++
	} else {
		o.nudges++
	}
}

func (o *outlet) TakenOver() { o.mu.Lock(); o.takenOver++; o.mu.Unlock() }
func (o *outlet) Overflow()  { o.mu.Lock(); o.overflow++; o.mu.Unlock() }

func (o *outlet) counts() (starts, nudges, takenOver, overflow int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.starts, o.nudges, o.takenOver, o.overflow
}

func (o *outlet) String() string { return o.name }

// env is a session manager over a real garden manager and an in-memory store.
type env struct {
	t       testing.TB
	clock   *fakeclock.Clock // shared by the garden and session managers
	gardens *garden.Manager
	m       *session.Manager
}

func newEnv(t testing.TB, cfg session.Config) *env {
	t.Helper()
	e := &env{t: t, clock: fakeclock.New(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC))}
	st := memstore.New()
	for _, user := range []string{"alice", "bob"} {
		seed := store.Garden{UserID: user, Version: 1, State: seedState(t, user, 20, e.clock.Now())}
		if err := st.Commit(context.Background(), store.Commit{Garden: &seed}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if e.gardens, err = garden.New(garden.Config{Store: st, Clock: e.clock.Now, FlushInterval: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	cfg.Gardens, cfg.Clock = e.gardens, e.clock.Now
	if e.m, err = session.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.m.Close)
	return e
}

// seedState returns the encoding of a garden with n bodies: large enough
// that a one-body patch is smaller than the full state.
func seedState(t testing.TB, user string, n int, now time.Time) []byte {
	t.Helper()
	s := rules.New(user, now.UnixMilli())
	for i := range n {
		id := fmt.Sprintf("b-seed-%d", i)
		s.Bodies[id] = &game.Body{CreatedAt: now.UnixMilli(), ID: id, Position: game.Vec3{X: float64(i), Y: 2, Z: 3}, Type: "planet"}
	}
	enc, err := game.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// device is one client: an outlet, the session it serves, and what the
// client made of the frames it read.
type device struct {
	e   *env
	o   *outlet
	s   *session.Session
	got []protocol.Envelope

	welcome protocol.Welcome
	lastSeq uint64
	held    protocol.StateData // version, canonical state and hash held
	// heldAt records the state held after each numbered frame, so a test
	// can resume "as a client that read up to seq n".
	heldAt map[uint64]protocol.StateData
}

// open connects a new outlet, resuming resumeID from lastSeq when set.
func (e *env) open(user, resumeID string, lastSeq uint64) (*device, bool) {
	e.t.Helper()
	d := &device{e: e, o: &outlet{name: fmt.Sprintf("outlet-%s-%d", user, lastSeq)}, heldAt: map[uint64]protocol.StateData{}}
	s, resumed, err := e.m.Open(context.Background(), d.o, user, resumeID, lastSeq, welcomeFrame)
	if err != nil {
		e.t.Fatalf("Open(%s, %q, %d): %v", user, resumeID, lastSeq, err)
	}
	d.s = s
	return d, resumed
}

func welcomeFrame(s *session.Session, resumed bool) []byte {
	return protocol.AppendWelcome(nil, protocol.Welcome{SessionID: s.ID(), Resumed: resumed, UserID: s.UserID(), Protocol: protocol.Version})
}

// read drains the session as its writer would at the fake clock's time,
// applies what it gets, and returns the new frames and how Next ended.
func (d *device) read() ([]protocol.Envelope, sendq.Kind, time.Duration) {
	d.e.t.Helper()
	t := d.e.t
	var out []protocol.Envelope
	buf := make([]byte, 0, 1024)
	for range 10000 {
		var kind sendq.Kind
		var wait time.Duration
		buf, kind, wait = d.s.Next(d.o, d.e.clock.Now(), buf[:0])
		if kind == sendq.Idle || kind == sendq.Wait {
			if len(buf) != 0 {
				t.Fatalf("Next returned %v with a frame %q", kind, buf)
			}
			return out, kind, wait
		}
		env, err := protocol.DecodeEnvelope(buf)
		if err != nil {
			t.Fatalf("undecodable frame %q: %v", buf, err)
		}
		env.Data = append(json.RawMessage(nil), env.Data...) // buf is reused
		d.apply(env)
		out = append(out, env)
	}
	t.Fatal("Next never went idle")
	return nil, 0, 0
}

func (d *device) apply(env protocol.Envelope) {
	t := d.e.t
	t.Helper()
	d.got = append(d.got, env)
	switch env.Type {
	case protocol.TypeWelcome:
		if err := json.Unmarshal(env.Data, &d.welcome); err != nil {
			t.Fatal(err)
		}
	case protocol.TypeStateUpdate:
		var u protocol.StateUpdate
		if err := json.Unmarshal(env.Data, &u); err != nil {
			t.Fatalf("decode %s: %v", env.Data, err)
		}
		if u.Full {
			d.held = u.Data
		} else {
			if u.Data.Base != d.held.Version {
				t.Fatalf("patch base %d, client holds %d", u.Data.Base, d.held.Version)
			}
			doc, err := patch.Apply(d.held.State, u.Data.Patch)
			if err != nil {
				t.Fatalf("apply patch %s: %v", u.Data.Patch, err)
			}
			d.held = protocol.StateData{Version: u.Data.Version, State: doc, Hash: u.Data.Hash}
		}
		if got := game.Hash(d.held.State); got != d.held.Hash {
			t.Fatalf("state hash %s, server says %s", got, d.held.Hash)
		}
	}
	if env.Seq != 0 {
		if env.Seq <= d.lastSeq {
			t.Fatalf("seq %d after %d", env.Seq, d.lastSeq)
		}
		d.lastSeq = env.Seq
		d.heldAt[env.Seq] = d.held
	}
}

// heldUpTo returns the state the client held once it had read every
// frame up to seq.
func (d *device) heldUpTo(seq uint64) protocol.StateData {
	for ; seq > 0; seq-- {
		if h, ok := d.heldAt[seq]; ok {
			return h
		}
	}
	return protocol.StateData{}
}

// act applies a CreateCelestialBody with action id id and sends its
// result, as the connection's read loop does.
func (d *device) act(id string) {
	d.e.t.Helper()
	act := protocol.CreateCelestialBody{BodyType: "asteroid", Position: game.Vec3{X: float64(len(d.got)), Y: 1, Z: 2}}
	res, err := d.s.Garden().Do(context.Background(), id, act, d.s)
	if err != nil {
		d.e.t.Fatalf("Do(%s): %v", id, err)
	}
	d.s.SendResult(d.o, id, res.Data)
}

// converged fails unless the device holds the garden's current state.
func (d *device) converged() {
	d.e.t.Helper()
	cur := d.s.Garden().Current()
	if d.held.Version != cur.Version || d.held.Hash != cur.Hash {
		d.e.t.Fatalf("client holds version %d hash %.12s, server %d %.12s", d.held.Version, d.held.Hash, cur.Version, cur.Hash)
	}
}

// summary describes frames compactly: "Welcome", "StateUpdate#3:full",
// "ActionResult#2:a1".
func summary(envs []protocol.Envelope) []string {
	out := make([]string, 0, len(envs))
	for _, e := range envs {
		s := e.Type
		if e.Seq != 0 {
			s += fmt.Sprintf("#%d", e.Seq)
		}
		switch {
		case e.Type == protocol.TypeStateUpdate:
			var u protocol.StateUpdate
			_ = json.Unmarshal(e.Data, &u)
			if u.Full {
				s += fmt.Sprintf(":full@%d", u.Data.Version)
			} else {
				s += fmt.Sprintf(":%d->%d", u.Data.Base, u.Data.Version)
			}
		case e.ID != "":
			s += ":" + e.ID
		}
		out = append(out, s)
	}
	return out
}
