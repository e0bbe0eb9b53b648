// Package fakeclock is a settable clock for tests of packages that take a
// Clock func() time.Time in their Config.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use. Pass its Now method as a Config.Clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock reading start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
