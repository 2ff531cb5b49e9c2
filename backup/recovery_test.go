package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// oldData returns a new data directory that holds one report of
// pedro's, as a server left it, to be restored over.
func oldData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	s.upload("pedro", "antigo.csv", report(99, 100))
	s.db.Close()
	return dir
}

// checkOldData checks that dir holds the data of oldData, in place.
func checkOldData(t *testing.T, dir string) {
	t.Helper()
	if got := openStore(t, dir).contents(); len(got) != 1 || got["pedro/antigo.csv"] == "" {
		t.Errorf("%s holds %q, want pedro's report", dir, slices.Sorted(maps.Keys(got)))
	}
}

// checkRestoredData checks that dir holds the data of sampleArchive, in
// place, and that what it held before is in the one directory moved
// aside.
func checkRestoredData(t *testing.T, dir string) {
	t.Helper()
	if got := openStore(t, dir).contents(); len(got) != 5 {
		t.Errorf("%s holds %d reports, want the 5 restored", dir, len(got))
	}
	aside, err := filepath.Glob(filepath.Join(dir, asidePrefix+"*"))
	if err != nil || len(aside) != 1 {
		t.Fatalf("moved aside: %q, %v", aside, err)
	}
	checkOldData(t, aside[0])
}

// TestRestoreSyncAfterCommitFails makes the fsync of the data directory
// that follows the rename of the journal fail, as a disk's I/O error
// would: the restore is committed by then, so it must keep what it
// extracted, and the next Use puts it in place rather than start the
// server on an empty store.
func TestRestoreSyncAfterCommitFails(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)
	opts := RestoreOptions{Force: true}
	opts.hooks.step = func(point, name string) error {
		if point == stepSyncCommit {
			return &os.PathError{Op: "sync", Path: dst, Err: syscall.EIO}
		}
		return nil
	}
	_, err := Restore(context.Background(), bytes.NewReader(archive), dst, opts)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("restore whose sync after the commit fails: %v", err)
	}
	if !strings.Contains(err.Error(), "the next pmgsync command") {
		t.Errorf("the error does not say that the restore is committed: %v", err)
	}
	u, err := Use(dst)
	if err != nil {
		t.Fatalf("Use after the failed sync: %v", err)
	}
	u.Close()
	checkRestoredData(t, dst)
}

// TestRecoveryWithoutExtraction kills a restore right after its commit
// point, then removes its extraction directory, as an operator who took
// it for a dead restore's leftovers would: Use must refuse to finish the
// swap, and say what to do, rather than start the server on an empty
// store.
func TestRecoveryWithoutExtraction(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)
	restoreKilled(t, archive, dst, true, stepMoveNew, nil)
	tmp, err := filepath.Glob(filepath.Join(dst, restorePrefix+"*"))
	if err != nil || len(tmp) != 1 {
		t.Fatalf("no extraction directory in %q: %v", names(t, dst), err)
	}
	if err := os.RemoveAll(tmp[0]); err != nil {
		t.Fatal(err)
	}

	u, err := Use(dst)
	if err == nil {
		u.Close()
		t.Fatal("Use finished a swap whose restored entries are gone")
	}
	if !strings.Contains(err.Error(), "move them back") || !strings.Contains(err.Error(), "run the restore again") {
		t.Errorf("Use does not say what to do: %v", err)
	}
	got := names(t, dst)
	if len(got) != 2 || !strings.HasPrefix(got[0], asidePrefix) || got[1] != journalName {
		t.Fatalf("the data directory holds %q, want the previous entries and the journal", got)
	}
	checkOldData(t, filepath.Join(dst, got[0]))
}

// TestRecoveryUndoesSwap kills a restore while it moves the entries of
// the data directory aside, before its commit point: Use puts back those
// it moved, and removes what it extracted; the server starts on the data
// it had; a restore then goes through.
func TestRecoveryUndoesSwap(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	for _, via := range []string{"Use", "Restore", "Restore without Force"} {
		dst := oldData(t)
		before := names(t, dst)
		restoreKilled(t, archive, dst, true, stepMoveOld, []byte("pmgsync.db"))
		switch via {
		case "Restore without Force":
			_, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{})
			if !errors.Is(err, ErrNotEmpty) {
				t.Fatalf("restore without Force after a restore killed before its commit point: %v, want ErrNotEmpty", err)
			}
			if !strings.Contains(err.Error(), "it undid an earlier restore into "+dst) {
				t.Errorf("the restore does not say that it undid the earlier one: %v", err)
			}
			checkEntries(t, dst, before)
			checkOldData(t, dst)
		case "Use":
			u, err := Use(dst)
			if err != nil {
				t.Fatalf("Use after a restore killed before its commit point: %v", err)
			}
			u.Close()
			checkEntries(t, dst, before)
			checkOldData(t, dst)
		case "Restore":
			res, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{Force: true})
			if err != nil {
				t.Fatalf("restore after a restore killed before its commit point: %v", err)
			}
			if res.Resumed {
				t.Error("a swap undone is reported as finished")
			}
			checkRestoredData(t, dst)
		}
	}
}

