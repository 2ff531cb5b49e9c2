package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRestoreInPlace restores, with Force, into a data directory that
// holds a store, as a container's volume or a disk of its own is mounted
// there: the directory stays the same directory (a mount point cannot be
// renamed or removed), nothing is created beside it, its previous entries
// (the database's write-ahead log among them) are moved, whole, into
// DIR/.before-restore-*, and the file system's lost+found stays where it
// is.
func TestRestoreInPlace(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := filepath.Join(t.TempDir(), "data")
	old := openStore(t, dst)
	old.upload("pedro", "antigo.csv", report(99, 100))
	if err := os.Mkdir(filepath.Join(dst, lostFound), 0o700); err != nil {
		t.Fatal(err)
	}
	// A server killed with SIGKILL leaves its write-ahead log.
	wal, err := os.ReadFile(filepath.Join(dst, "pmgsync.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	old.db.Close()
	if err := os.WriteFile(filepath.Join(dst, "pmgsync.db-wal"), wal, 0o600); err != nil {
		t.Fatal(err)
	}
	before := names(t, dst)
	fiBefore, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}

	res, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || !os.SameFile(fi, fiBefore) {
		t.Errorf("the data directory was replaced: %v", err)
	}
	if got := siblings(t, dst); !slices.Equal(got, []string{"data"}) {
		t.Errorf("beside the data directory: %q", got)
	}
	aside := filepath.Base(res.MovedAside)
	if filepath.Dir(res.MovedAside) != dst || !strings.HasPrefix(aside, asidePrefix) {
		t.Fatalf("moved aside to %s", res.MovedAside)
	}
	checkEntries(t, dst, []string{aside, "blobs", lostFound, "pmgsync.db"})
	var wantAside []string
	for _, name := range before {
		if name != lostFound {
			wantAside = append(wantAside, name)
		}
	}
	checkEntries(t, res.MovedAside, wantAside)
	checkOldData(t, res.MovedAside)
	if got := openStore(t, dst).contents(); len(got) != 5 {
		t.Errorf("restored %d files, want 5", len(got))
	}

	// A directory that holds only a lost+found and earlier contents moved
	// aside is empty to a restore.
	for _, name := range names(t, dst) {
		if name != lostFound && name != aside {
			if err := os.RemoveAll(filepath.Join(dst, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err = Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{})
	if err != nil || res.MovedAside != "" {
		t.Fatalf("restore into a directory with lost+found: %v, %+v", err, res)
	}
	checkEntries(t, dst, []string{aside, "blobs", lostFound, "pmgsync.db"})
}

// TestRestoreFailureLeavesDirectory restores archives that fail at the
// end, into a directory that holds a store and with Force, and into one
// that does not exist, nor its parents: the first is as it was, entry for
// entry, and the second still does not exist, nor its parents.
func TestRestoreFailureLeavesDirectory(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)
	before := names(t, dst)
	for _, bad := range [][]byte{archive[:len(archive)-8], append(slices.Clone(archive), 'x')} {
		if _, err := Restore(context.Background(), bytes.NewReader(bad), dst, RestoreOptions{Force: true}); err == nil {
			t.Fatal("a damaged archive restored")
		}
		checkEntries(t, dst, before)
	}
	if got := openStore(t, dst).contents(); len(got) != 1 {
		t.Errorf("after a failed restore the store holds %q", got)
	}

	// Its parents too: a failed restore leaves none of the directories it
	// created.
	parent := t.TempDir()
	missing := filepath.Join(parent, "srv", "pmgsync", "data")
	if _, err := Restore(context.Background(), bytes.NewReader(archive[:len(archive)/2]), missing, RestoreOptions{}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("restore of a truncated archive: %v", err)
	}
	if got := names(t, parent); len(got) != 0 {
		t.Errorf("a failed restore left the directories it created: %q", got)
	}
}

// TestRestoreNewDirectoryLocked starts a server's Use of a directory that
// does not exist while a restore into it runs: the restore created and
// locked it first, so the server is refused.
func TestRestoreNewDirectoryLocked(t *testing.T) {
	t.Parallel()
	dst := filepath.Join(t.TempDir(), "data")
	var useErr error
	tried := false
	progress := func(Progress) {
		if tried {
			return
		}
		tried = true
		if err := os.MkdirAll(dst, 0o700); err != nil { // as the server does
			useErr = err
			return
		}
		u, err := Use(dst)
		if err == nil {
			u.Close()
		}
		useErr = err
	}
	if _, err := Restore(context.Background(), bytes.NewReader(sampleArchive(t)), dst, RestoreOptions{Progress: progress}); err != nil {
		t.Fatal(err)
	}
	if !tried || !errors.Is(useErr, ErrInUse) {
		t.Errorf("Use of a new directory during a restore into it: %v, want ErrInUse", useErr)
	}
}

// TestRestoreInterruptedSwap kills a restore among its final renames,
// after its commit point, with the restored blobs moved in and not the
// database: Use, as the server or any command calls it, puts the rest in
// place; so does the next restore, which then goes on with its own.
func TestRestoreInterruptedSwap(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	for _, via := range []string{"Use", "Restore"} {
		dst := oldData(t)
		restoreKilled(t, archive, dst, true, stepMoveNew, []byte("pmgsync.db"))
		aside, err := filepath.Glob(filepath.Join(dst, asidePrefix+"*"))
		if err != nil || len(aside) != 1 {
			t.Fatalf("moved aside: %q, %v", aside, err)
		}

		switch via {
		case "Use":
			u, err := Use(dst)
			if err != nil {
				t.Fatalf("Use after an interrupted restore: %v", err)
			}
			// It holds the lock shared: a second user is welcome.
			u2, err := Use(dst)
			if err != nil {
				t.Errorf("a second Use: %v", err)
			} else {
				u2.Close()
			}
			u.Close()
		case "Restore":
			res, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{})
			if !errors.Is(err, ErrNotEmpty) || res != nil {
				t.Errorf("restore after an interrupted restore: %v, want ErrNotEmpty once it is finished", err)
			} else if !strings.Contains(err.Error(), "it finished an earlier restore into "+dst) {
				t.Errorf("the restore does not say that it finished the earlier one: %v", err)
			}
		}
		if got, want := names(t, dst), []string{filepath.Base(aside[0]), "blobs", "pmgsync.db"}; !slices.Equal(got, want) {
			t.Errorf("%s: the data directory holds %q, want %q", via, got, want)
		}
		checkRestoredData(t, dst)
	}
}

// names returns the names in dir, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// checkEntries checks that the directory dir holds the entries want, by
// name, in order, and no others.
func checkEntries(t *testing.T, dir string, want []string) {
	t.Helper()
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}
