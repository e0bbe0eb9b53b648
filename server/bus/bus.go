package bus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Receiver is told what the bus hears. Both methods must be cheap and
// must not block for long: Received runs on the bus's one delivery
// goroutine, Resync on NATS's callback goroutine.
type Receiver interface {
	// Received delivers a message of a watched garden published by
	// another node.
	Received(userID string, m Message)
	// Resync reports that messages were probably lost ("connect",
	// "reconnect", "slow_consumer"): every watched garden should be
	// checked against the store.
	Resync(reason string)
}

// Observer receives measurements; every method must be cheap and safe for
// concurrent use. A nil Observer records nothing.
type Observer interface {
	// BusConnected reports each change of the connection state; a false
	// after a true is a disconnect.
	BusConnected(up bool)
	BusPublished(bytes int)
	BusReceived(bytes int)
	// BusDropped counts a message lost on this node: "publish_failed",
	// "slow_consumer", "malformed" or "test" (Config.Drop).
	BusDropped(reason string)
}

// Config configures a Bus. Zero fields take the documented defaults.
type Config struct {
	URL    string // required: nats://host:port, several comma-separated for a cluster
	NodeID string // default a random id; names the connection and marks own messages
	// Prefix is the subject prefix, default "cosmic.garden".
	Prefix string
	// MaxPatchBytes is the largest patch a message carries, default 64 KiB;
	// a larger one is left out and receivers read the store instead.
	MaxPatchBytes int
	// Buffer is how many received messages wait for the delivery
	// goroutine, default 8192; beyond it NATS reports a slow consumer and
	// drops, and the Receiver is told to resync.
	Buffer int
	// ReconnectWait is the pause between reconnect attempts, default 500ms.
	ReconnectWait time.Duration
	// DrainTimeout bounds Close's drain, default 5s.
	DrainTimeout time.Duration
	Logger       *slog.Logger // default discards
	Observer     Observer
	// Drop, for tests, drops a received message when it returns true, as
	// if NATS had lost it.
	Drop func(userID string, m Message) bool
}

// Bus is one node's connection to NATS. Create with New, give it a
// Receiver with Start, stop with Close. Safe for concurrent use.
type Bus struct {
	cfg Config
	nc  *nats.Conn
	in  chan *nats.Msg

	receiver atomic.Pointer[receiverBox]

	mu      sync.Mutex
	watches map[string]*watch // by subject

	startOnce sync.Once
	closeOnce sync.Once
	closing   atomic.Bool   // Close has begun: its disconnect is no news
	stop      chan struct{} // closed by Close: the delivery goroutine exits
	done      chan struct{} // closed when the delivery goroutine has exited
	closed    chan struct{} // closed by NATS's closed callback
}

type receiverBox struct{ r Receiver }

type watch struct {
	userID string
	refs   int
	sub    *nats.Subscription
}

