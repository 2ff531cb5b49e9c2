package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/sqlite"
	"github.com/pmgsync/pmgsync/storetest"
)

// open opens a database at path and closes it when the test ends.
func open(t testing.TB, path string, now func() time.Time) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) pmgsync.MetadataStore {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "pmgsync.db"), now)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return db
	})
}

// TestTwoProcesses uses two handles on one file, as the server and a CLI
// command do: a change through one is seen by the other at its next call.
func TestTwoProcesses(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	server, cli := open(t, path, nil), open(t, path, nil)

	tech := &pmgsync.Technician{Name: "ana"}
	if err := cli.CreateTechnician(ctx, tech); err != nil {
		t.Fatalf("CreateTechnician: %v", err)
	}
	raw := pmgsync.NewToken()
	tok := &pmgsync.Token{TechnicianID: tech.ID, Hint: pmgsync.TokenHint(raw)}
	if err := cli.CreateToken(ctx, tok, pmgsync.HashToken(raw)); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if _, _, err := server.Authenticate(ctx, pmgsync.HashToken(raw), time.Now()); err != nil {
		t.Fatalf("Authenticate through the other handle: %v", err)
	}
	if err := cli.RevokeToken(ctx, tok.ID, time.Now()); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	_, _, err := server.Authenticate(ctx, pmgsync.HashToken(raw), time.Now())
	if !pmgsync.IsCode(err, pmgsync.EUNAUTHORIZED) {
		t.Fatalf("Authenticate after revocation through the other handle: %v, want EUNAUTHORIZED", err)
	}
}

// TestConcurrentCommitTwoProcesses commits one name from goroutines of two
// handles at once: immediate transactions must serialise them without
// SQLITE_BUSY, and each must report the version it replaced.
func TestConcurrentCommitTwoProcesses(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	dbs := []*sqlite.DB{open(t, path, nil), open(t, path, nil)}
	tech := &pmgsync.Technician{Name: "ana"}
	if err := dbs[0].CreateTechnician(ctx, tech); err != nil {
		t.Fatalf("CreateTechnician: %v", err)
	}
	const n = 16
	var wg sync.WaitGroup
	replaced := make([]*pmgsync.File, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			f := &pmgsync.File{TechnicianID: tech.ID, Name: "same.xlsx", BlobKey: fmt.Sprint("blob-", i)}
			replaced[i], errs[i] = dbs[i%2].CommitFile(ctx, f, pmgsync.Quota{})
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("CommitFile: %v", errs[i])
		}
		if r := replaced[i]; r != nil {
			if seen[r.BlobKey] {
				t.Errorf("%s replaced twice", r.BlobKey)
			}
			seen[r.BlobKey] = true
		}
	}
	cur, err := dbs[1].FileByName(ctx, tech.ID, "same.xlsx")
	if err != nil {
		t.Fatalf("FileByName: %v", err)
	}
	if seen[cur.BlobKey] || len(seen) != n-1 {
		t.Errorf("current %s, %d replaced versions; want the current one not replaced and %d replaced", cur.BlobKey, len(seen), n-1)
	}
}

// TestRawTokenNotStored looks for a raw token in every file the database
// leaves in its directory: only its hash and hint may be there.
func TestRawTokenNotStored(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "pmgsync.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	tech := &pmgsync.Technician{Name: "ana"}
	if err := db.CreateTechnician(ctx, tech); err != nil {
		t.Fatalf("CreateTechnician: %v", err)
	}
	raw := pmgsync.NewToken()
	tok := &pmgsync.Token{TechnicianID: tech.ID, Label: "phone", Hint: pmgsync.TokenHint(raw)}
	if err := db.CreateToken(ctx, tok, pmgsync.HashToken(raw)); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if _, _, err := db.Authenticate(ctx, pmgsync.HashToken(raw), time.Now()); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}

	scan := func(when string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		hashFound := false
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(raw)) || bytes.Contains(bytes.ToUpper(b), bytes.ToUpper([]byte(raw))) {
				t.Errorf("%s: %s holds the raw token", when, e.Name())
			}
			hashFound = hashFound || bytes.Contains(b, pmgsync.HashToken(raw))
		}
		if !hashFound {
			t.Errorf("%s: the token's hash is in no file; is the scan looking at the database?", when)
		}
	}
	scan("open") // the WAL and shared-memory files exist
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	scan("closed")
}

