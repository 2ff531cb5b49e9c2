package sqlite_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

var benchOthers = flag.Int("others", 200_000, "files of other technicians in BenchmarkFilesWithMillionOthers (use 1000000 for the full size)")

// BenchmarkFilesWithMillionOthers lists the 100 files of one technician in
// a table that holds -others files of 1,000 other technicians.
func BenchmarkFilesWithMillionOthers(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "pmgsync.db")
	db := open(b, path, nil)
	me := &pmgsync.Technician{Name: "me"}
	if err := db.CreateTechnician(ctx, me); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		f := &pmgsync.File{TechnicianID: me.ID, Name: fmt.Sprintf("r%03d.xlsx", i), BlobKey: fmt.Sprint("me-", i)}
		if _, err := db.CommitFile(ctx, f, pmgsync.Quota{}); err != nil {
			b.Fatal(err)
		}
	}
	bulkInsertOthers(b, path, *benchOthers)

	b.Run(fmt.Sprintf("others=%d", *benchOthers), func(b *testing.B) {
		for b.Loop() {
			files, err := db.Files(ctx, me.ID)
			if err != nil || len(files) != 100 {
				b.Fatalf("Files = %d, %v", len(files), err)
			}
		}
	})
}

// bulkInsertOthers adds n files of 1,000 other technicians in one
// transaction, through a connection of its own.
func bulkInsertOthers(b *testing.B, path string, n int) {
	b.Helper()
	bulkTx(b, path, func(tx *sql.Tx) {
		const techs = 1000
		for i := range techs {
			if _, err := tx.Exec(`INSERT INTO technicians (name, created_at) VALUES (?, 1)`, fmt.Sprint("other-", i)); err != nil {
				b.Fatal(err)
			}
		}
		// The others' ids follow "me"'s and interleave on both sides of it in
		// name order; their files are spread over every technician.
		stmt, err := tx.Prepare(`INSERT INTO files (technician_id, name, size, sha256, blob_key, uploaded_at)
			SELECT id, ?, 1, '', ?, 1 FROM technicians WHERE name = ?`)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		for i := range n {
			if _, err := stmt.Exec(fmt.Sprintf("r%07d.xlsx", i), fmt.Sprint("o-", i), fmt.Sprint("other-", i%techs)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticate authenticates one token among 1,000. The clock does
// not advance, so after the first call no write is made: this is the cost of
// an ordinary request.
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	db := open(b, filepath.Join(b.TempDir(), "pmgsync.db"), nil)
	tech := &pmgsync.Technician{Name: "ana"}
	if err := db.CreateTechnician(ctx, tech); err != nil {
		b.Fatal(err)
	}
	var raw string
	for range 1000 {
		raw = pmgsync.NewToken()
		if err := db.CreateToken(ctx, &pmgsync.Token{TechnicianID: tech.ID}, pmgsync.HashToken(raw)); err != nil {
			b.Fatal(err)
		}
	}
	hash, now := pmgsync.HashToken(raw), time.Now()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := db.Authenticate(ctx, hash, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := db.Authenticate(ctx, hash, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkCommitWithQuota replaces one file of a technician who stores
// files=N others, under a quota (whose check sums the technician's live
// files in the commit's transaction) and without one, for comparison.
// Half of the stored files have expired, so the check reads a range of the
// upload-time index.
func BenchmarkCommitWithQuota(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		ctx := context.Background()
		path := filepath.Join(b.TempDir(), "pmgsync.db")
		db := open(b, path, nil)
		tech := &pmgsync.Technician{Name: "me"}
		if err := db.CreateTechnician(ctx, tech); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		bulkInsertFiles(b, path, tech.ID, n, now.Add(-time.Hour))
		for _, quota := range []struct {
			name string
			q    pmgsync.Quota
		}{
			{"none", pmgsync.Quota{}},
			{"quota", pmgsync.Quota{MaxFiles: int64(n) + 1, MaxBytes: 1 << 40, LiveAfter: now.Add(-time.Hour - time.Duration(n/2)*time.Second)}},
		} {
			b.Run(fmt.Sprintf("files=%d/%s", n, quota.name), func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					f := &pmgsync.File{TechnicianID: tech.ID, Name: "hot.xlsx", Size: 1000, BlobKey: fmt.Sprint(quota.name, "-hot-", i)}
					if _, err := db.CommitFile(ctx, f, quota.q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// bulkInsertFiles adds n files of technician id, uploaded one a second
// until last, in one transaction through a connection of its own.
func bulkInsertFiles(b *testing.B, path string, id int64, n int, last time.Time) {
	b.Helper()
	bulkTx(b, path, func(tx *sql.Tx) {
		stmt, err := tx.Prepare(`INSERT INTO files (technician_id, name, size, sha256, blob_key, uploaded_at)
			VALUES (?, ?, 1000, '', ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		defer stmt.Close()
		for i := range n {
			at := last.Add(-time.Duration(i) * time.Second).UnixNano()
			if _, err := stmt.Exec(id, fmt.Sprintf("r%07d.xlsx", i), fmt.Sprint("bulk-", i), at); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// bulkTx runs fill in one transaction on a connection of its own to the
// database at path, and commits it: seeding a million rows through the
// store's API would take longer than any benchmark.
func bulkTx(b *testing.B, path string, fill func(tx *sql.Tx)) {
	b.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	fill(tx)
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCommitConcurrent commits new files from 16 goroutines at once,
// as 16 technicians uploading at the same time do: each commit is durable
// (an fsync of the write-ahead log) when it returns.
func BenchmarkCommitConcurrent(b *testing.B) {
	ctx := context.Background()
	db := open(b, filepath.Join(b.TempDir(), "pmgsync.db"), nil)
	const clients = 16
	techs := make(chan int64, clients)
	for i := range clients {
		t := &pmgsync.Technician{Name: fmt.Sprintf("tecnico-%02d", i)}
		if err := db.CreateTechnician(ctx, t); err != nil {
			b.Fatal(err)
		}
		techs <- t.ID
	}
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		id := <-techs
		for i := 0; pb.Next(); i++ {
			f := &pmgsync.File{TechnicianID: id, Name: fmt.Sprintf("relatorio-%07d.xlsx", i), Size: 60 << 10,
				BlobKey: fmt.Sprintf("%d-%d", id, i)}
			if _, err := db.CommitFile(ctx, f, pmgsync.Quota{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkList10000 reads the list of a technician who has 10,000 files:
// whole rows (Files), and the names of the live, sound ones alone
// (LiveFileNames, what /list answers).
func BenchmarkList10000(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "pmgsync.db")
	db := open(b, path, nil)
	tech := &pmgsync.Technician{Name: "ana"}
	if err := db.CreateTechnician(ctx, tech); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	bulkInsertFiles(b, path, tech.ID, 10_000, now)
	b.Run("Files", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if files, err := db.Files(ctx, tech.ID); err != nil || len(files) != 10_000 {
				b.Fatalf("Files = %d, %v", len(files), err)
			}
		}
	})
	b.Run("LiveFileNames", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if names, err := db.LiveFileNames(ctx, tech.ID, now.Add(-24*time.Hour)); err != nil || len(names) != 10_000 {
				b.Fatalf("LiveFileNames = %d, %v", len(names), err)
			}
		}
	})
}
