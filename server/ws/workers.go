package ws

import (
	"sync"
	"sync/atomic"
)

// maxIdleWorkers is how many workers wait for tasks at most; more are
// started when all are busy, and the surplus exits when done. It is sized
// for a change to a garden watched by the most devices a user may have
// (session.Config.MaxPerUser, 1 000 by default), which wakes that many
// writers at once: fewer idle workers would leave the surplus to start,
// and grow, a goroutine per frame. Idle workers are parked a few frames
// deep, so the GC shrinks their stacks back towards 2 KiB.
// docs/performance.md ("Figures behind code comments") has the measurements.
const maxIdleWorkers = 1024

// workers runs short tasks — reading and handling one message, a writer's
// run — on goroutines that outlive them. A new goroutine starts with the
// minimum stack and grows it, copying, through the WebSocket and JSON call
// chains of every task; a worker has grown its stack once.
// The zero value is not usable: use newWorkers. Owned by the Server, which
// stops it after its connections have ended.
type workers struct {
	tasks chan func() // unbuffered: a send succeeds only when a worker waits
	stop  chan struct{}
	idle  atomic.Int32
	wg    sync.WaitGroup
}

func newWorkers() *workers {
	return &workers{tasks: make(chan func()), stop: make(chan struct{})}
}

// run runs f on a waiting worker, or on a new one when none waits. It
// never blocks.
func (w *workers) run(f func()) {
	select {
	case w.tasks <- f:
	default:
		w.wg.Add(1)
		go w.work(f)
	}
}

func (w *workers) work(f func()) {
	defer w.wg.Done()
	for {
		f()
		if w.idle.Add(1) > maxIdleWorkers {
			w.idle.Add(-1)
			return
		}
		select {
		case f = <-w.tasks:
			w.idle.Add(-1)
		case <-w.stop:
			w.idle.Add(-1)
			return
		}
	}
}

// close stops the waiting workers and waits for every worker, busy ones
// included, to end.
func (w *workers) close() {
	close(w.stop)
	w.wg.Wait()
}
