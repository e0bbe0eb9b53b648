package sendq_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/sendq"
)

// t0 is an arbitrary start: the queue never reads the clock itself.
var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// do names what one scripted step does to the queue.
type do int

const (
	doPush      do = iota + 1 // PushControl(frame), expecting ok
	doMark                    // MarkState(urgent), expecting coalesced
	doNext                    // Next, expecting kind, frame and wait
	doSentState               // SentState(n)
	doSent                    // Sent(n)
	doDrop                    // DropControl
)

// op is one step of a scripted case, at t0+at.
type op struct {
	do    do
	at    time.Duration
	frame string
	ok    bool
	n     int

	urgent, coalesced bool

	kind sendq.Kind
	wait time.Duration
}

func run(t *testing.T, q *sendq.Queue, ops []op) {
	t.Helper()
	for i, o := range ops {
		now := t0.Add(o.at)
		switch o.do {
		case doPush:
			if got := q.PushControl([]byte(o.frame)); got != o.ok {
				t.Fatalf("step %d: PushControl(%q) = %v, want %v", i, o.frame, got, o.ok)
			}
		case doMark:
			if got := q.MarkState(o.urgent); got != o.coalesced {
				t.Fatalf("step %d: MarkState(%v) coalesced = %v, want %v", i, o.urgent, got, o.coalesced)
			}
		case doNext:
			kind, frame, wait := q.Next(now)
			if kind != o.kind || string(frame) != o.frame || wait != o.wait {
				t.Fatalf("step %d at +%s: Next = (%v, %q, %s), want (%v, %q, %s)", i, o.at, kind, frame, wait, o.kind, o.frame, o.wait)
			}
		case doSentState:
			q.SentState(now, o.n)
		case doSent:
			q.Sent(now, o.n)
		case doDrop:
			q.DropControl()
		default:
			t.Fatalf("step %d: no action", i)
		}
	}
}

func push(frame string) op     { return op{do: doPush, frame: frame, ok: true} }
func pushFull(frame string) op { return op{do: doPush, frame: frame, ok: false} }
func mark(at time.Duration, urgent, coalesced bool) op {
	return op{do: doMark, at: at, urgent: urgent, coalesced: coalesced}
}
func sentState(at time.Duration, n int) op { return op{do: doSentState, at: at, n: n} }
func sentBytes(at time.Duration, n int) op { return op{do: doSent, at: at, n: n} }
func drop() op                             { return op{do: doDrop} }
func next(at time.Duration, kind sendq.Kind, frame string, wait time.Duration) op {
	return op{do: doNext, at: at, kind: kind, frame: frame, wait: wait}
}
func idle(at time.Duration) op                  { return next(at, sendq.Idle, "", 0) }
func control(at time.Duration, f string) op     { return next(at, sendq.Control, f, 0) }
func state(at time.Duration) op                 { return next(at, sendq.State, "", 0) }
func wait(at time.Duration, d time.Duration) op { return next(at, sendq.Wait, "", d) }

