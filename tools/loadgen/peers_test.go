package main

import (
	"sync/atomic"
	"testing"
)

// peerDevice returns a device of a runner for target, not connected: the
// frames below need no answer written.
func peerDevice(target string) (*runner, *device) {
	r := newRunner(config{target: target, payload: 10}, nil)
	g := &garden{idx: 3, user: "u"}
	d := &device{idx: 7, g: g, r: r, pubSent: new([64]atomic.Int64)}
	g.devices = []*device{d}
	return r, d
}

func TestSocketIOFrames(t *testing.T) {
	r, d := peerDevice("socketio")
	if ready, err := r.drv.handle(d, []byte("430[]"), 1); err != nil || !ready {
		t.Fatalf("join ack: ready %v err %v", ready, err)
	}
	frame := r.drv.appendChange(d, nil, 1_000_000)
	if string(frame[:4]) != "421[" {
		t.Fatalf("change frame %s", frame)
	}
	if _, err := r.drv.handle(d, []byte("431[]"), 3_000_000); err != nil {
		t.Fatal(err)
	}
	if r.st.ack.Count() != 1 || r.st.ack.Max() != 2000 {
		t.Fatalf("ack count %d max %dµs", r.st.ack.Count(), r.st.ack.Max())
	}
	// A change from device 9 is measured; one's own echo would not be.
	if _, err := r.drv.handle(d, []byte(`42["change",{"t":1000000,"d":9,"p":"xx"}]`), 4_000_000); err != nil {
		t.Fatal(err)
	}
	if _, err := r.drv.handle(d, []byte(`42["change",{"t":1000000,"d":7,"p":"xx"}]`), 4_000_000); err != nil {
		t.Fatal(err)
	}
	if r.st.bcast.Count() != 1 || r.st.bcast.Max() != 3000 {
		t.Fatalf("broadcast count %d max %dµs", r.st.bcast.Count(), r.st.bcast.Max())
	}
}

func TestCentrifugeFrames(t *testing.T) {
	r, d := peerDevice("centrifuge")
	d.pubID.Store(2)
	if ready, err := r.drv.handle(d, []byte(`{"id":2,"subscribe":{}}`), 1); err != nil || !ready {
		t.Fatalf("subscribe reply: ready %v err %v", ready, err)
	}
	frame := r.drv.appendChange(d, nil, 1_000_000)
	if got := string(field(frame, "id")); got != "3" {
		t.Fatalf("publish id %s in %s", got, frame)
	}
	// Replies and pushes may share a frame, one per line.
	multi := "{\"id\":3,\"publish\":{}}\n{\"push\":{\"channel\":\"g3\",\"pub\":{\"data\":{\"t\":1000000,\"d\":9,\"p\":\"x\"}}}}"
	if _, err := r.drv.handle(d, []byte(multi), 2_000_000); err != nil {
		t.Fatal(err)
	}
	if r.st.ack.Count() != 1 || r.st.bcast.Count() != 1 {
		t.Fatalf("ack %d broadcast %d, want 1 and 1", r.st.ack.Count(), r.st.bcast.Count())
	}
	if _, err := r.drv.handle(d, []byte(`{"id":1,"error":{"code":100,"message":"internal"}}`), 3); err == nil {
		t.Fatal("a refused connect must fail the handshake")
	}
}
