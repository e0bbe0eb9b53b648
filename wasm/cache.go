package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
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
// every call would cost far more than the calls themselves, so the module
// keeps the last few gardens and queues it decoded or produced, keyed by
// their exact text. Gardens are immutable (package game) and queues are
// copied before they change, so sharing them between calls is safe, and
// the answers are the bytes they would be without the cache.

// Cache sizes: the confirmed garden, its prediction and their
// predecessors, with room for the page's small probe gardens; the queue
// and its predecessor. A 500-body garden is about 65 KB of text.
const (
	maxStates = 6
	maxQueues = 3
)

// docCache holds the most recently used documents by their text, most
// recent first. It is small, so lookups scan; comparing texts of other
// lengths costs nothing.
type docCache[D any] struct {
	keys []string
	docs []D
}

func (c *docCache[D]) get(key string) (d D, ok bool) {
	for i, k := range c.keys {
		if k == key {
			// Keep the caller's copy of the text: the glue passes the same
			// copy for the same JavaScript string (recentStrings), and
			// comparing a string with itself costs nothing.
			d = c.docs[i]
			copy(c.keys[1:i+1], c.keys[:i])
			copy(c.docs[1:i+1], c.docs[:i])
			c.keys[0], c.docs[0] = key, d
			return d, true
		}
	}
	return d, false
}

func (c *docCache[D]) put(key string, d D, max int) {
	if i := slices.Index(c.keys, key); i >= 0 {
		c.keys = slices.Delete(c.keys, i, i+1)
		c.docs = slices.Delete(c.docs, i, i+1)
	}
	c.keys = slices.Insert(c.keys, 0, key)[:min(len(c.keys)+1, max)]
	c.docs = slices.Insert(c.docs, 0, d)[:len(c.keys)]
}

// stateDoc is a garden with its text, game.Encode of the state, and what
// answers need of it, each computed once.
type stateDoc struct {
	enc  *game.Encoding
	text string // string(enc.Bytes())

	hash      string // game.Hash of text; "" until asked
	canonical int8   // whether text is in canonical form: 0 unknown, 1 yes, -1 no

	// settled is the state settled at settledAt, the last time asked.
	settled   *game.State
	settledAt int64

	// sums are the SHA-256 states after each hashStride bytes of text,
	// and parent the garden this one derives from until hashed: a garden
	// one change away shares a prefix of its text with its parent, and
	// hashes from the parent's state at the end of that prefix.
	sums   []hash.Cloner
	parent *stateDoc
}

// hashStride is the spacing of the saved SHA-256 states.
const hashStride = 4 << 10

func newStateDoc(enc *game.Encoding, parent *stateDoc) *stateDoc {
	return &stateDoc{enc: enc, text: string(enc.Bytes()), parent: parent}
}

func (d *stateDoc) state() *game.State { return d.enc.State() }

// hashHex returns game.Hash(text).
func (d *stateDoc) hashHex() string {
	if d.hash != "" {
		return d.hash
	}
	h, ok := sha256.New().(hash.Cloner)
	if !ok { // GOFIPS140=v1.0.0: no saved states
		d.hash = game.Hash(d.enc.Bytes())
		return d.hash
	}
	done := 0
	if p := d.parent; p != nil {
		if p.hash == "" && p.parent == nil {
			// Hash the parent too, for its saved states: the page derives
			// several gardens from one (a preview, the display's settle).
			p.hashHex()
		}
		n := 0
		for n < len(p.sums) && (n+1)*hashStride <= len(d.text) && p.text[n*hashStride:(n+1)*hashStride] == d.text[n*hashStride:(n+1)*hashStride] {
			n++
		}
		if n > 0 {
			if c, err := p.sums[n-1].Clone(); err == nil {
				h, done = c, n*hashStride
				d.sums = append(d.sums, p.sums[:n]...) // never written: cloned before use
			}
		}
		d.parent = nil
	}
	for ; done+hashStride <= len(d.text); done += hashStride {
		h.Write(d.enc.Bytes()[done : done+hashStride])
		if c, err := h.Clone(); err == nil {
			d.sums = append(d.sums, c)
		}
	}
	h.Write(d.enc.Bytes()[done:])
	d.hash = hex.EncodeToString(h.Sum(nil))
	return d.hash
}

// isCanonical reports whether text is its own canonical form, so that a
// queue holding the garden holds exactly this text (newQueueDoc).
func (d *stateDoc) isCanonical() bool {
	if d.canonical == 0 {
		d.canonical = -1
		if patch.EncodesCanonically(d.state()) {
			d.canonical = 1
		}
	}
	return d.canonical > 0
}

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
	if confirmed == nil || !confirmed.isCanonical() || q.Version > game.MaxSafeInt {
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
