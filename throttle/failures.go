package throttle

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultMaxKeys is how many keys a MemoryFailures tracks at once when
// FailureLimits.MaxKeys is 0: a few megabytes at most, far more client
// addresses than fail at once in a legitimate fleet.
const DefaultMaxKeys = 50_000

// FailureLimits configure a MemoryFailures: Limit failures of one key
// within Window start a ban of Ban.
type FailureLimits struct {
	Limit  int           // at least 1
	Window time.Duration // positive
	Ban    time.Duration // positive
	// MaxKeys bounds the keys tracked at once (counting or banned);
	// DefaultMaxKeys if 0.
	MaxKeys int
}

// MemoryFailures is a Failures kept in the process's memory, for a single
// server (see Failures for several replicas). The window slides: a key is
// banned when its failures within any span of Window reach Limit, and the
// count starts afresh when the ban ends.
//
// Its memory is bounded: a key whose failures have all left the window, or
// whose ban has ended, is dropped, and at most MaxKeys keys are tracked,
// each with at most Limit failure times. When a new key arrives with
// MaxKeys already tracked, the key that failed least recently without
// being banned is forgotten, so that a client rotating through addresses
// can neither exhaust memory nor lift an existing ban; only when every
// tracked key is banned does the ban that ends first give way.
type MemoryFailures struct {
	limits FailureLimits

	mu   sync.Mutex
	keys map[string]*list.Element // of *failureEntry, in counting or banned
	// counting holds the keys that are not banned, the most recent
	// failure first; banned holds the banned keys, the ban that ends last
	// first (every ban lasts the same, so the latest begun).
	counting list.List
	banned   list.List
}

// failureEntry is what a MemoryFailures knows of one key.
type failureEntry struct {
	key string
	// stamps are the times (Unix nanoseconds) of the failures within the
	// window, oldest first; empty while banned.
	stamps []int64
	until  time.Time // the end of the ban; zero if not banned
}

var _ Failures = (*MemoryFailures)(nil)

// NewMemoryFailures returns an empty MemoryFailures with limits, or an
// error that names a limit out of range.
func NewMemoryFailures(limits FailureLimits) (*MemoryFailures, error) {
	switch {
	case limits.Limit < 1:
		return nil, fmt.Errorf("failure limit %d: allow at least one failure", limits.Limit)
	case limits.Window <= 0:
		return nil, fmt.Errorf("failure window %s: it must be positive", limits.Window)
	case limits.Ban <= 0:
		return nil, fmt.Errorf("ban %s: it must be positive", limits.Ban)
	case limits.MaxKeys < 0:
		return nil, errors.New("negative bound on keys")
	}
	if limits.MaxKeys == 0 {
		limits.MaxKeys = DefaultMaxKeys
	}
	return &MemoryFailures{limits: limits, keys: make(map[string]*list.Element)}, nil
}

// Banned implements Failures. It never fails.
func (m *MemoryFailures) Banned(_ context.Context, key string, now time.Time) (Ban, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ban, _ := m.activeBan(key, now)
	return ban, nil
}

// activeBan returns the ban of key at now, or the zero Ban and key's
// element in counting (nil if key is not tracked). A ban that is over at
// now is forgotten with its key, so that the count starts afresh. m.mu must be
// held.
func (m *MemoryFailures) activeBan(key string, now time.Time) (Ban, *list.Element) {
	el, ok := m.keys[key]
	if !ok {
		return Ban{}, nil
	}
	e := el.Value.(*failureEntry)
	if e.until.IsZero() {
		return Ban{}, el
	}
	if now.Before(e.until) {
		return Ban{Until: e.until}, nil
	}
	m.remove(el)
	return Ban{}, nil
}

// Fail implements Failures. It never fails.
func (m *MemoryFailures) Fail(_ context.Context, key string, now time.Time) (Ban, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	ban, el := m.activeBan(key, now)
	if !ban.Until.IsZero() {
		return ban, nil
	}
	if el == nil {
		if len(m.keys) >= m.limits.MaxKeys {
			m.evict()
		}
		el = m.counting.PushFront(&failureEntry{key: key})
		m.keys[key] = el
	}
	e := el.Value.(*failureEntry)
	cutoff := now.Add(-m.limits.Window).UnixNano()
	i := 0
	for i < len(e.stamps) && e.stamps[i] <= cutoff {
		i++
	}
	e.stamps = append(e.stamps[:copy(e.stamps, e.stamps[i:])], now.UnixNano())
	if len(e.stamps) < m.limits.Limit {
		m.counting.MoveToFront(el)
		return Ban{}, nil
	}
	e.stamps = nil
	e.until = now.Add(m.limits.Ban)
	m.counting.Remove(el)
	m.keys[key] = m.banned.PushFront(e)
	return Ban{Until: e.until, Started: true}, nil
}

// prune drops the keys with nothing left to remember at now: bans that
// have ended and counts whose every failure has left the window. Each list
// is ordered so that these are at its back.
func (m *MemoryFailures) prune(now time.Time) {
	for el := m.banned.Back(); el != nil; el = m.banned.Back() {
		if now.Before(el.Value.(*failureEntry).until) {
			break
		}
		m.remove(el)
	}
	cutoff := now.Add(-m.limits.Window).UnixNano()
	for el := m.counting.Back(); el != nil; el = m.counting.Back() {
		e := el.Value.(*failureEntry)
		if len(e.stamps) > 0 && e.stamps[len(e.stamps)-1] > cutoff {
			break
		}
		m.remove(el)
	}
}

// evict forgets one key to make room: the least recently failed of those
// not banned or, if every key is banned, the one whose ban ends first.
func (m *MemoryFailures) evict() {
	if el := m.counting.Back(); el != nil {
		m.remove(el)
	} else if el := m.banned.Back(); el != nil {
		m.remove(el)
	}
}

// remove forgets the key of el, from whichever list holds it.
func (m *MemoryFailures) remove(el *list.Element) {
	e := el.Value.(*failureEntry)
	if e.until.IsZero() {
		m.counting.Remove(el)
	} else {
		m.banned.Remove(el)
	}
	delete(m.keys, e.key)
}

// Len reports how many keys m tracks: counting failures or banned.
func (m *MemoryFailures) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}
