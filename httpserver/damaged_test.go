package httpserver_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pmgsync/pmgsync/engine"
)

// damage removes the blob of the technician's file name and has a repairing
// integrity check mark the file damaged.
func (e *env) damage(technician, name string) {
	e.t.Helper()
	ctx := context.Background()
	tech, err := e.engine.Technician(ctx, technician)
	if err != nil {
		e.t.Fatal(err)
	}
	f, content, err := e.engine.Open(ctx, tech, name)
	if err != nil {
		e.t.Fatal(err)
	}
	content.Close()
	if err := os.Remove(filepath.Join(e.dir, "blobs", f.BlobKey[:2], f.BlobKey)); err != nil {
		e.t.Fatal(err)
	}
	rep, err := e.engine.Verify(ctx, engine.VerifyOptions{Repair: true})
	if err != nil || rep.Repaired(engine.ProblemMissing) != 1 {
		e.t.Fatalf("Verify: %v, %d missing files marked, want 1", err, rep.Repaired(engine.ProblemMissing))
	}
}

// A file marked damaged is not listed, and a pull of it is a 404 that says
// why; it can be deleted, and a new upload of its name replaces it.
func TestDamagedFile(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("maria")
	e.upload(tok, "relatorio-bomba-07.xlsx", report(1))
	e.upload(tok, "relatorio-bomba-08.xlsx", report(2))
	e.upload(tok, "relatorio-valvula-02.xlsx", report(3))
	e.damage("maria", "relatorio-bomba-07.xlsx")
	e.damage("maria", "relatorio-valvula-02.xlsx")

	list := decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusOK)
	if want := []any{"relatorio-bomba-08.xlsx"}; !reflect.DeepEqual(list["files"], want) {
		t.Errorf("list = %v, want %v", list["files"], want)
	}

	pull := url.Values{"token": {tok}, "filename": {"relatorio-bomba-07.xlsx"}}
	got := decode(t, e.get(http.MethodGet, "/pull", pull), http.StatusNotFound)
	if want := `o arquivo "relatorio-bomba-07.xlsx" está danificado no servidor e precisa ser enviado novamente`; got["detail"] != want {
		t.Errorf("pull detail = %v, want %q", got["detail"], want)
	}
	req := httptestRequest(http.MethodGet, "/pull?"+pull.Encode(), nil)
	req.Header.Set("Accept-Language", "en")
	got = decode(t, e.do(req), http.StatusNotFound)
	if want := `the file "relatorio-bomba-07.xlsx" is damaged on the server and must be sent again`; got["detail"] != want {
		t.Errorf("English pull detail = %v, want %q", got["detail"], want)
	}
	if resp := e.get(http.MethodHead, "/pull", pull); resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD /pull of a damaged file: status %d, want 404", resp.StatusCode)
	}

	// Sent again: listed and served, with the new content.
	decode(t, e.upload(tok, "relatorio-bomba-07.xlsx", report(4)), http.StatusOK)
	if b := body(t, e.get(http.MethodGet, "/pull", pull)); b != string(report(4)) {
		t.Errorf("pull after the new upload = %d bytes, want the new version", len(b))
	}

	// Deleted: gone, as any file.
	del := decode(t, e.get(http.MethodDelete, "/delete", url.Values{"token": {tok}, "filename": {"relatorio-valvula-02.xlsx"}}), http.StatusOK)
	if del["status"] != "ok" || del["filename"] != "relatorio-valvula-02.xlsx" || del["sha256"] != sha(report(3)) {
		t.Errorf("delete of a damaged file = %v", del)
	}
	got = decode(t, e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {"relatorio-valvula-02.xlsx"}}), http.StatusNotFound)
	if got["detail"] != "Arquivo não encontrado" {
		t.Errorf("pull of the deleted damaged file: detail %v", got["detail"])
	}
	list = decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusOK)
	if want := []any{"relatorio-bomba-07.xlsx", "relatorio-bomba-08.xlsx"}; !reflect.DeepEqual(list["files"], want) {
		t.Errorf("list at the end = %v, want %v", list["files"], want)
	}

	// A technician whose only file is damaged has none to list: 404, as
	// the old server answered a technician without files.
	other := e.token("joao")
	e.upload(other, "pmg.xlsx", report(5))
	e.damage("joao", "pmg.xlsx")
	empty := decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {other}}), http.StatusNotFound)
	if empty["detail"] != "Nenhum arquivo encontrado" {
		t.Errorf("list of only a damaged file: detail %v", empty["detail"])
	}
}
