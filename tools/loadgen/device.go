package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// garden is one player: a user id, its token, its devices. For ours it is
// the server's garden; for the peers a channel or room.
type garden struct {
	idx     int
	user    string
	devices []*device

	tokOnce sync.Once
	tok     string
	tokErr  error

	bodies atomic.Int64 // bodies added since the last reset (ours, --rich)
	saving atomic.Bool  // a SaveGame is in flight

	track tracker // broadcast latency matching (ours)
}

// device is one simulated device: one WebSocket at a time, owned by the
// goroutine running live. Fields below the atomics are touched only by
// that goroutine, or under garden.track.mu where noted.
type device struct {
	idx  int // across the run
	slot int // within its garden
	g    *garden
	r    *runner

	ws      atomic.Pointer[websocket.Conn]
	tcp     atomic.Pointer[net.TCPConn] // under ws, for abort
	ready   atomic.Bool
	lastSeq atomic.Uint64
	hbEvery atomic.Int64 // heartbeat interval, ns (ours: from Welcome)
	nextHB  atomic.Int64 // run clock, ns
	actions atomic.Uint64
	pubID   atomic.Uint32 // peers: command / ack ids

	// Owned by the device goroutine.
	sessionID  string
	ackedSeq   uint64
	resumed    bool
	droppedAt  int64 // run clock of the last unplanned drop, 0 when none
	readySince int64

	// peers: send times of recent publishes, by ack id % len.
	pubSent *[64]atomic.Int64

	// ours, under g.track.mu: recent state versions seen and when.
	seen []verAt
}

// bufPool holds read and write buffers: a connection holds one only while
// a frame is being read or built, so idle connections cost none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 256<<10 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// errClosing ends a device whose run is over.
var errClosing = errors.New("run is closing")

// live runs the device: connect, read until the connection ends, and, in
// the reconnect phase, reconnect with capped, jittered backoff. firstDone
// is called once, when the first attempt has succeeded or failed.
func (d *device) live(ctx context.Context, firstDone func()) {
	r := d.r
	defer r.readers.Done()
	reported := false
	report := func() {
		if !reported {
			reported = true
			firstDone()
		}
	}
	defer report()
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if r.closing.Load() || ctx.Err() != nil {
			return
		}
		if r.tokens != nil {
			_, _ = d.g.token(r) // minted before the clock starts: not part of connect time
		}
		start := r.now()
		err := d.connect(ctx)
		if err == nil {
			readyAt := r.now()
			d.readySince = readyAt
			if d.droppedAt != 0 {
				r.st.reconnect.Record((readyAt - d.droppedAt) / 1000)
				if d.resumed {
					r.st.resumed.Add(1)
				} else {
					r.st.resynced.Add(1)
				}
				d.droppedAt = 0
				r.back.Add(1)
				r.lastBack.Store(readyAt)
			} else if !reported {
				r.st.recordConnect((readyAt - start) / 1000)
				r.st.connOK.Add(1)
			}
			backoff = 50 * time.Millisecond
			report()
			err = d.readLoop()
			d.ready.Store(false)
			r.st.connOpen.Add(-1)
			if ws := d.ws.Swap(nil); ws != nil {
				_ = ws.CloseNow()
			}
		} else if !reported && d.droppedAt == 0 {
			r.st.connFailed.Add(1)
			r.st.noteErr("connect %s: %v", d.g.user, err)
			report()
			return
		}
		if r.closing.Load() || ctx.Err() != nil {
			return
		}
		if !r.reconnecting.Load() {
			r.st.dropped.Add(1)
			r.st.noteErr("device %d dropped: %v", d.idx, err)
			return
		}
		if d.droppedAt == 0 {
			d.droppedAt = r.now()
			r.firstDrop.CompareAndSwap(0, d.droppedAt)
		}
		if r.now()-d.droppedAt > int64(r.cfg.settle) {
			r.st.noteErr("device %d not back within %s: %v", d.idx, r.cfg.settle, err)
			return
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, time.Second)
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return
		}
	}
}

// connect dials and completes the handshake: for ours, Welcome and the
// first full StateUpdate (or Welcome alone for a resumed session).
func (d *device) connect(ctx context.Context) error {
	r := d.r
	u, hdr, err := r.drv.dialInfo(d)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.connectTimeout)
	defer cancel()
	dctx := context.WithValue(cctx, tcpSlot{}, &d.tcp)
	if ip, ok := loopbackSource(r.host, d.idx, r.cfg.sourceIPs); ok {
		dctx = context.WithValue(dctx, sourceIP{}, ip)
	}
	ws, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: hdr, HTTPClient: r.httpClient})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(16 << 20)
	d.ws.Store(ws)
	r.st.connOpen.Add(1)
	fail := func(err error) error {
		r.st.connOpen.Add(-1)
		d.ws.Store(nil)
		_ = ws.CloseNow()
		return err
	}
	if err := r.drv.start(d); err != nil {
		return fail(fmt.Errorf("handshake: %w", err))
	}
	for {
		bp, err := d.readFrame(cctx, ws)
		if err != nil {
			return fail(fmt.Errorf("handshake: %w", err))
		}
		ready, herr := r.drv.handle(d, *bp, r.now())
		putBuf(bp)
		if herr != nil {
			return fail(fmt.Errorf("handshake: %w", herr))
		}
		if ready {
			d.ready.Store(true)
			if hb := d.hbEvery.Load(); hb > 0 {
				d.nextHB.Store(r.now() + rand.Int64N(hb))
			}
			return nil
		}
	}
}

// readLoop reads until the connection ends. The background context costs
// no timer per read; closing the socket unblocks it.
func (d *device) readLoop() error {
	ws := d.ws.Load()
	if ws == nil {
		return errClosing
	}
	for {
		bp, err := d.readFrame(context.Background(), ws)
		if err != nil {
			return err
		}
		_, herr := d.r.drv.handle(d, *bp, d.r.now())
		putBuf(bp)
		if herr != nil {
			d.r.st.protoErrs.Add(1)
			d.r.st.noteErr("device %d: %v", d.idx, herr)
		}
	}
}

// readFrame reads one message into a pooled buffer.
func (d *device) readFrame(ctx context.Context, ws *websocket.Conn) (*[]byte, error) {
	_, rd, err := ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	bp := getBuf()
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = b
			putBuf(bp)
			return nil, err
		}
	}
	*bp = b
	d.r.st.msgsIn.Add(1)
	d.r.st.bytesIn.Add(int64(len(b)))
	return bp, nil
}

// write sends one text frame on the current connection.
func (d *device) write(frame []byte) error {
	ws := d.ws.Load()
	if ws == nil {
		return errClosing
	}
	if err := ws.Write(context.Background(), websocket.MessageText, frame); err != nil {
		d.r.st.writeErrs.Add(1)
		return err
	}
	d.r.st.msgsOut.Add(1)
	d.r.st.bytesOut.Add(int64(len(frame)))
	return nil
}

// token returns the garden's token, minting or fetching it once.
func (g *garden) token(r *runner) (string, error) {
	g.tokOnce.Do(func() { g.tok, g.tokErr = r.tokens.token(g.user) })
	return g.tok, g.tokErr
}

// dialHeader is the Authorization header for ours.
func dialHeader(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}