// New connects to NATS. A server that is down at start is not an error:
// the connection keeps retrying in the background (Connected reports it),
// and the node serves its own devices meanwhile.
func New(cfg Config) (*Bus, error) {
	if cfg.URL == "" {
		return nil, errors.New("bus: Config.URL is required")
	}
	if cfg.NodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.NodeID = hex.EncodeToString(b[:])
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "cosmic.garden"
	}
	if cfg.MaxPatchBytes <= 0 {
		cfg.MaxPatchBytes = 64 << 10
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 8192
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = 500 * time.Millisecond
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	b := &Bus{
		cfg: cfg, in: make(chan *nats.Msg, cfg.Buffer), watches: map[string]*watch{},
		stop: make(chan struct{}), done: make(chan struct{}), closed: make(chan struct{}),
	}
	log := cfg.Logger
	// atStart is closed once New knows whether the first connection was
	// made inside it: then nothing was watched yet and nothing missed.
	atStart := make(chan struct{})
	var connectedInNew bool
	nc, err := nats.Connect(cfg.URL,
		nats.Name("cosmic-server "+cfg.NodeID),
		// A node publishes and subscribes the same subjects: its own
		// messages are news to nobody here.
		nats.NoEcho(),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.DrainTimeout(cfg.DrainTimeout),
		nats.ConnectHandler(func(nc *nats.Conn) {
			<-atStart
			if connectedInNew {
				return // reported by New
			}
			// The first connection, after failed attempts
			// (RetryOnFailedConnect): whatever was published before was
			// not heard here.
			log.Info("bus: connected to NATS")
			cfg.Observer.BusConnected(true)
			b.confirmAndResync(nc, "connect")
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if b.closing.Load() {
				return
			}
			log.Warn("bus: disconnected from NATS; serving local devices only until it returns", "err", err)
			cfg.Observer.BusConnected(false)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("bus: reconnected to NATS; checking every served garden against the store")
			cfg.Observer.BusConnected(true)
			b.confirmAndResync(nc, "reconnect")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				cfg.Observer.BusDropped("slow_consumer")
				b.resync("slow_consumer")
				return
			}
			log.Warn("bus: NATS error", "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	)
	if err != nil {
		close(atStart)
		return nil, fmt.Errorf("bus: connect to NATS: %w", err)
	}
	b.nc = nc
	connectedInNew = nc.IsConnected()
	close(atStart)
	if connectedInNew {
		cfg.Observer.BusConnected(true)
	} else {
		log.Warn("bus: NATS not reachable yet; retrying in the background")
		cfg.Observer.BusConnected(false)
	}
	return b, nil
}

// NodeID returns the id this node's messages carry.
func (b *Bus) NodeID() string { return b.cfg.NodeID }

// Connected reports whether the connection to NATS is up.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Status names the connection state: "connected", "reconnecting", ….
func (b *Bus) Status() string { return strings.ToLower(b.nc.Status().String()) }

// Start delivers received messages to r from now on, on a goroutine that
// Close stops. Call it once, before the first Watch.
func (b *Bus) Start(r Receiver) {
	b.startOnce.Do(func() {
		b.receiver.Store(&receiverBox{r})
		go b.deliver(r)
	})
}

// confirmAndResync waits until the server has processed the
// subscriptions the client sent on (re)connecting (one round trip) and
// then asks for the resync: a store read made before that could miss a
// version published between the read and the subscription. It runs on
// NATS's callback goroutine, which it holds for that round trip.
func (b *Bus) confirmAndResync(nc *nats.Conn, reason string) {
	if err := nc.FlushTimeout(2 * time.Second); err != nil {
		b.cfg.Logger.Info("bus: subscriptions not confirmed after connecting; resyncing anyway", "err", err)
	}
	b.resync(reason)
}

func (b *Bus) resync(reason string) {
	if box := b.receiver.Load(); box != nil {
		box.r.Resync(reason)
	}
}

func (b *Bus) deliver(r Receiver) {
	defer close(b.done)
	for {
		select {
		case <-b.stop:
			return
		case msg := <-b.in:
			b.handle(r, msg)
		}
	}
}

func (b *Bus) handle(r Receiver, msg *nats.Msg) {
	b.cfg.Observer.BusReceived(len(msg.Data))
	b.mu.Lock()
	w := b.watches[msg.Subject]
	b.mu.Unlock()
	if w == nil {
		return // unwatched since: nobody here is interested any more
	}
	m, err := Decode(msg.Data)
	if err != nil {
		b.cfg.Observer.BusDropped("malformed")
		b.cfg.Logger.Warn("bus: dropped a malformed message", "subject", msg.Subject, "err", err)
		return
	}
	if m.Node == b.cfg.NodeID {
		return
	}
	if b.cfg.Drop != nil && b.cfg.Drop(w.userID, m) {
		b.cfg.Observer.BusDropped("test")
		return
	}
	r.Received(w.userID, m)
}

// Watch subscribes to userID's garden. Watches are counted: the
// subscription ends with the last matching Unwatch. While connected, a
// new subscription is confirmed by the server (one round trip, at most a
// second) before Watch returns, so that a garden read from the store
// after Watch misses no later version; while NATS is unreachable it is
// not (the reconnect's resync covers it).
func (b *Bus) Watch(userID string) error {
	subj := Subject(b.cfg.Prefix, userID)
	b.mu.Lock()
	if w := b.watches[subj]; w != nil {
		w.refs++
		b.mu.Unlock()
		return nil
	}
	// Subscribing only queues a SUB line for the connection's writer
	// (also while it is reconnecting): no network wait under mu.
	sub, err := b.nc.ChanSubscribe(subj, b.in)
	if err != nil {
		b.mu.Unlock()
		return fmt.Errorf("bus: watch garden: %w", err)
	}
	b.watches[subj] = &watch{userID: userID, refs: 1, sub: sub}
	b.mu.Unlock()
	if b.nc.IsConnected() {
		if err := b.nc.FlushTimeout(time.Second); err != nil {
			return fmt.Errorf("bus: watch garden: confirm: %w", err)
		}
	}
	return nil
}

// Unwatch drops a Watch.
func (b *Bus) Unwatch(userID string) {
	subj := Subject(b.cfg.Prefix, userID)
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.watches[subj]
	if w == nil {
		return
	}
	if w.refs--; w.refs > 0 {
		return
	}
	delete(b.watches, subj)
	if err := w.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.cfg.Logger.Warn("bus: unwatch garden", "err", err)
	}
}

// Watching returns how many gardens are subscribed.
func (b *Bus) Watching() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.watches)
}

// Publish announces a new version of userID's garden, without the patch
// when it is larger than MaxPatchBytes. It does not wait: while NATS is
// unreachable the message waits in the client's reconnect buffer or is
// dropped (counted); receivers repair either from the store.
func (b *Bus) Publish(userID string, m Message) {
	m.Node = b.cfg.NodeID
	if len(m.Patch) > b.cfg.MaxPatchBytes {
		m.Patch = nil
	}
	data := Encode(make([]byte, 0, 64+len(m.Node)+len(m.Hash)+len(m.Patch)), m)
	if err := b.nc.Publish(Subject(b.cfg.Prefix, userID), data); err != nil {
		b.cfg.Observer.BusDropped("publish_failed")
		return
	}
	b.cfg.Observer.BusPublished(len(data))
}

// Close drains the connection (subscriptions end, published messages are
// flushed), waits for it to close (at most DrainTimeout and a little
// more), then stops the delivery goroutine. Idempotent. A connection that
// cannot drain (NATS unreachable) is closed at once: what it still held
// is lost, as any bus message may be.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		b.closing.Store(true)
		if err := b.nc.Drain(); err != nil {
			b.cfg.Logger.Info("bus: closing without drain", "err", err)
			b.nc.Close()
		}
		select {
		case <-b.closed:
		case <-time.After(b.cfg.DrainTimeout + time.Second):
			b.nc.Close()
		}
		close(b.stop)
		if b.receiver.Load() != nil {
			<-b.done
		}
	})
}

type nopObserver struct{}

func (nopObserver) BusConnected(bool) {}
func (nopObserver) BusPublished(int)  {}
func (nopObserver) BusReceived(int)   {}
func (nopObserver) BusDropped(string) {}
