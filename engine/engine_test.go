package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/sqlite"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

type fixture struct {
	eng   *engine.Engine
	meta  pmgsync.MetadataStore
	blobs *localfs.Store
	dir   string
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), now: t0}
	clock := func() time.Time { return f.now }
	meta, err := sqlite.Open(context.Background(), filepath.Join(f.dir, "pmgsync.db"), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	blobs, err := localfs.Open(filepath.Join(f.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	blobs.Now = clock // blob commit times and the engine's orphan cut-offs on one clock
	f.meta, f.blobs = meta, blobs
	f.eng = engine.New(meta, blobs, engine.Options{Now: clock})
	return f
}

func (f *fixture) technician(t *testing.T, name string) *pmgsync.Technician {
	t.Helper()
	tech, err := f.eng.AddTechnician(context.Background(), name, "")
	if err != nil {
		t.Fatal(err)
	}
	return tech
}

func (f *fixture) blobCount(t *testing.T) int {
	t.Helper()
	n := 0
	err := f.blobs.Walk(context.Background(), func(pmgsync.BlobInfo) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) content(t *testing.T, tech *pmgsync.Technician, name string) string {
	t.Helper()
	_, rc, err := f.eng.Open(context.Background(), tech, name)
	if err != nil {
		t.Fatalf("open %q: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUploadReplaceDelete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao := f.technician(t, "João Silva")

	first, err := f.eng.Upload(ctx, joao, "pmg.csv", strings.NewReader("v1"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if first.UploadedAt != t0 || first.Size != 2 || first.SHA256 != "3bfc269594ef649228e9a74bab00f042efc91d5acc6fbee31a382e80d42388fe" {
		t.Errorf("first = %+v", first)
	}
	f.now = t0.Add(time.Minute)
	second, err := f.eng.Upload(ctx, joao, "pmg.csv", strings.NewReader("v2"), -1)
	if err != nil {
		t.Fatal(err)
	}
	// Local blobs come back as the *os.File itself, which net/http sends
	// with sendfile.
	_, rc, err := f.eng.Open(ctx, joao, "pmg.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File", rc)
	}
	rc.Close()
	if got := f.content(t, joao, "pmg.csv"); got != "v2" {
		t.Errorf("content = %q, want v2", got)
	}
	if second.BlobKey == first.BlobKey || f.blobCount(t) != 1 {
		t.Errorf("replacing must write a new blob and delete the old one; %d blobs", f.blobCount(t))
	}
	if _, err := f.eng.Delete(ctx, joao, "pmg.csv"); err != nil {
		t.Fatal(err)
	}
	if n := f.blobCount(t); n != 0 {
		t.Errorf("%d blobs after delete", n)
	}
	if _, err := f.eng.Delete(ctx, joao, "pmg.csv"); pmgsync.ErrorCode(err) != pmgsync.ENOTFOUND {
		t.Errorf("second delete: %v, want ENOTFOUND", err)
	}
}

// failingReader gives some bytes, then err.
type failingReader struct {
	sent bool
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "half a report"), nil
	}
	return 0, r.err
}

func TestInterruptedUploadStoresNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao := f.technician(t, "joao")
	if _, err := f.eng.Upload(ctx, joao, "pmg.csv", strings.NewReader("old"), -1); err != nil {
		t.Fatal(err)
	}
	// A reader that failed on its own (a disk under an import) is the
	// server's problem: internal, with the cause kept.
	_, err := f.eng.Upload(ctx, joao, "pmg.csv", &failingReader{err: io.ErrUnexpectedEOF}, -1)
	if pmgsync.ErrorCode(err) != pmgsync.EINTERNAL || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want an internal error wrapping the read error", err)
	}
	// A reader that says whose fault it is (httpserver marks a client's
	// broken body) is believed.
	clientGone := pmgsync.WithCode(io.ErrUnexpectedEOF, pmgsync.EINVALID, pmgsync.MsgUploadAborted)
	_, err = f.eng.Upload(ctx, joao, "pmg.csv", &failingReader{err: clientGone}, -1)
	if pmgsync.ErrorCode(err) != pmgsync.EINVALID || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want EINVALID wrapping the read error", err)
	}
	if got := pmgsync.ErrorMessage(pmgsync.PortugueseBR, err); got != "o envio foi interrompido antes de terminar" {
		t.Errorf("message = %q", got)
	}
	if got := f.content(t, joao, "pmg.csv"); got != "old" {
		t.Errorf("content = %q, want the old version", got)
	}
	if n := f.blobCount(t); n != 1 {
		t.Errorf("%d blobs, want 1", n)
	}
}

func TestConcurrentUploadsOfOneName(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao := f.technician(t, "joao")
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := bytes.Repeat([]byte{byte('a' + i)}, 100_000+i)
			if _, err := f.eng.Upload(ctx, joao, "pmg.csv", bytes.NewReader(body), -1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := f.content(t, joao, "pmg.csv")
	i := int(got[0] - 'a')
	if want := strings.Repeat(string(rune('a'+i)), 100_000+i); got != want {
		t.Errorf("content is not one of the uploads intact (%d bytes)", len(got))
	}
	if c := f.blobCount(t); c != 1 {
		t.Errorf("%d blobs, want exactly 1", c)
	}
}

func TestRecoverRemovesOrphansOnly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao := f.technician(t, "joao")
	if _, err := f.eng.Upload(ctx, joao, "kept.csv", strings.NewReader("kept"), -1); err != nil {
		t.Fatal(err)
	}
	// An orphan: a blob committed by a process that died before its metadata commit.
	w, err := f.blobs.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("orphan"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	// Blobs younger than the grace period may belong to uploads in flight,
	// even in another process: kept.
	stats, err := f.eng.Recover(ctx, f.now)
	if err != nil || stats.OrphanBlobs != 0 {
		t.Fatalf("Recover within the grace period = %+v, %v; want nothing removed", stats, err)
	}
	stats, err = f.eng.Recover(ctx, f.now.Add(engine.OrphanGrace+time.Second))
	if err != nil || stats.OrphanBlobs != 1 {
		t.Fatalf("Recover = %+v, %v; want one orphan removed", stats, err)
	}
	if got := f.content(t, joao, "kept.csv"); got != "kept" {
		t.Errorf("kept file = %q", got)
	}
	if _, err := f.blobs.Open(ctx, w.Key()); pmgsync.ErrorCode(err) != pmgsync.ENOTFOUND {
		t.Errorf("orphan still there: %v", err)
	}
}

func TestCheckTechnicianName(t *testing.T) {
	for _, name := range []string{"joao", "João Silva", "tecnico.01", "maria_souza-2", "ana@empresa"} {
		if _, err := engine.CheckTechnicianName(name); err != nil {
			t.Errorf("%q rejected: %v", name, err)
		}
	}
	for _, name := range []string{"", " joao", "joao ", "a/b", "../x", "x\ny", strings.Repeat("a", 65), "\xff"} {
		if _, err := engine.CheckTechnicianName(name); pmgsync.ErrorCode(err) != pmgsync.EINVALID {
			t.Errorf("%q: err = %v, want EINVALID", name, err)
		}
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	raw, tok, _, err := f.eng.CreateToken(ctx, "maria", "Galaxy A14", t0.Add(90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, pmgsync.TokenPrefix) || len(raw) != 36 || tok.Hint != raw[:8] {
		t.Errorf("raw = %q, hint %q", raw, tok.Hint)
	}
	tech, got, err := f.eng.Authenticate(ctx, raw)
	if err != nil || tech.Name != "maria" || got.ID != tok.ID {
		t.Fatalf("Authenticate = %v, %v, %v", tech, got, err)
	}
	f.now = t0.Add(91 * 24 * time.Hour)
	if _, _, err := f.eng.Authenticate(ctx, raw); pmgsync.ErrorCode(err) != pmgsync.EUNAUTHORIZED {
		t.Errorf("expired token: %v", err)
	}
	f.now = t0

	// Revoke by id, and by the raw token.
	raw2, tok2, _, _ := f.eng.CreateToken(ctx, "maria", "", time.Time{})
	if _, err := f.eng.RevokeToken(ctx, fmt.Sprint(tok2.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.eng.Authenticate(ctx, raw2); pmgsync.ErrorCode(err) != pmgsync.EUNAUTHORIZED {
		t.Errorf("revoked by id: %v", err)
	}
	revoked, err := f.eng.RevokeToken(ctx, raw)
	if err != nil || revoked.ID != tok.ID || revoked.RevokedAt.IsZero() {
		t.Fatalf("revoke by token = %+v, %v", revoked, err)
	}
	if _, err := f.eng.RevokeToken(ctx, "pmg_nope"); pmgsync.ErrorCode(err) != pmgsync.ENOTFOUND {
		t.Errorf("revoke unknown: %v", err)
	}

	// An imported token made of digits is revoked as a token, not as an id.
	if _, _, err := f.eng.ImportToken(ctx, fmt.Sprint(tok.ID), "pedro"); err != nil {
		t.Fatal(err)
	}
	r, err := f.eng.RevokeToken(ctx, fmt.Sprint(tok.ID))
	if err != nil || r.Technician != "pedro" {
		t.Errorf("revoked %+v, %v; want pedro's imported token", r, err)
	}

	if _, err := f.eng.SetTechnicianDisabled(ctx, "maria", true); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.eng.CreateToken(ctx, "maria", "", time.Time{}); pmgsync.ErrorCode(err) != pmgsync.EINVALID {
		t.Errorf("token for disabled technician: %v", err)
	}
}

func TestRotateToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	raw1, tok1, _, err := f.eng.CreateToken(ctx, "maria", "Galaxy A14", t0.Add(90*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	auth := func(what, raw string, ok bool) {
		t.Helper()
		_, tok, err := f.eng.Authenticate(ctx, raw)
		switch {
		case ok && err != nil:
			t.Errorf("%s: Authenticate: %v", what, err)
		case !ok && pmgsync.ErrorCode(err) != pmgsync.EUNAUTHORIZED:
			t.Errorf("%s: Authenticate = %+v, %v; want EUNAUTHORIZED", what, tok, err)
		}
	}

	// By the token itself, with the default grace: the label and the
	// lifetime of 90 days are kept, and both work until the grace ends.
	f.now = t0.Add(time.Hour)
	raw2, tok2, old, err := f.eng.RotateToken(ctx, raw1, "", engine.SameLifetime, engine.DefaultRotationGrace)
	if err != nil {
		t.Fatalf("RotateToken: %v", err)
	}
	if raw2 == raw1 || !strings.HasPrefix(raw2, pmgsync.TokenPrefix) || tok2.Hint != raw2[:8] {
		t.Errorf("new token %q, hint %q", raw2, tok2.Hint)
	}
	if tok2.Technician != "maria" || tok2.Label != "Galaxy A14" || !tok2.ExpiresAt.Equal(f.now.Add(90*24*time.Hour)) || tok2.ID == tok1.ID {
		t.Errorf("new token %+v, want maria's, labelled \"Galaxy A14\", expiring in 90 days", tok2)
	}
	if old.ID != tok1.ID || !old.ExpiresAt.Equal(f.now.Add(7*24*time.Hour)) || !old.RevokedAt.IsZero() {
		t.Errorf("old token %+v, want #%d expiring in 7 days", old, tok1.ID)
	}
	f.now = t0.Add(time.Hour + 7*24*time.Hour - time.Second)
	auth("old token during the grace", raw1, true)
	auth("new token during the grace", raw2, true)
	f.now = f.now.Add(time.Second)
	auth("old token after the grace", raw1, false)
	auth("new token after the grace", raw2, true)
	if _, _, _, err := f.eng.RotateToken(ctx, raw1, "", engine.SameLifetime, time.Hour); !pmgsync.IsCode(err, pmgsync.EINVALID) || !strings.Contains(err.Error(), "has expired") {
		t.Errorf("rotating the rotated-out token: %v, want EINVALID: expired", err)
	}

	// By id, with a new label and lifetime, and no grace: the old one is
	// revoked at once.
	expires := f.now.Add(30 * 24 * time.Hour)
	raw3, tok3, old, err := f.eng.RotateToken(ctx, fmt.Sprintf("#%d", tok2.ID), "  Moto G54  ", 30*24*time.Hour, 0)
	if err != nil {
		t.Fatalf("RotateToken by id: %v", err)
	}
	if tok3.Label != "Moto G54" || !tok3.ExpiresAt.Equal(expires) {
		t.Errorf("new token %+v, want label \"Moto G54\", expiring %v", tok3, expires)
	}
	if old.ID != tok2.ID || !old.RevokedAt.Equal(f.now) || !old.ExpiresAt.Equal(tok2.ExpiresAt) {
		t.Errorf("old token %+v, want #%d revoked now", old, tok2.ID)
	}
	auth("token rotated with no grace", raw2, false)
	auth("its replacement", raw3, true)

	// NoExpiry gives a token that never expires; a token that never
	// expired is replaced by one that never expires.
	raw4, tok4, _, err := f.eng.RotateToken(ctx, raw3, "", engine.NoExpiry, time.Hour)
	if err != nil || !tok4.ExpiresAt.IsZero() {
		t.Fatalf("RotateToken with NoExpiry: %+v, %v; want a token that never expires", tok4, err)
	}
	raw3 = raw4
	if _, tok5, _, err := f.eng.RotateToken(ctx, raw4, "", engine.SameLifetime, time.Hour); err != nil || !tok5.ExpiresAt.IsZero() {
		t.Fatalf("RotateToken of a token that never expires: %+v, %v; want one that never expires", tok5, err)
	}

	for _, tc := range []struct {
		name, tokenOrID string
		grace           time.Duration
		code            string
		says            string
	}{
		{"revoked", raw2, time.Hour, pmgsync.EINVALID, fmt.Sprintf("token #%d is revoked", tok2.ID)},
		{"unknown token", "pmg_nope", time.Hour, pmgsync.ENOTFOUND, "no such token"},
		{"unknown id", "999", time.Hour, pmgsync.ENOTFOUND, "no such token"},
		{"negative grace", raw3, -time.Second, pmgsync.EINTERNAL, "negative grace"},
	} {
		_, _, _, err := f.eng.RotateToken(ctx, tc.tokenOrID, "", engine.SameLifetime, tc.grace)
		if pmgsync.ErrorCode(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.says) {
			t.Errorf("%s: %v, want %s saying %q", tc.name, err, tc.code, tc.says)
		}
	}

	// A disabled technician's token cannot be rotated, as none can be
	// created for them.
	if _, err := f.eng.SetTechnicianDisabled(ctx, "maria", true); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.eng.RotateToken(ctx, raw3, "", engine.SameLifetime, time.Hour); pmgsync.ErrorCode(err) != pmgsync.EINVALID || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("token of a disabled technician: %v, want EINVALID", err)
	}
	if toks, err := f.eng.Tokens(ctx, "maria"); err != nil || len(toks) != 5 {
		t.Errorf("maria has %d tokens (%v), want 5: refused rotations create none", len(toks), err)
	}
}

func TestImportIsIdempotent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	imported, tech, err := f.eng.ImportToken(ctx, "abc123", "tecnico1")
	if err != nil || !imported {
		t.Fatalf("ImportToken = %v, %v", imported, err)
	}
	if again, _, err := f.eng.ImportToken(ctx, "abc123", "tecnico1"); err != nil || again {
		t.Errorf("second import = %v, %v; want false, nil", again, err)
	}
	if _, _, err := f.eng.ImportToken(ctx, "abc123", "outro"); pmgsync.ErrorCode(err) != pmgsync.ECONFLICT {
		t.Errorf("same token for another technician: %v", err)
	}
	old := t0.Add(-72 * time.Hour)
	file, ok, err := f.eng.ImportFile(ctx, tech, "pmg.csv", strings.NewReader("old report"), old)
	if err != nil || !ok || !file.UploadedAt.Equal(old) {
		t.Fatalf("ImportFile = %+v, %v, %v", file, ok, err)
	}
	if _, ok, err := f.eng.ImportFile(ctx, tech, "pmg.csv", strings.NewReader("other"), old); err != nil || ok {
		t.Errorf("second ImportFile = %v, %v", ok, err)
	}
	if got := f.content(t, tech, "pmg.csv"); got != "old report" {
		t.Errorf("content = %q", got)
	}
}

// blockingReader hands out its content once released, so a test can act
// while an import is reading.
type blockingReader struct {
	reading chan struct{} // closed at the first Read
	release chan struct{}
	r       io.Reader
}

func (b *blockingReader) Read(p []byte) (int, error) {
	select {
	case <-b.reading:
	default:
		close(b.reading)
		<-b.release
	}
	return b.r.Read(p)
}

// An upload that lands while the same name is being imported wins: the
// import must not replace the technician's newer report with an old one.
func TestImportFileYieldsToConcurrentUpload(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, tech, err := f.eng.ImportToken(ctx, "abc123", "tecnico1")
	if err != nil {
		t.Fatal(err)
	}
	old := &blockingReader{reading: make(chan struct{}), release: make(chan struct{}), r: strings.NewReader("old version")}
	type result struct {
		imported bool
		err      error
	}
	done := make(chan result)
	go func() {
		_, imported, err := f.eng.ImportFile(ctx, tech, "pmg.csv", old, t0.Add(-time.Hour))
		done <- result{imported, err}
	}()
	<-old.reading
	if _, err := f.eng.Upload(ctx, tech, "pmg.csv", strings.NewReader("new version"), -1); err != nil {
		t.Fatal(err)
	}
	close(old.release)
	if r := <-done; r.err != nil || r.imported {
		t.Errorf("ImportFile = %v, %v; want not imported", r.imported, r.err)
	}
	if got := f.content(t, tech, "pmg.csv"); got != "new version" {
		t.Errorf("content = %q, want the upload's", got)
	}
	if n := f.blobCount(t); n != 1 {
		t.Errorf("%d blobs, want 1: the import's blob must be removed", n)
	}
}

// hookedBlobs runs beforeOpen once, just before the first Open reaches the
// real store: the moment another request can commit in between.
type hookedBlobs struct {
	pmgsync.BlobStore
	once       sync.Once
	beforeOpen func()
}

func (h *hookedBlobs) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	h.once.Do(h.beforeOpen)
	return h.BlobStore.Open(ctx, key)
}

// A download that races an upload or a delete of the same name gets the
// new version or a 404, never a 500.
func TestOpenFollowsConcurrentChange(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		change  func(eng *engine.Engine, tech *pmgsync.Technician) error
		want    string
		wantErr string
	}{
		{"replaced", func(eng *engine.Engine, tech *pmgsync.Technician) error {
			_, err := eng.Upload(ctx, tech, "pmg.csv", strings.NewReader("v2"), -1)
			return err
		}, "v2", ""},
		{"deleted", func(eng *engine.Engine, tech *pmgsync.Technician) error {
			_, err := eng.Delete(ctx, tech, "pmg.csv")
			return err
		}, "", pmgsync.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tech := f.technician(t, "joao")
			if _, err := f.eng.Upload(ctx, tech, "pmg.csv", strings.NewReader("v1"), -1); err != nil {
				t.Fatal(err)
			}
			hooked := &hookedBlobs{BlobStore: f.blobs}
			eng := engine.New(f.meta, hooked, engine.Options{Now: func() time.Time { return f.now }})
			hooked.beforeOpen = func() {
				if err := tt.change(eng, tech); err != nil {
					t.Error(err)
				}
			}
			_, rc, err := eng.Open(ctx, tech, "pmg.csv")
			if tt.wantErr != "" {
				if pmgsync.ErrorCode(err) != tt.wantErr {
					t.Fatalf("Open = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer rc.Close()
			if b, _ := io.ReadAll(rc); string(b) != tt.want {
				t.Errorf("content = %q, want %q", b, tt.want)
			}
		})
	}
}
