package backup

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/sqlite"
)

// store is a data directory opened as the server opens it.
type store struct {
	t      testing.TB
	dir    string
	db     *sqlite.DB
	blobs  *localfs.Store
	engine *engine.Engine
	techs  map[string]*pmgsync.Technician
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// openStore opens (creating it if needed) the data directory dir; it is
// closed at the end of the test.
func openStore(t testing.TB, dir string) *store {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(db, blobs, engine.Options{Logger: quiet, MinFreeBytes: 1, MinFreePercent: 1})
	return &store{t: t, dir: dir, db: db, blobs: blobs, engine: e, techs: make(map[string]*pmgsync.Technician)}
}

// source is the backup source of the store.
func (s *store) source() *Source {
	return &Source{Dir: s.dir, DB: s.db, Blobs: s.blobs, Version: "v1.2.3-test", Logger: quiet}
}

// tech returns the technician named name, adding it if needed.
func (s *store) tech(name string) *pmgsync.Technician {
	s.t.Helper()
	if t, ok := s.techs[name]; ok {
		return t
	}
	t, err := s.db.TechnicianByName(context.Background(), name)
	if pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		t, err = s.engine.AddTechnician(context.Background(), name, "")
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.techs[name] = t
	return t
}

// upload stores content as the technician's file name and returns it.
func (s *store) upload(tech, name string, content []byte) *pmgsync.File {
	s.t.Helper()
	f, err := s.engine.Upload(context.Background(), s.tech(tech), name, bytes.NewReader(content), int64(len(content)))
	if err != nil {
		s.t.Fatalf("upload %q of %q: %v", name, tech, err)
	}
	return f
}

// remove deletes the technician's file.
func (s *store) remove(tech, name string) {
	s.t.Helper()
	if _, err := s.engine.Delete(context.Background(), s.tech(tech), name); err != nil {
		s.t.Fatalf("delete %q of %q: %v", name, tech, err)
	}
}

// contents returns every file of the store, by "technician/name", with
// its content as the engine serves it.
func (s *store) contents() map[string]string {
	s.t.Helper()
	ctx := context.Background()
	techs, err := s.engine.Technicians(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	all := make(map[string]string)
	for _, tech := range techs {
		files, err := s.engine.List(ctx, tech)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, f := range files {
			_, r, err := s.engine.Open(ctx, tech, f.Name)
			if err != nil {
				s.t.Fatalf("open %q of %q: %v", f.Name, tech.Name, err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				s.t.Fatal(err)
			}
			all[tech.Name+"/"+f.Name] = string(b)
		}
	}
	return all
}

// blobPath is where the store keeps the blob of f.
func (s *store) blobPath(f *pmgsync.File) string {
	return filepath.Join(s.dir, "blobs", f.BlobKey[:2], f.BlobKey)
}

// report returns the content of a csv report: text determined by seed,
// n bytes long.
func report(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789;,\n "
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// backupFile takes a backup of s into a new file and returns its path.
func backupFile(t *testing.T, s *store, opts Options) (string, *Result, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pmgsync-20261204-023000.tar.gz")
	res, err := s.source().ToFile(context.Background(), path, opts)
	return path, res, err
}

// backupFileWith takes a backup of s into a new file, running the hooks
// h, and returns its path.
func backupFileWith(t *testing.T, s *store, h hooks) (string, *Result, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pmgsync-20261204-023000.tar.gz")
	src := s.source()
	src.hooks = h
	res, err := src.ToFile(context.Background(), path, Options{})
	return path, res, err
}

// restoreFile restores the archive at path into dir.
func restoreFile(t *testing.T, path, dir string, opts RestoreOptions) (*Restored, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if opts.Source == "" {
		opts.Source = path
	}
	return Restore(context.Background(), f, dir, opts)
}

// siblings returns the names in dir's parent that start with dir's name,
// dir itself included.
func siblings(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(dir)) {
			names = append(names, e.Name())
		}
	}
	return names
}
