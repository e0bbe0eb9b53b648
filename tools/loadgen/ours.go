package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
)

// driver speaks one target's protocol for a device. handle runs on the
// device's reading goroutine; appendChange on a send worker; both may
// write to the connection (device.write is safe for concurrent use).
type driver interface {
	// dialInfo returns the URL and header to dial for d.
	dialInfo(d *device) (string, http.Header, error)
	// start sends what the protocol needs right after the upgrade.
	start(d *device) error
	// handle processes one inbound frame received at now (run clock, ns);
	// ready reports that the handshake just completed.
	handle(d *device, f []byte, now int64) (ready bool, err error)
	// appendChange appends one change (an action or a publication) sent
	// at now to buf.
	appendChange(d *device, buf []byte, now int64) []byte
	// appendKeepalive appends the periodic client keepalive, if any.
	appendKeepalive(d *device, buf []byte) []byte
}

// ours speaks the contract (protocol.md §2–§5).
type ours struct {
	r *runner
}

// Action ids are "<kind><device>.<n>.<sent>" in base 36, unique per user
// (protocol.md §2) and carrying their send time, so that answers need no
// lookup table. kind is 'a' for a measured action, 's' for a SaveGame.
func appendActionID(b []byte, kind byte, d *device, sent int64) []byte {
	b = append(b, kind)
	b = strconv.AppendInt(b, int64(d.idx), 36)
	b = append(b, '.')
	b = strconv.AppendUint(b, d.actions.Add(1), 36)
	b = append(b, '.')
	return strconv.AppendInt(b, sent, 36)
}

func sentOf(id []byte) (int64, bool) {
	i := bytes.LastIndexByte(id, '.')
	if i < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(id[i+1:]), 36, 64)
	return v, err == nil
}

func (o *ours) dialInfo(d *device) (string, http.Header, error) {
	tok, err := d.g.token(o.r)
	if err != nil {
		return "", nil, err
	}
	u := o.r.url
	if d.sessionID != "" { // resume (protocol.md §5)
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "session=" + d.sessionID + "&last_seq=" + strconv.FormatUint(d.lastSeq.Load(), 10)
	}
	return u, dialHeader(tok), nil
}

func (o *ours) start(*device) error { return nil } // the server speaks first

var (
	tWelcome      = []byte(`"Welcome"`)
	tStateUpdate  = []byte(`"StateUpdate"`)
	tActionResult = []byte(`"ActionResult"`)
	tError        = []byte(`"Error"`)
)