func TestQueueScripts(t *testing.T) {
	tests := []struct {
		name string
		cfg  sendq.Config
		ops  []op
	}{
		{name: "empty is idle", ops: []op{idle(0)}},
		{
			name: "control before state, FIFO",
			ops: []op{
				mark(0, false, false), push("a"), push("b"),
				control(0, "a"), control(0, "b"), state(0), sentState(0, 10), idle(0),
			},
		},
		{
			name: "leading edge: an idle queue sends state at once",
			ops: []op{
				mark(ms(5000), false, false), state(ms(5000)), sentState(ms(5000), 10),
				// A change soon after waits for 90 % of the interval...
				mark(ms(5050), false, false), wait(ms(5050), ms(40)), state(ms(5090)), sentState(ms(5090), 10),
				// ...one after a quiet spell goes at once.
				mark(ms(9000), false, false), state(ms(9000)),
			},
		},
		{
			name: "configured rate sets the window",
			cfg:  sendq.Config{UpdatesPerSecond: 2},
			ops: []op{
				mark(0, false, false), state(0), sentState(0, 10),
				mark(ms(1), false, false), wait(ms(1), ms(449)), state(ms(450)),
			},
		},
		{
			name: "coalescing is reported until the update is sent",
			ops: []op{
				mark(0, false, false), mark(0, false, true), mark(0, true, true),
				state(0), sentState(0, 10), idle(0),
				mark(ms(1), false, false),
			},
		},
		{
			name: "urgent skips the rate limit once",
			ops: []op{
				mark(0, false, false), state(0), sentState(0, 10),
				mark(ms(10), true, false), state(ms(10)), sentState(ms(10), 10),
				// The spacing restarts at the urgent update and binds again.
				mark(ms(20), false, false), wait(ms(20), ms(80)), state(ms(100)),
			},
		},
		{
			name: "urgent survives coalescing with a plain change",
			ops: []op{
				mark(0, false, false), state(0), sentState(0, 10),
				mark(ms(10), true, false), mark(ms(10), false, true), state(ms(10)),
			},
		},
		{
			name: "while changes keep coming, updates are a whole interval apart",
			ops: []op{
				mark(0, false, false), state(0), sentState(0, 10),
				mark(ms(10), false, false), mark(ms(20), false, true), wait(ms(20), ms(70)),
				state(ms(90)), sentState(ms(90), 10),
				// Coalesced since the last update: the next waits 100 ms.
				mark(ms(100), false, false), wait(ms(100), ms(90)), state(ms(190)), sentState(ms(190), 10),
				// Nothing coalesced into that one: 90 ms again.
				mark(ms(280), false, false), state(ms(280)),
			},
		},
		{
			name: "a change every 100 ms goes out at once until the second's tenth",
			ops: func() []op {
				var ops []op
				for i := range 10 { // at 0, 98, …, 882 ms
					at := ms(98 * i)
					ops = append(ops, mark(at, false, false), state(at), sentState(at, 10))
				}
				// The eleventh, at 980 ms, waits for the first to leave the second.
				return append(ops, mark(ms(980), false, false), wait(ms(980), ms(20)), state(ms(1000)))
			}(),
		},
		{
			name: "urgent updates are not counted in the window",
			ops: func() []op {
				var ops []op
				for i := range 10 {
					at := ms(95 * i)
					ops = append(ops, mark(at, false, false), state(at), sentState(at, 10))
				}
				// The tenth paced update went at 855 ms: an urgent one at 900
				// goes, and is not what the next paced one waits for.
				ops = append(ops, mark(ms(900), true, false), state(ms(900)), sentState(ms(900), 10))
				return append(ops, mark(ms(990), false, false), wait(ms(990), ms(10)), state(ms(1000)))
			}(),
		},
		{
			name: "an empty update (already current) opens no window",
			ops: []op{
				mark(0, false, false), state(0), sentState(0, 0),
				mark(ms(1), false, false), state(ms(1)),
			},
		},
		{
			// Rates are powers of two so that the float math is exact.
			name: "byte budget: state waits, control flows",
			cfg:  sendq.Config{BytesPerSecond: 1024}, // burst 1024
			ops: []op{
				mark(0, false, false), state(0), sentState(0, 1536), // tokens -512
				mark(ms(250), false, false),
				// -512 + 256 = -256 bytes: 250 ms, plus the 1 ms margin.
				wait(ms(250), ms(251)),
				push("hb"), control(ms(250), "hb"), sentBytes(ms(250), 256), // -512
				wait(ms(250), ms(501)),
				state(ms(751)),
			},
		},
		{
			name: "urgent does not skip the byte budget",
			cfg:  sendq.Config{BytesPerSecond: 1024},
			ops: []op{
				mark(0, false, false), state(0), sentState(0, 2048), // tokens -1024
				mark(ms(500), true, false), wait(ms(500), ms(501)), state(ms(1001)),
			},
		},
		{
			name: "refill is capped at the burst",
			cfg:  sendq.Config{BytesPerSecond: 1024, BurstBytes: 2048},
			ops: []op{
				sentBytes(0, 3072), // 2048 - 3072 = -1024
				mark(0, false, false), wait(ms(500), ms(501)),
				// Ten quiet seconds refill to 2048, not 9728: one byte
				// more than the burst leaves the bucket at -1.
				sentBytes(ms(10500), 2049),
				wait(ms(10500), time.Second/1024+ms(1)),
				state(ms(10502)),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, sendq.New(tt.cfg), tt.ops)
		})
	}
}

// TestQueueRateLimit marks a change every 10 ms for one second, draining the
// queue after each as a writer would: at most rate+1 updates go out (the
// leading edge plus one per interval), the rest coalesce, and the last
// change is never lost.
func TestQueueRateLimit(t *testing.T) {
	tests := []struct {
		rate     float64
		max, min int
	}{
		{rate: 0, max: 11, min: 10}, // default 10/s (protocol.md §5)
		{rate: 10, max: 11, min: 10},
		{rate: 1, max: 2, min: 1},
		{rate: 50, max: 51, min: 50},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			q := sendq.New(sendq.Config{UpdatesPerSecond: tt.rate})
			interval := time.Second / 10
			if tt.rate > 0 {
				interval = time.Duration(float64(time.Second) / tt.rate)
			}
			sent, coalesced := 0, 0
			var last time.Time
			drain := func(now time.Time) {
				for {
					kind, _, _ := q.Next(now)
					if kind != sendq.State {
						return
					}
					if !last.IsZero() && now.Sub(last) < interval*9/10 {
						t.Fatalf("updates %s apart, interval %s", now.Sub(last), interval)
					}
					sent++
					last = now
					q.SentState(now, 100)
				}
			}
			for i := range 100 {
				now := t0.Add(time.Duration(i) * 10 * time.Millisecond) // 0 .. 990 ms
				if q.MarkState(false) {
					coalesced++
				}
				drain(now)
			}
			if sent > tt.max || sent < tt.min {
				t.Fatalf("%d state updates in one second, want %d..%d", sent, tt.min, tt.max)
			}
			pending := 0
			if q.StatePending() {
				pending = 1
			}
			if sent+coalesced+pending != 100 {
				t.Fatalf("%d sent + %d coalesced + %d pending, want 100 changes accounted for", sent, coalesced, pending)
			}
			// The trailing change goes out once its window opens.
			if q.StatePending() {
				kind, _, d := q.Next(t0.Add(990 * time.Millisecond))
				if kind != sendq.Wait {
					t.Fatalf("pending state: Next = %v, want Wait", kind)
				}
				if kind, _, _ := q.Next(t0.Add(990*time.Millisecond + d)); kind != sendq.State {
					t.Fatalf("after the wait: Next = %v, want State", kind)
				}
			}
		})
	}
}

