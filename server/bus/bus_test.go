package bus

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cosmic-gardener/realtime/server/internal/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSubject(t *testing.T) {
	a := Subject("cosmic.garden", "alice")
	if a != Subject("cosmic.garden", "alice") {
		t.Error("Subject is not deterministic")
	}
	for _, other := range []string{"bob", "Alice", "alice ", ""} {
		if Subject("cosmic.garden", other) == a {
			t.Errorf("Subject(%q) = Subject(alice)", other)
		}
	}
	tok, ok := strings.CutPrefix(a, "cosmic.garden.")
	if !ok || len(tok) != 32 || strings.Trim(tok, "0123456789abcdef") != "" {
		t.Errorf("Subject = %q, want the prefix and 32 hex digits", a)
	}
	// Ids with NATS's special characters still make one plain token.
	for _, id := range []string{"alice", "a.b", "a b", "*", ">", "ünï"} {
		s := Subject("p", id)
		if strings.Contains(s, id) && id != "" || strings.Count(s, ".") != 1 {
			t.Errorf("Subject(%q) = %q holds the id or more than one token", id, s)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, m := range []Message{
		{Node: "n1", Version: 2, Base: 1, Patch: []byte(`[{"op":"replace","path":"/a","value":1}]`), Hash: "abc"},
		{Node: "n1", Version: 1 << 60, Base: 1<<60 - 1, Hash: "h"}, // no patch
		{Node: "ünï", Version: 300, Base: 1, Patch: bytes.Repeat([]byte("x"), 70000), Hash: strings.Repeat("f", 64)},
		{},
	} {
		got, err := Decode(Encode(nil, m))
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", m, err)
		}
		if got.Node != m.Node || got.Version != m.Version || got.Base != m.Base || got.Hash != m.Hash || !bytes.Equal(got.Patch, m.Patch) || (m.Patch == nil) != (got.Patch == nil) {
			t.Errorf("round trip of %+v = %+v", m, got)
		}
	}
	good := Encode(nil, Message{Node: "node", Version: 5, Base: 4, Hash: "hash"})
	for _, bad := range [][]byte{nil, {2}, good[:1], good[:3], good[:5], good[:len(good)-1]} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) accepted a malformed message", bad)
		}
	}
}

// recorder is a Receiver that hands everything to channels.
type recorder struct {
	msgs    chan got
	resyncs chan string
}

type got struct {
	user string
	m    Message
}

func newRecorder() *recorder {
	return &recorder{msgs: make(chan got, 100), resyncs: make(chan string, 100)}
}

func (r *recorder) Received(userID string, m Message) { r.msgs <- got{userID, m} }
func (r *recorder) Resync(reason string)              { r.resyncs <- reason }

func (r *recorder) next(t *testing.T) got {
	t.Helper()
	select {
	case g := <-r.msgs:
		return g
	case <-time.After(10 * time.Second):
		t.Fatal("no message in 10s")
		return got{}
	}
}

