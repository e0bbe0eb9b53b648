package ws

import (
	"sync"
	"testing"
	"time"
)

// TestWorkers: every task runs, busy workers do not hold up new tasks, at
// most maxIdleWorkers stay waiting afterwards, a waiting worker takes the
// next task, and close ends them all.
func TestWorkers(t *testing.T) {
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
	deadline := time.Now().Add(5 * time.Second)
	for w.idle.Load() != maxIdleWorkers {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle workers, want %d", w.idle.Load(), maxIdleWorkers)
		}
		time.Sleep(time.Millisecond)
	}

	done := make(chan struct{})
	w.run(func() { close(done) })
	<-done
	w.close()
	if got := w.idle.Load(); got != 0 {
		t.Fatalf("%d idle workers after close", got)
	}
}
