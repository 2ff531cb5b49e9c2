package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/sqlite"
)

// BenchmarkAuthenticate looks up one token among 1,000 of 100 technicians
// through the engine, as every request does: the hash of the raw token, a
// read of the token and its technician. The clock stands still, so after
// the first call no write is made (the last use is recorded once a
// minute): this is the cost of an ordinary request's authentication.
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	now := time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	meta, err := sqlite.Open(ctx, filepath.Join(dir, "pmgsync.db"), clock)
	if err != nil {
		b.Fatal(err)
	}
	defer meta.Close()
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	e := engine.New(meta, blobs, engine.Options{Now: clock})
	var raw string
	for i := range 1000 {
		raw, _, _, err = e.CreateToken(ctx, fmt.Sprintf("tecnico-%02d", i%100), "Galaxy A14", time.Time{})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := e.Authenticate(ctx, raw); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := e.Authenticate(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := e.Authenticate(ctx, raw); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