func TestQueueControlOverflow(t *testing.T) {
	t.Run("by count", func(t *testing.T) {
		q := sendq.New(sendq.Config{MaxControl: 3})
		run(t, q, []op{push("a"), push("b"), push("c"), pushFull("d"), control(0, "a"), push("d")})
		if q.Len() != 3 {
			t.Fatalf("Len = %d, want 3", q.Len())
		}
	})
	t.Run("by bytes", func(t *testing.T) {
		q := sendq.New(sendq.Config{MaxControlBytes: 10})
		run(t, q, []op{
			push("123456"), pushFull("12345"), push("1234"), pushFull("1"),
			// Popping returns the bytes to the lane.
			control(0, "123456"), push("12345"), control(0, "1234"), control(0, "12345"), idle(0),
		})
	})
	t.Run("defaults", func(t *testing.T) {
		q := sendq.New(sendq.Config{})
		for i := range 1024 {
			if !q.PushControl([]byte{'x'}) {
				t.Fatalf("push %d refused, default is 1024", i)
			}
		}
		if q.PushControl([]byte{'x'}) {
			t.Fatal("push 1025 accepted")
		}
		q.DropControl()
		if !q.PushControl(make([]byte, 1<<20)) || q.PushControl([]byte{'x'}) {
			t.Fatal("default byte bound is not 1 MiB")
		}
	})
}

func TestQueueDropControl(t *testing.T) {
	q := sendq.New(sendq.Config{MaxControl: 2, MaxControlBytes: 4})
	run(t, q, []op{
		push("ab"), push("cd"), pushFull("e"), mark(0, false, false),
		drop(),
		// The state slot survives; the lane is empty and its byte count
		// reset.
		state(0), sentState(0, 1), push("wx"), push("yz"), control(0, "wx"), control(0, "yz"), idle(0),
	})
}

// TestQueueNeverExceedsTheRate drives a queue with changes at random
// rates, from a trickle to a flood, and a writer that sends whenever Next
// allows: no second ever holds more than ten state updates, no two are
// less than 90 ms apart, and the last change always goes out.
func TestQueueNeverExceedsTheRate(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		q := sendq.New(sendq.Config{})
		var sends []time.Duration
		const end = 20 * time.Second
		perMS := 0.0 // chance of a change in each millisecond, varied every second
		for at := time.Duration(0); at < end+time.Second; at += time.Millisecond {
			if at%time.Second == 0 {
				perMS = []float64{0, 0.002, 0.008, 0.01, 0.012, 0.05, 0.5}[rng.IntN(7)]
			}
			if at < end && rng.Float64() < perMS {
				q.MarkState(false)
			}
			if kind, _, _ := q.Next(t0.Add(at)); kind == sendq.State {
				sends = append(sends, at)
				q.SentState(t0.Add(at), 100)
			}
		}
		if q.StatePending() {
			t.Fatalf("seed %d: a change never went out", seed)
		}
		for i := range sends {
			if i > 0 && sends[i]-sends[i-1] < 90*time.Millisecond {
				t.Fatalf("seed %d: updates at %s and %s", seed, sends[i-1], sends[i])
			}
			if i >= 10 && sends[i]-sends[i-10] < time.Second {
				t.Fatalf("seed %d: 11 updates from %s to %s", seed, sends[i-10], sends[i])
			}
		}
		if len(sends) < 20 {
			t.Fatalf("seed %d: only %d updates in 20 s", seed, len(sends))
		}
	}
}

// TestQueueHugeRate: a rate far above any real one (benchmarks use 1e9 to
// switch the limit off) neither allocates with the rate nor holds updates
// back.
func TestQueueHugeRate(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	q := sendq.New(sendq.Config{UpdatesPerSecond: 1e9})
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Fatalf("New allocated %d bytes", n)
	}
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Microsecond)
		q.MarkState(false)
		if kind, _, wait := q.Next(now); kind != sendq.State {
			t.Fatalf("change %d: Next = %v (wait %s), want State", i, kind, wait)
		}
		q.SentState(now, 10)
	}
}
