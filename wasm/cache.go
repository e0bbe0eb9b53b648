package main

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/offline"
	"github.com/cosmic-gardener/realtime/shared/patch"
)

// The browser passes the documents the module returned straight back: on
// each StateUpdate the controller applies the patch to the confirmed
// garden, rebases the queue on the result, reads the queue's prediction,
// then settles the prediction for display. Decoding the garden again in
// every call costs far more than the calls themselves (wasm/README.md,
// "Performance"), so the module keeps the last few gardens and queues it
// decoded or produced in a docCache, keyed by their exact text.

// Cache sizes: the confirmed garden, its prediction and their
// predecessors, with room for the page's small probe gardens; the queue
// and its predecessor. A 500-body garden is about 65 KB of text.
const (
	maxStates = 6
	maxQueues = 3
)

// docCache holds the most recently used documents by the text they were
// decoded from or encoded to, most recent first.
//
// Invariants (TestDocCacheInvariants):
//   - get(k) after put(k, d) returns d until max other keys are put or got;
//   - it holds at most max entries, each key once; put over a key
//     replaces its document;
//   - get and put make their key the most recent; a full cache evicts the
//     least recently used.
//
// What a document may be: decoding its key gives the same document (the
// module checks that before put), and a document never changes once put,
// except for answers computed from it and remembered (a hash, a
// prediction): gardens are immutable (package game) and queues are
// copied before they change. So an answer from a cached document is the
// answer without the cache (TestCacheIsInvisible).
//
// It is small, so lookups scan; comparing texts of other lengths costs
// nothing. The zero docCache holds nothing: set max.
type docCache[D any] struct {
	max  int
	keys []string
	docs []D
}

func (c *docCache[D]) get(key string) (d D, ok bool) {
	i := slices.Index(c.keys, key)
	if i < 0 {
		return d, false
	}
	// Keep the caller's copy of the text: the glue passes the same copy
	// for the same JavaScript string (main_js.go), and comparing a string
	// with itself costs nothing.
	d = c.docs[i]
	c.remove(i)
	c.insert(key, d)
	return d, true
}

func (c *docCache[D]) put(key string, d D) {
	if i := slices.Index(c.keys, key); i >= 0 {
		c.remove(i)
	}
	c.insert(key, d)
}

func (c *docCache[D]) remove(i int) {
	c.keys = slices.Delete(c.keys, i, i+1)
	c.docs = slices.Delete(c.docs, i, i+1)
}

func (c *docCache[D]) insert(key string, d D) {
	n := min(len(c.keys)+1, c.max)
	c.keys = slices.Insert(c.keys, 0, key)[:n]
	c.docs = slices.Insert(c.docs, 0, d)[:n]
}

// stateDoc is a garden with its text, game.Encode of the state, and what
// answers need of it, each computed once.
type stateDoc struct {
	enc  *game.Encoding
	text string // string(enc.Bytes())
	// canonical: text is the garden's canonical form (patch.Canonical of
	// it is itself), so it may stand for a canonical answer and a queue
	// may embed it.
	canonical bool

	hash *textHash // of text

	// settled is the state settled at settledAt, the last time asked.
	settled   *game.State
	settledAt int64
}

// newStateDoc returns the document of enc's garden; from, if not nil, is
// a garden it likely shares a prefix of its text with.
func newStateDoc(enc *game.Encoding, from *stateDoc) *stateDoc {
	s := enc.State()
	d := &stateDoc{
		enc:       enc,
		text:      string(enc.Bytes()),
		canonical: s.Bodies != nil && s.Research != nil && patch.EncodesCanonically(s),
	}
	var fromHash *textHash
	if from != nil {
		fromHash = from.hash
	}
	d.hash = newTextHash(enc.Bytes(), fromHash)
	return d
}

func (d *stateDoc) state() *game.State { return d.enc.State() }

// hashHex returns game.Hash(text).
func (d *stateDoc) hashHex() string { return d.hash.hex() }

// derive returns the document of next, a garden derived from d's that
// shares its unchanged bodies.
func (d *stateDoc) derive(next *game.State) (*stateDoc, error) {
	if next == d.state() {
		return d, nil
	}
	enc, err := d.enc.Derive(next)
	if err != nil {
		return nil, err
	}
	return newStateDoc(enc, d), nil
}

// queueDoc is a decoded queue with its canonical text. pending is shared
// between documents: copy it before changing it.
type queueDoc struct {
	text      string // encodeQueue of the queue
	version   uint64
	confirmed *stateDoc // nil before the first state
	pending   []offline.Pending

	pendingJSON []byte    // pending in canonical form
	predicted   *stateDoc // with skipped, once predicted
	skipped     []offline.Skipped
	done        bool // predicted and skipped are set
}

// queue returns a copy of the queue that the caller may change.
func (q *queueDoc) queue() *offline.Queue {
	oq := &offline.Queue{Version: q.version, Pending: slices.Clone(q.pending)}
	if q.confirmed != nil {
		oq.Confirmed = q.confirmed.state()
	}
	return oq
}

// newQueueDoc encodes q, whose confirmed garden is confirmed's (or nil).
// The text is encodeQueue's, json.Marshal then Canonical, built around
// the garden's text when that is canonical rather than encoding the
// garden again.
func newQueueDoc(q *offline.Queue, confirmed *stateDoc) (*queueDoc, error) {
	d := &queueDoc{version: q.Version, confirmed: confirmed, pending: q.Pending, pendingJSON: []byte("null")}
	var err error
	if q.Pending != nil {
		d.pendingJSON, err = json.Marshal(q.Pending)
		if err == nil && len(q.Pending) > 0 {
			d.pendingJSON, err = patch.Canonical(d.pendingJSON)
		}
		if err != nil {
			return nil, err
		}
	}
	if confirmed == nil || !confirmed.canonical || q.Version > game.MaxSafeInt {
		d.text, err = encodeQueue(q)
		return d, err
	}
	// The queue is the garden followed by the other members, in key order.
	const head = `{"confirmed":`
	rest := `,"pending":` + string(d.pendingJSON) + `,"version":` + strconv.FormatUint(q.Version, 10) + `}`
	d.text = head + confirmed.text + rest
	return d, nil
}

// encodeQueue is the canonical text of q: json.Marshal, then Canonical.
func encodeQueue(q *offline.Queue) (string, error) {
	b, err := json.Marshal(q)
	if err == nil {
		b, err = patch.Canonical(b)
	}
	return string(b), err
}