func (r *recorder) resync(t *testing.T, want string) {
	t.Helper()
	for {
		select {
		case reason := <-r.resyncs:
			if reason == want {
				return
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s resync in 20s", want)
		}
	}
}

func newBus(t *testing.T, url, node string, r Receiver, edit func(*Config)) *Bus {
	t.Helper()
	cfg := Config{URL: url, NodeID: node, ReconnectWait: 50 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	b.Start(r)
	return b
}

// flush makes sure the server has seen every SUB, UNSUB and PUB sent so
// far. A flush under way when the connection drops fails; it is tried
// again on the next connection.
func flush(t *testing.T, b *Bus) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := b.nc.Flush()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// forget drops the resyncs r has heard so far (the first connection's).
func (r *recorder) forget() {
	for {
		select {
		case <-r.resyncs:
		default:
			return
		}
	}
}

func TestPublishReachesOtherNodesOnly(t *testing.T) {
	ns := natstest.Start(t)
	ra, rb := newRecorder(), newRecorder()
	a := newBus(t, ns.URL(), "a", ra, nil)
	b := newBus(t, ns.URL(), "b", rb, func(c *Config) { c.MaxPatchBytes = 10 })
	for _, x := range []*Bus{a, b} {
		if err := x.Watch("alice"); err != nil {
			t.Fatal(err)
		}
		flush(t, x)
	}
	a.Publish("alice", Message{Version: 2, Base: 1, Patch: []byte("[]"), Hash: "h2"})
	if g := rb.next(t); g.user != "alice" || g.m.Node != "a" || g.m.Version != 2 || g.m.Base != 1 || string(g.m.Patch) != "[]" || g.m.Hash != "h2" {
		t.Errorf("b got %+v", g)
	}
	// b's patch is over its MaxPatchBytes: the version goes alone.
	b.Publish("alice", Message{Version: 3, Base: 2, Patch: []byte(`[{"op":"add"}]`), Hash: "h3"})
	if g := ra.next(t); g.m.Node != "b" || g.m.Version != 3 || g.m.Patch != nil {
		t.Errorf("a got %+v", g)
	}
	// Neither heard its own message: the next one each hears is the other's.
	a.Publish("alice", Message{Version: 4, Base: 3, Hash: "h4"})
	if g := rb.next(t); g.m.Version != 4 {
		t.Errorf("b got %+v, want version 4", g)
	}
	flush(t, b)
	b.Publish("alice", Message{Version: 5, Base: 4, Hash: "h5"})
	if g := ra.next(t); g.m.Version != 5 {
		t.Errorf("a got %+v, want version 5 (not its own 4)", g)
	}
}

func TestUnwatchAfterLastRelease(t *testing.T) {
	ns := natstest.Start(t)
	rb := newRecorder()
	a := newBus(t, ns.URL(), "a", newRecorder(), nil)
	b := newBus(t, ns.URL(), "b", rb, nil)
	for range 2 {
		if err := b.Watch("alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Watch("bob"); err != nil {
		t.Fatal(err)
	}
	b.Unwatch("alice") // one watch left
	flush(t, b)
	a.Publish("alice", Message{Version: 2, Hash: "h"})
	if g := rb.next(t); g.user != "alice" {
		t.Fatalf("got %+v, want alice's message while one watch is left", g)
	}
	b.Unwatch("alice")
	if n := b.Watching(); n != 1 {
		t.Errorf("Watching = %d after alice's last Unwatch, want 1 (bob)", n)
	}
	flush(t, b)
	// One publisher's messages arrive in order: bob's arriving first
	// means alice's was not delivered.
	a.Publish("alice", Message{Version: 3, Hash: "h"})
	a.Publish("bob", Message{Version: 7, Hash: "h"})
	if g := rb.next(t); g.user != "bob" {
		t.Errorf("got %+v after alice's last Unwatch, want bob's", g)
	}
	b.Unwatch("nobody") // harmless
}

func TestDropHookAndReconnectResync(t *testing.T) {
	ns := natstest.Start(t)
	rb := newRecorder()
	var mu sync.Mutex
	drop := map[uint64]bool{2: true}
	a := newBus(t, ns.URL(), "a", newRecorder(), nil)
	b := newBus(t, ns.URL(), "b", rb, func(c *Config) {
		c.Drop = func(_ string, m Message) bool {
			mu.Lock()
			defer mu.Unlock()
			return drop[m.Version]
		}
	})
	if err := b.Watch("alice"); err != nil {
		t.Fatal(err)
	}
	flush(t, b)
	a.Publish("alice", Message{Version: 2, Hash: "h"})
	a.Publish("alice", Message{Version: 3, Hash: "h"})
	if g := rb.next(t); g.m.Version != 3 {
		t.Fatalf("got %+v, want version 3 (2 dropped)", g)
	}

	rb.forget()
	ns.Stop()
	ns.Restart()
	rb.resync(t, "reconnect")
	waitConnected(t, a)
	waitConnected(t, b)
	flush(t, b) // the subscription is back on the new server
	a.Publish("alice", Message{Version: 4, Hash: "h"})
	if g := rb.next(t); g.m.Version != 4 {
		t.Errorf("after the restart got %+v, want version 4", g)
	}
}

func waitConnected(t *testing.T, b *Bus) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !b.Connected() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not reconnected in 20s (status %s)", b.NodeID(), b.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDiscovered waits until b's connection knows n servers besides the
// one it was given.
func waitDiscovered(t *testing.T, b *Bus, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(b.nc.DiscoveredServers()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s knows %v after 20s, want %d other servers", b.NodeID(), b.nc.DiscoveredServers(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClusterFailover(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	ra, rb := newRecorder(), newRecorder()
	// a talks to the first server, b to the third: messages cross routes.
	// Each learns of the others from the cluster (INFO), and fails over
	// to the second when its own dies.
	a := newBus(t, servers[0].URL(), "a", ra, nil)
	b := newBus(t, servers[2].URL(), "b", rb, nil)
	if err := b.Watch("alice"); err != nil {
		t.Fatal(err)
	}
	flush(t, b)
	publishUntilHeard(t, a, rb, "alice", 2)
	// Both must have learnt the other servers before theirs die: a client
	// that connected before the routes formed knows only its own until
	// the cluster's next INFO.
	waitDiscovered(t, a, 2)
	waitDiscovered(t, b, 2)

	rb.forget()
	servers[0].Stop() // a's server dies; a fails over to the second
	servers[2].Stop() // and b's
	rb.resync(t, "reconnect")
	waitConnected(t, a)
	waitConnected(t, b)
	flush(t, b)
	publishUntilHeard(t, a, rb, "alice", 3)
}

// publishUntilHeard publishes version to userID's garden from a until r
// hears it: across cluster routes, interest in a subject reaches the
// other servers asynchronously, with no acknowledgement a client can wait
// for, so a message published too early is rightly lost (at most once).
func publishUntilHeard(t *testing.T, a *Bus, r *recorder, userID string, version uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		a.Publish(userID, Message{Version: version, Hash: "h"})
		select {
		case g := <-r.msgs:
			if g.user == userID && g.m.Version == version {
				return
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("version %d of %s not heard in 10s", version, userID)
}

// blocker is a Receiver whose Received waits until released.
type blocker struct {
	*recorder
	release chan struct{}
}

func (b blocker) Received(userID string, m Message) {
	<-b.release
	b.recorder.Received(userID, m)
}

// TestSlowConsumerAsksForResync: a node that falls behind NATS (its
// buffer full) loses messages, counts them and asks for a resync.
func TestSlowConsumerAsksForResync(t *testing.T) {
	ns := natstest.Start(t)
	r := blocker{newRecorder(), make(chan struct{})}
	var obs counting
	a := newBus(t, ns.URL(), "a", newRecorder(), nil)
	b := newBus(t, ns.URL(), "b", r, func(c *Config) { c.Buffer = 2; c.Observer = &obs })
	if err := b.Watch("alice"); err != nil {
		t.Fatal(err)
	}
	flush(t, b)
	for v := range uint64(20) {
		a.Publish("alice", Message{Version: v + 2, Hash: "h"})
	}
	r.resync(t, "slow_consumer")
	close(r.release)
	if obs.dropped.Load() == 0 {
		t.Error("no slow_consumer drop counted")
	}
}

type counting struct{ dropped atomic.Int64 }

func (*counting) BusConnected(bool) {}
func (*counting) BusPublished(int)  {}
func (*counting) BusReceived(int)   {}
func (c *counting) BusDropped(reason string) {
	if reason == "slow_consumer" {
		c.dropped.Add(1)
	}
}
