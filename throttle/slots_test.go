package throttle

import (
	"sync"
	"testing"
)

func TestSlots(t *testing.T) {
	s, err := NewSlots[int64](2)
	if err != nil {
		t.Fatal(err)
	}
	const maria, joao = 1, 2
	if !s.Acquire(maria) || !s.Acquire(maria) {
		t.Fatal("refused within the bound")
	}
	if s.Acquire(maria) {
		t.Error("a third slot of two")
	}
	if !s.Acquire(joao) {
		t.Error("another key refused")
	}
	s.Release(maria)
	if !s.Acquire(maria) {
		t.Error("refused after a release")
	}
	s.Release(maria)
	s.Release(maria)
	s.Release(joao)
	if len(s.inUse) != 0 {
		t.Errorf("%d keys held with nothing in flight", len(s.inUse))
	}
	defer func() {
		if recover() == nil {
			t.Error("releasing a slot not taken did not panic")
		}
	}()
	s.Release(maria)
}

func TestNewSlotsErrors(t *testing.T) {
	if _, err := NewSlots[int](0); err == nil {
		t.Error("NewSlots(0) accepted")
	}
}

func TestSlotsConcurrent(t *testing.T) {
	s, err := NewSlots[int](16)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted int
	)
	for range 100 {
		wg.Go(func() {
			if s.Acquire(1) {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if granted != 16 || s.InUse(1) != 16 {
		t.Errorf("granted %d, in use %d; want 16, 16", granted, s.InUse(1))
	}
}