// TestRecoveryAfterRemovingExtractions kills a restore in the middle of
// its swap, then removes DIR/.restore-*, as the documentation once told
// operators to do with what a dead restore leaves: the journal is not
// among them, so Use still refuses to start on a directory that holds
// some of the restored entries and not others.
func TestRecoveryAfterRemovingExtractions(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)
	restoreKilled(t, archive, dst, true, stepMoveNew, []byte("pmgsync.db"))
	removed, err := filepath.Glob(filepath.Join(dst, restorePrefix+"*"))
	if err != nil || len(removed) == 0 {
		t.Fatalf("no %s* in %q: %v", restorePrefix, names(t, dst), err)
	}
	for _, path := range removed {
		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, journalName)); err != nil {
		t.Errorf("removing %s* removed the journal: %v", restorePrefix, err)
	}
	u, err := Use(dst)
	if err == nil {
		u.Close()
		t.Fatalf("Use started on %q: the restored blobs without their database", names(t, dst))
	}
}

// TestRecoveryNonUTF8Name kills a restore while it moves aside the
// entries of a data directory that holds a report named in Latin-1, as an
// old Windows tool copies them ("Relat\xf3rio", not UTF-8): the journal
// must keep that name byte for byte, so that Use puts the report back,
// rather than look for "Relat\ufffdrio", which JSON would make of it.
func TestRecoveryNonUTF8Name(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)
	latin1 := "Relat\xf3rio-bomba-07.xlsx" // sorts before blobs/: moved aside first
	if err := os.WriteFile(filepath.Join(dst, latin1), []byte("PK\x03\x04"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := names(t, dst)
	restoreKilled(t, archive, dst, true, stepMoveOld, []byte("pmgsync.db"))
	u, err := Use(dst)
	if err != nil {
		t.Fatalf("Use after a restore killed before its commit point: %v", err)
	}
	u.Close()
	checkEntries(t, dst, before)
	checkOldData(t, dst)
}

// TestUseWhileAnotherTakesUpSwap starts two processes at once on a data
// directory whose restore was killed after its commit point, as systemd
// starting the server while an operator runs a command: the first is in
// the middle of finishing the swap when the second starts, which must wait
// for it and start, rather than fail with a false "a restore into it is
// in progress".
func TestUseWhileAnotherTakesUpSwap(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)
	restoreKilled(t, archive, dst, true, stepMoveNew, nil)

	type result struct {
		u   io.Closer
		err error
	}
	paused, resume := make(chan struct{}), make(chan struct{})
	first := make(chan result, 1)
	go func() {
		var h swapHooks
		h.step = func(point, name string) error {
			if point == stepMoveNew && name == "pmgsync.db" {
				close(paused)
				<-resume
			}
			return nil
		}
		u, err := use(dst, h)
		first <- result{u, err}
	}()
	<-paused

	waiting := make(chan struct{})
	second := make(chan result, 1)
	go func() {
		u, err := use(dst, swapHooks{wait: func() { close(waiting) }})
		second <- result{u, err}
	}()
	select {
	case <-waiting:
	case r := <-second:
		if r.err != nil {
			close(resume)
			<-first
			t.Fatalf("Use while another process finishes the swap: %v", r.err)
		}
		r.u.Close()
		t.Error("Use started before the swap was finished")
	}
	close(resume)
	for i, c := range []chan result{first, second} {
		r := <-c
		if r.err != nil {
			t.Errorf("Use #%d: %v", i+1, r.err)
			continue
		}
		r.u.Close()
	}
	checkRestoredData(t, dst)
}

// TestRestoreDirectoryChanges writes a file into the data directory while
// a restore with Force extracts its archive, as an operator's script
// might: the entries to move aside were listed before, so the restore
// must see the change and refuse, rather than leave that file among the
// restored entries.
func TestRestoreDirectoryChanges(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)
	written := false
	progress := func(Progress) {
		if !written {
			written = true
			if err := os.WriteFile(filepath.Join(dst, "notas.txt"), []byte("trocar a bomba 07\n"), 0o600); err != nil {
				t.Error(err)
			}
		}
	}
	before := names(t, dst)
	_, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{Force: true, Progress: progress})
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("restore into a directory that changed meanwhile: %v", err)
	}
	want := append(slices.Clone(before), "notas.txt")
	slices.Sort(want)
	checkEntries(t, dst, want)
	checkOldData(t, dst)
}

// TestRestoreKeepsOperatorFiles restores with Force over a data directory
// that holds an operator's own files whose names merely start with
// ".restore-" (notes on a past restore, a copy kept by hand): they are
// data, moved aside whole like the rest, never removed as what a dead
// restore left; what a dead restore did leave (its extraction directory,
// and the journal it was writing) is removed.
func TestRestoreKeepsOperatorFiles(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(".restore-notas.txt", "restaurado em 2026-11-02 a partir do backup #9\n")
	write(".restore-antigo/pmgsync.db", "SQLite format 3\x00")
	operator := names(t, dst)
	write(restorePrefix+"0123456789abcdef/blobs/ab/cd", "what a dead restore extracted")
	write(journalTemp, `{"tmp":"`)

	res, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, dst, []string{filepath.Base(res.MovedAside), "blobs", "pmgsync.db"})
	checkEntries(t, res.MovedAside, operator)
	checkRestoredData(t, dst)
}
