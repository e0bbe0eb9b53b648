package main

import "sync"

// tracker matches a garden's changes to the StateUpdates its other devices
// receive (ours). The sender learns the version of its change only from
// ActionResult.data.version, which may arrive after another device already
// got the StateUpdate (the server notifies subscribers before answering,
// server/garden Do), so both orders are handled: a device remembers the
// recent versions it saw and when, and a change waits in pend for the
// devices that have not seen it yet. Updates coalesce (protocol.md §5): a
// StateUpdate at version v delivers every change ≤ v.
type tracker struct {
	mu   sync.Mutex
	pend []*pending
}

type pending struct {
	version uint64
	sent    int64 // run clock, ns
	origin  int   // slot of the sender
	left    int
	done    []uint64 // bit per slot
}

type verAt struct {
	v  uint64
	at int64
}

const (
	seenKeep    = 32          // versions remembered per device
	pendTimeout = int64(1e10) // a change not seen within 10 s is missed
)

// onState records that d received a StateUpdate at version v at time at.
func (g *garden) onState(d *device, v uint64, at int64) {
	t := &g.track
	st := d.r.st
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(d.seen) == seenKeep {
		copy(d.seen, d.seen[1:])
		d.seen = d.seen[:seenKeep-1]
	}
	d.seen = append(d.seen, verAt{v, at})
	for i := 0; i < len(t.pend); {
		p := t.pend[i]
		if p.version <= v && p.origin != d.slot && p.done[d.slot/64]&(1<<(d.slot%64)) == 0 {
			p.done[d.slot/64] |= 1 << (d.slot % 64)
			p.left--
			st.recordBcast((at - p.sent) / 1000)
		}
		if p.left <= 0 {
			t.pend[i] = t.pend[len(t.pend)-1]
			t.pend[len(t.pend)-1] = nil
			t.pend = t.pend[:len(t.pend)-1]
			continue
		}
		i++
	}
}

// onResult records that d's change, sent at sent, produced version v;
// now is the time of the ActionResult.
func (g *garden) onResult(d *device, v uint64, sent, now int64) {
	t := &g.track
	st := d.r.st
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &pending{version: v, sent: sent, origin: d.slot, done: make([]uint64, (len(g.devices)+63)/64)}
	for _, o := range g.devices {
		bit := uint64(1) << (o.slot % 64)
		if o == d || !o.ready.Load() {
			p.done[o.slot/64] |= bit
			continue
		}
		if at, ok := firstAtLeast(o.seen, v); ok {
			st.recordBcast((at - sent) / 1000)
			p.done[o.slot/64] |= bit
			continue
		}
		p.left++
	}
	if p.left > 0 {
		t.pend = append(t.pend, p)
	}
	// Expire changes some device never saw.
	for i := 0; i < len(t.pend); {
		if q := t.pend[i]; now-q.sent > pendTimeout {
			st.bcastMissed.Add(int64(q.left))
			t.pend[i] = t.pend[len(t.pend)-1]
			t.pend[len(t.pend)-1] = nil
			t.pend = t.pend[:len(t.pend)-1]
			continue
		}
		i++
	}
}

// missed counts the changes still waiting, at the end of the run.
func (g *garden) missed() int {
	t := &g.track
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.pend {
		n += p.left
	}
	t.pend = nil
	return n
}

// firstAtLeast returns when the first version ≥ v was seen.
func firstAtLeast(seen []verAt, v uint64) (int64, bool) {
	i := len(seen)
	for i > 0 && seen[i-1].v >= v {
		i--
	}
	if i == len(seen) {
		return 0, false
	}
	return seen[i].at, true
}
