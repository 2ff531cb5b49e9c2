package throttle

import (
	"fmt"
	"sync"
)

// Slots bounds how many things each key has in flight at once (the uploads
// of one technician, say). Only keys with something in flight take memory.
type Slots[K comparable] struct {
	max int

	mu    sync.Mutex
	inUse map[K]int
}

// NewSlots returns slots for at most max things in flight per key, or an
// error for a max under one.
func NewSlots[K comparable](max int) (*Slots[K], error) {
	if max < 1 {
		return nil, fmt.Errorf("%d slots: allow at least one", max)
	}
	return &Slots[K]{max: max, inUse: make(map[K]int)}, nil
}

// Max is how many slots each key has.
func (s *Slots[K]) Max() int { return s.max }

// Acquire takes a slot of key and reports whether there was one free. A
// slot taken must be given back with Release, deferred, so that a panic
// gives it back too.
func (s *Slots[K]) Acquire(key K) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[key] >= s.max {
		return false
	}
	s.inUse[key]++
	return true
}

// Release gives back a slot of key taken with Acquire. Releasing a slot
// that was not taken panics: it would let a key take more than its share.
func (s *Slots[K]) Release(key K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.inUse[key]
	switch {
	case n <= 0:
		panic("throttle: Release of a slot that was not acquired")
	case n == 1:
		delete(s.inUse, key)
	default:
		s.inUse[key] = n - 1
	}
}

// InUse reports how many slots of key are taken.
func (s *Slots[K]) InUse(key K) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUse[key]
}