func (o *ours) handle(d *device, f []byte, now int64) (bool, error) {
	r := o.r
	var typ, id, data []byte
	var seq uint64
	if !eachField(f, func(k, v []byte) bool {
		switch string(k) {
		case "type":
			typ = v
		case "id":
			id = rawString(v)
		case "seq":
			seq = parseUint(v)
		case "data":
			data = v
		}
		return true
	}) {
		return false, errors.New("undecodable frame")
	}
	if seq > 0 {
		d.lastSeq.Store(seq)
		if seq-d.ackedSeq >= 64 && d.ready.Load() {
			// Let the server trim its resend buffer, as a client does.
			d.ackedSeq = seq
			bp := getBuf()
			b := append((*bp)[:0], `{"type":"Ack","data":{"seq":`...)
			b = strconv.AppendUint(b, seq, 10)
			b = append(b, "}}"...)
			_ = d.write(b)
			*bp = b
			putBuf(bp)
		}
	}
	switch {
	case bytes.Equal(typ, tStateUpdate):
		var full bool
		var ver uint64
		eachField(data, func(k, v []byte) bool {
			switch string(k) {
			case "full":
				full = isTrue(v)
			case "data":
				ver = parseUint(field(v, "version"))
				return false
			}
			return true
		})
		if p := r.patch.Load(); p != nil {
			p.observe(d, full, len(f))
		}
		if len(d.g.devices) > 1 && d.ready.Load() {
			d.g.onState(d, ver, now)
		}
		return full && !d.ready.Load(), nil
	case bytes.Equal(typ, tActionResult):
		var success bool
		var ver uint64
		eachField(data, func(k, v []byte) bool {
			switch string(k) {
			case "success":
				success = isTrue(v)
			case "version":
				ver = parseUint(v)
			}
			return true
		})
		if len(id) > 0 && id[0] == 's' { // SaveGame (--rich): not measured
			if success {
				d.g.bodies.Store(0)
			} else {
				r.st.rejected.Add(1)
				r.st.noteErr("SaveGame refused: %s", field(data, "message"))
			}
			d.g.saving.Store(false)
			r.saved.Add(1)
			return false, nil
		}
		sent, ok := sentOf(id)
		if !ok {
			return false, nil // not ours (e.g. RefreshToken)
		}
		r.st.recordAck((now - sent) / 1000)
		if !success {
			r.st.rejected.Add(1)
			r.st.noteErr("action refused: %s", field(data, "message"))
			return false, nil
		}
		r.st.actionsOK.Add(1)
		d.g.bodies.Add(1)
		if len(d.g.devices) > 1 {
			d.g.onResult(d, ver, sent, now)
		}
	case bytes.Equal(typ, tWelcome):
		eachField(data, func(k, v []byte) bool {
			switch string(k) {
			case "session_id":
				d.sessionID = string(rawString(v))
			case "heartbeat_ms":
				d.hbEvery.Store(int64(parseUint(v)) * 1e6)
			case "resumed":
				d.resumed = isTrue(v)
			}
			return true
		})
		if !d.resumed {
			d.lastSeq.Store(0)
			d.ackedSeq = 0
		}
		// A resumed session that missed nothing gets no StateUpdate.
		return d.resumed, nil
	case bytes.Equal(typ, tError):
		r.st.errFrames.Add(1)
		code := rawString(field(data, "code"))
		if string(code) == "rate_limited" {
			r.st.rateLimited.Add(1)
		}
		r.st.noteErr("Error %s: %s", code, field(data, "message"))
	}
	return false, nil
}

// appendChange appends a CreateCelestialBody (an asteroid, the cheapest
// body) at a random position, or, when the garden is filling up under
// --rich, a SaveGame that empties it again.
func (o *ours) appendChange(d *device, b []byte, now int64) []byte {
	if o.r.cfg.rich && d.g.bodies.Load() >= richResetAt && d.g.saving.CompareAndSwap(false, true) {
		return appendRichSave(b, d, now, 0)
	}
	b = append(b, `{"type":"CreateCelestialBody","id":"`...)
	b = appendActionID(b, 'a', d, now)
	b = append(b, `","data":{"body_type":"asteroid","position":{"x":`...)
	b = strconv.AppendInt(b, rand.Int64N(2001)-1000, 10)
	b = append(b, `,"y":`...)
	b = strconv.AppendInt(b, rand.Int64N(2001)-1000, 10)
	b = append(b, `,"z":`...)
	b = strconv.AppendInt(b, rand.Int64N(201)-100, 10)
	return append(b, "}}}"...)
}

// richResetAt is how many bodies a garden may gain before a SaveGame
// empties it: the cap is 1000 (shared/rules/balance.go BaseMaxBodies),
// with room left for changes in flight.
const richResetAt = 800

// appendRichSave appends a SaveGame whose state has the largest resources
// the rules allow and, for patchsize, n asteroids.
func appendRichSave(b []byte, d *device, now int64, n int) []byte {
	b = append(b, `{"type":"SaveGame","id":"`...)
	b = appendActionID(b, 's', d, now)
	b = append(b, `","data":{"state":{"bodies":{`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		id := "b-p" + strconv.Itoa(i)
		b = append(b, `"`+id+`":{"created_at":1700000000000,"id":"`+id+`","position":{"x":`...)
		b = strconv.AppendInt(b, int64(i%1000), 10)
		b = append(b, `,"y":`...)
		b = strconv.AppendInt(b, int64(i*7%1000), 10)
		b = append(b, `,"z":0},"type":"asteroid"}`...)
	}
	return append(b, `},"research":{},"resources":{"energy":1000000000,"stardust":1000000000},"updated_at":0}}}`...)
}

func (o *ours) appendKeepalive(d *device, b []byte) []byte {
	return append(b, `{"type":"Heartbeat"}`...)
}
