package session_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/sendq"
	"github.com/cosmic-gardener/realtime/server/session"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// BenchmarkFanOut measures what one change costs per recipient once the
// garden has built its patch: Session.Next wrapping the shared patch bytes
// in each session's frame, into a writer buffer that is reused. One op is
// one change fanned out to every session of the garden; ns/op, allocs/op
// and B/op cover the fan-out only (the change itself, applied and diffed
// once, is left out), and the per-recipient figures divide them by the
// number of sessions.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			// No rate limit: every change reaches every session.
			e := newEnv(b, session.Config{MaxPerUser: n + 1, Queue: sendq.Config{UpdatesPerSecond: 1e9}})
			devs := make([]*device, n)
			for i := range devs {
				devs[i], _ = e.open("alice", "", 0)
				devs[i].read()
			}
			g := devs[0].s.Garden()

			// The change: a SaveGame moving one body, back and forth.
			moved := g.Current().State.Clone()
			for id, body := range moved.Bodies {
				c := *body
				c.Position.X += 0.5
				moved.Bodies[id] = &c
				break
			}
			states := [2]*game.State{moved, g.Current().State.Clone()}

			buf := make([]byte, 0, 64<<10)
			var fanOut time.Duration
			var mallocs, allocBytes uint64
			var before, after runtime.MemStats
			frames := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.clock.Advance(time.Microsecond)
				prev := g.Current().Version
				if _, err := g.Do(context.Background(), "save-"+strconv.Itoa(i), protocol.SaveGame{State: states[i%2]}, nil); err != nil {
					b.Fatal(err)
				}
				g.Update(prev) // the patch, built once per change
				now := e.clock.Now()

				runtime.ReadMemStats(&before)
				start := time.Now()
				for _, d := range devs {
					for {
						var kind sendq.Kind
						buf, kind, _ = d.s.Next(d.o, now, buf[:0])
						if kind != sendq.State {
							break
						}
						if frames++; frames == 1 && !bytes.Contains(buf, []byte(`"full":false`)) {
							b.Fatalf("the update is not a patch: %.200s", buf)
						}
					}
				}
				fanOut += time.Since(start)
				runtime.ReadMemStats(&after)
				mallocs += after.Mallocs - before.Mallocs
				allocBytes += after.TotalAlloc - before.TotalAlloc
			}
			b.StopTimer()
			if frames != b.N*n {
				b.Fatalf("%d state frames for %d changes to %d sessions", frames, b.N, n)
			}
			ops, recipients := float64(b.N), float64(b.N*n)
			b.ReportMetric(float64(fanOut.Nanoseconds())/ops, "ns/op")
			b.ReportMetric(float64(mallocs)/ops, "allocs/op")
			b.ReportMetric(float64(allocBytes)/ops, "B/op")
			b.ReportMetric(float64(fanOut.Nanoseconds())/recipients, "ns/recipient")
			b.ReportMetric(float64(mallocs)/recipients, "allocs/recipient")
		})
	}
}
