package auth

import (
	"sync"
	"time"
)

// Throttle slows down repeated login failures per key ("login:anna",
// "addr:192.0.2.7"): Free failures in a row cost nothing; after them, the
// next attempt must wait 1 s, and each further failure doubles the wait,
// up to Max. A success
// forgets the key's failures; failures older than Forget are forgotten.
// It is in memory, per process.
type Throttle struct {
	Free   int           // failures allowed before any wait
	Max    time.Duration // the longest wait
	Forget time.Duration // a key with no failure for this long starts over

	mu      sync.Mutex
	entries map[string]*throttleEntry
	now     func() time.Time
}

type throttleEntry struct {
	failures int
	last     time.Time
}

// maxThrottleKeys bounds the memory a flood of logins from many addresses
// can take: beyond it, the oldest keys are dropped.
const maxThrottleKeys = 100000

// NewThrottle returns a throttle allowing free failures per key before
// slowing down.
func NewThrottle(free int, max time.Duration) *Throttle {
	return &Throttle{Free: free, Max: max, Forget: time.Hour, entries: map[string]*throttleEntry{}, now: time.Now}
}

// SetClock replaces the throttle's clock (tests).
func (t *Throttle) SetClock(now func() time.Time) { t.mu.Lock(); t.now = now; t.mu.Unlock() }

// Wait returns how long the caller must still wait before another attempt
// for any of keys is considered; 0 means now.
func (t *Throttle) Wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		e := t.entries[k]
		if e == nil {
			continue
		}
		if now.Sub(e.last) > t.Forget {
			delete(t.entries, k)
			continue
		}
		if w := e.last.Add(t.delay(e.failures)).Sub(now); w > wait {
			wait = w
		}
	}
	return wait
}

func (t *Throttle) delay(failures int) time.Duration {
	over := failures - t.Free + 1
	if over <= 0 {
		return 0
	}
	d := time.Second
	for i := 1; i < over && d < t.Max; i++ {
		d *= 2
	}
	return min(d, t.Max)
}

// Fail records a failed attempt for every key.
func (t *Throttle) Fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.entries) >= maxThrottleKeys {
		t.evict(now)
	}
	for _, k := range keys {
		e := t.entries[k]
		if e == nil || now.Sub(e.last) > t.Forget {
			e = &throttleEntry{}
			t.entries[k] = e
		}
		e.failures++
		e.last = now
	}
}

// Succeed forgets key's failures.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// evict drops the forgotten keys, and half of the rest if that freed too
// little. The caller holds mu.
func (t *Throttle) evict(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.last) > t.Forget {
			delete(t.entries, k)
		}
	}
	for k := range t.entries {
		if len(t.entries) < maxThrottleKeys/2 {
			break
		}
		delete(t.entries, k)
	}
}