// TestTimesUTC checks that times come back as UTC instants, whatever the
// zone of the clock.
func TestTimesUTC(t *testing.T) {
	ctx := t.Context()
	zone := time.FixedZone("BRT", -3*60*60)
	at := time.Date(2025, 6, 1, 12, 0, 0, 123456789, zone)
	db := open(t, filepath.Join(t.TempDir(), "pmgsync.db"), func() time.Time { return at })
	tech := &pmgsync.Technician{Name: "ana"}
	if err := db.CreateTechnician(ctx, tech); err != nil {
		t.Fatalf("CreateTechnician: %v", err)
	}
	f := &pmgsync.File{TechnicianID: tech.ID, Name: "a.xlsx", BlobKey: "k"}
	if _, err := db.CommitFile(ctx, f, pmgsync.Quota{}); err != nil {
		t.Fatalf("CommitFile: %v", err)
	}
	got, err := db.FileByName(ctx, tech.ID, "a.xlsx")
	if err != nil {
		t.Fatalf("FileByName: %v", err)
	}
	for name, tm := range map[string]time.Time{
		"CreatedAt": tech.CreatedAt, "UploadedAt (zero: store's clock)": f.UploadedAt, "UploadedAt read back": got.UploadedAt,
	} {
		if !tm.Equal(at) || tm.Location() != time.UTC {
			t.Errorf("%s = %v, want %v in UTC", name, tm, at.UTC())
		}
	}
}

// TestCommitSameBlobRefused guards the caller against deleting a live blob.
func TestCommitSameBlobRefused(t *testing.T) {
	ctx := t.Context()
	db := open(t, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	tech := &pmgsync.Technician{Name: "ana"}
	if err := db.CreateTechnician(ctx, tech); err != nil {
		t.Fatalf("CreateTechnician: %v", err)
	}
	if _, err := db.CommitFile(ctx, &pmgsync.File{TechnicianID: tech.ID, Name: "a", BlobKey: "k"}, pmgsync.Quota{}); err != nil {
		t.Fatalf("CommitFile: %v", err)
	}
	for _, name := range []string{"a", "b"} {
		replaced, err := db.CommitFile(ctx, &pmgsync.File{TechnicianID: tech.ID, Name: name, BlobKey: "k"}, pmgsync.Quota{})
		if err == nil || replaced != nil {
			t.Errorf("CommitFile(%q) with a referenced blob key = %v, %v; want an error", name, replaced, err)
		}
	}
	if _, err := db.FileByName(ctx, tech.ID, "b"); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		t.Errorf("FileByName after a refused commit: %v, want ENOTFOUND", err)
	}
}

// Ping fails, once its context is done, while another connection holds the
// write lock, which WAL readers do not notice, and passes again once it is
// released.
func TestPingWriteLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	db, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	other, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = db.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("Ping with the write lock held: %v, want database is locked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Ping took %v, past its context's deadline", d)
	}

	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(context.Background()); err != nil {
		t.Errorf("Ping after the lock is released: %v", err)
	}
}

// TestLiveFileNames lists a technician's names: live ones only (a file
// expires at the cutoff itself), not the damaged one, none of another
// technician's, in byte order.
func TestLiveFileNames(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	maria, joao := &pmgsync.Technician{Name: "maria"}, &pmgsync.Technician{Name: "joao"}
	for _, tech := range []*pmgsync.Technician{maria, joao} {
		if err := db.CreateTechnician(ctx, tech); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	commit := func(tech *pmgsync.Technician, name string, at time.Time) *pmgsync.File {
		f := &pmgsync.File{TechnicianID: tech.ID, Name: name, Size: 1, BlobKey: tech.Name + "/" + name, UploadedAt: at}
		if _, err := db.CommitFile(ctx, f, pmgsync.Quota{}); err != nil {
			t.Fatal(err)
		}
		return f
	}
	commit(maria, "relatorio-bomba-07.xlsx", cutoff.Add(time.Nanosecond))
	commit(maria, "Relatorio-Z.xlsx", cutoff.Add(48*time.Hour))
	commit(maria, "expirado.xlsx", cutoff)
	commit(maria, "antigo.xlsx", cutoff.Add(-time.Hour))
	damaged := commit(maria, "danificado.xlsx", cutoff.Add(time.Hour))
	if _, err := db.MarkDamaged(ctx, damaged.ID, pmgsync.DamageCorrupt, "sha256 differs", cutoff.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	commit(joao, "inspeção.xlsx", cutoff.Add(time.Hour))

	got, err := db.LiveFileNames(ctx, maria.ID, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Relatorio-Z.xlsx", "relatorio-bomba-07.xlsx"}; !slices.Equal(got, want) {
		t.Errorf("LiveFileNames = %q; want %q", got, want)
	}
	if got, err := db.LiveFileNames(ctx, 999, cutoff); err != nil || len(got) != 0 {
		t.Errorf("LiveFileNames of an unknown technician = %q, %v; want none", got, err)
	}
}
