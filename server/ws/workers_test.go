package ws

import (
	"sync"
	"testing"
	"testing/synctest"
)

// TestWorkers: every task runs, busy workers do not hold up new tasks, at
// most maxIdleWorkers stay waiting afterwards, a waiting worker takes the
// next task, and close ends them all. The workers are goroutines on
// channels only, so the test runs in a synctest bubble: synctest.Wait
// returns once every worker has finished its task and parked or exited,
// which is when the idle count is final.
func TestWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorkers()
		const n = 3 * maxIdleWorkers
		gate := make(chan struct{})
		var ran sync.WaitGroup
		ran.Add(n)
		for range n {
			w.run(func() { // all n at once: each blocks until the gate opens
				<-gate
				ran.Done()
			})
		}
		close(gate)
		ran.Wait()
		synctest.Wait()
		if got := w.idle.Load(); got != maxIdleWorkers {
			t.Fatalf("%d idle workers, want %d", got, maxIdleWorkers)
		}

		done := make(chan struct{})
		w.run(func() { close(done) })
		<-done
		w.close()
		if got := w.idle.Load(); got != 0 {
			t.Fatalf("%d idle workers after close", got)
		}
	})
}
