package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The peers get the same changes as ours, as publications of
// {"t": send time, "d": device, "p": padding} to the garden's channel or
// room; --payload pads them to the size of our patch frames. Broadcast
// latency is read from t directly; ack latency from the publish reply.

// appendPub appends the publication payload.
func appendPub(b []byte, d *device, now int64, pad int) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, now, 10)
	b = append(b, `,"d":`...)
	b = strconv.AppendInt(b, int64(d.idx), 10)
	b = append(b, `,"p":"`...)
	for range pad {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// onPub records a publication received by d.
func onPub(d *device, obj []byte, now int64) {
	var t int64
	from := -1
	eachField(obj, func(k, v []byte) bool {
		switch string(k) {
		case "t":
			t = parseInt(v)
		case "d":
			from = int(parseInt(v))
		}
		return true
	})
	if from != d.idx && t > 0 {
		d.r.st.recordBcast((now - t) / 1000)
	}
}

// notePublish remembers when publication id left.
func notePublish(d *device, id uint32, now int64) {
	if d.pubSent == nil {
		return
	}
	d.pubSent[id%uint32(len(d.pubSent))].Store(now)
}

// onPublishAck records the ack latency of publication id.
func onPublishAck(d *device, id uint32, now int64) {
	if d.pubSent == nil {
		return
	}
	if sent := d.pubSent[id%uint32(len(d.pubSent))].Swap(0); sent > 0 {
		d.r.st.recordAck((now - sent) / 1000)
		d.r.st.actionsOK.Add(1)
	}
}

func withQuery(u, q string) string {
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

// centrifuge speaks the JSON protocol of github.com/centrifugal/centrifuge
// (protocol v2): commands {"id":N,"connect"|"subscribe"|"publish":{…}},
// replies with the same id, pushes {"push":{"channel","pub":{"data"}}},
// several per frame separated by newlines; the server's ping is {} and the
// client answers {}.
type centrifuge struct {
	r *runner
}

func (c *centrifuge) dialInfo(d *device) (string, http.Header, error) {
	return withQuery(c.r.url, "user="+d.g.user), nil, nil
}

func (c *centrifuge) start(d *device) error {
	d.pubID.Store(2) // 1 connect, 2 subscribe, then publications
	return d.write([]byte(`{"id":1,"connect":{"name":"loadgen"}}`))
}

func (c *centrifuge) handle(d *device, f []byte, now int64) (bool, error) {
	ready := false
	for len(f) > 0 {
		line := f
		if i := bytes.IndexByte(f, '\n'); i >= 0 {
			line, f = f[:i], f[i+1:]
		} else {
			f = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if string(line) == "{}" { // ping
			_ = d.write([]byte("{}"))
			continue
		}
		var id uint64
		var push, errv []byte
		eachField(line, func(k, v []byte) bool {
			switch string(k) {
			case "id":
				id = parseUint(v)
			case "push":
				push = v
			case "error":
				errv = v
			}
			return true
		})
		if errv != nil {
			c.r.st.errFrames.Add(1)
			c.r.st.noteErr("centrifuge error reply to %d: %s", id, errv)
			if id <= 2 {
				return false, fmt.Errorf("centrifuge: %s", errv)
			}
			continue
		}
		switch {
		case push != nil:
			if pub := field(push, "pub"); pub != nil {
				onPub(d, field(pub, "data"), now)
			}
		case id == 1: // connected
			b := append([]byte(`{"id":2,"subscribe":{"channel":"g`), strconv.Itoa(d.g.idx)...)
			if err := d.write(append(b, `"}}`...)); err != nil {
				return false, err
			}
		case id == 2: // subscribed
			ready = true
		case id > 2:
			onPublishAck(d, uint32(id), now)
		}
	}
	return ready, nil
}

func (c *centrifuge) appendChange(d *device, b []byte, now int64) []byte {
	id := d.pubID.Add(1)
	notePublish(d, id, now)
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(id), 10)
	b = append(b, `,"publish":{"channel":"g`...)
	b = strconv.AppendInt(b, int64(d.g.idx), 10)
	b = append(b, `","data":`...)
	b = appendPub(b, d, now, c.r.cfg.payload)
	return append(b, "}}"...)
}

func (c *centrifuge) appendKeepalive(*device, []byte) []byte { return nil }

// socketio speaks Engine.IO v4 / Socket.IO v5 text framing over a
// WebSocket: "0{…}" open, "40" namespace connect (answered "40{sid}"),
// "42[event,data]" events, "42<id>[…]" with an ack answered "43<id>[…]",
// and the server's ping "2" answered "3".
type socketio struct {
	r *runner
}

func (s *socketio) dialInfo(d *device) (string, http.Header, error) {
	return withQuery(s.r.url, "user="+d.g.user), nil, nil
}

func (s *socketio) start(*device) error { return nil } // the server speaks first

func (s *socketio) handle(d *device, f []byte, now int64) (bool, error) {
	switch {
	case len(f) == 0:
		return false, errors.New("empty frame")
	case f[0] == '2': // ping
		return false, d.write([]byte("3"))
	case f[0] == '0': // open
		return false, d.write([]byte("40"))
	case f[0] == '1':
		return false, errors.New("engine.io close")
	case f[0] != '4' || len(f) < 2:
		return false, nil
	}
	switch f[1] {
	case '0': // namespace connected: join the garden's room with an ack
		d.pubID.Store(0)
		b := append([]byte(`420["join","g`), strconv.Itoa(d.g.idx)...)
		return false, d.write(append(b, `"]`...))
	case '3': // ack
		id := parseUint(f[2:])
		if id == 0 {
			return true, nil // the join
		}
		onPublishAck(d, uint32(id), now)
	case '2': // event: ["change",{…}]
		if i := bytes.IndexByte(f, '{'); i >= 0 {
			onPub(d, f[i:len(f)-1], now)
		}
	case '1', '4':
		return false, fmt.Errorf("socket.io: %s", f)
	}
	return false, nil
}

func (s *socketio) appendChange(d *device, b []byte, now int64) []byte {
	id := d.pubID.Add(1)
	notePublish(d, id, now)
	b = append(b, "42"...)
	b = strconv.AppendUint(b, uint64(id), 10)
	b = append(b, `["change",`...)
	b = appendPub(b, d, now, s.r.cfg.payload)
	return append(b, ']')
}

func (s *socketio) appendKeepalive(*device, []byte) []byte { return nil }
