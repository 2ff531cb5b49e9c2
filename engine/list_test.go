package engine_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// plainStore is a metadata store with nothing but the methods of
// pmgsync.MetadataStore, so that the engine takes the path of a store
// without optional abilities.
type plainStore struct{ pmgsync.MetadataStore }

// TestListNames checks that ListNames names the files List returns, in the
// same order, both through the store's cheaper list of names and without
// it: not the expired (at the instant of expiry too), not the damaged, not
// another technician's.
func TestListNames(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao, maria := f.technician(t, "joao"), f.technician(t, "maria")
	mustUpload(t, f, joao, "older.csv") // at t0
	f.now = t0.Add(1)
	mustUpload(t, f, joao, "exact.csv")
	f.now = t0.Add(2)
	mustUpload(t, f, joao, "younger.csv")
	mustUpload(t, f, joao, "Zeta.csv")
	damaged := mustUpload(t, f, joao, "danificado.csv")
	if _, err := f.meta.MarkDamaged(ctx, damaged.ID, pmgsync.DamageMissing, "", f.now); err != nil {
		t.Fatal(err)
	}
	mustUpload(t, f, maria, "relatorio-bomba-07.csv")
	f.now = t0.Add(week + 1)

	plain := engine.New(plainStore{f.meta}, f.blobs, engine.Options{Now: func() time.Time { return f.now }})
	for name, eng := range map[string]*engine.Engine{"store's list of names": f.eng, "without it": plain} {
		t.Run(name, func(t *testing.T) {
			files, err := eng.List(ctx, joao)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, file := range files {
				want = append(want, file.Name)
			}
			got, err := eng.ListNames(ctx, joao)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) || !slices.Equal(got, []string{"Zeta.csv", "younger.csv"}) {
				t.Errorf("ListNames = %q, List = %q; want both [Zeta.csv younger.csv]", got, want)
			}
		})
	}
}

// A download that finds its file's blob gone (removed by hand, lost to a
// disk error) marks the file damaged, as verify --repair would: it is no
// longer listed, the technician is told to send it again, and sending it
// again replaces it.
func TestOpenMissingBlob(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	maria := f.technician(t, "maria")
	lost := mustUpload(t, f, maria, "relatorio-bomba-07.csv")
	mustUpload(t, f, maria, "relatorio-bomba-08.csv")
	if err := os.Remove(f.blobPath(lost.BlobKey)); err != nil {
		t.Fatal(err)
	}

	_, _, err := f.eng.Open(ctx, maria, "relatorio-bomba-07.csv")
	wantCode(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileDamaged)
	stored, err := f.meta.FileByName(ctx, maria.ID, "relatorio-bomba-07.csv")
	if err != nil || stored.Damage != pmgsync.DamageMissing {
		t.Fatalf("file after the failed download: %+v, %v; want it marked missing", stored, err)
	}
	names, err := f.eng.ListNames(ctx, maria)
	if err != nil || !slices.Equal(names, []string{"relatorio-bomba-08.csv"}) {
		t.Errorf("ListNames = %q, %v; want the damaged file left out", names, err)
	}
	mustUpload(t, f, maria, "relatorio-bomba-07.csv")
	if _, content, err := f.eng.Open(ctx, maria, "relatorio-bomba-07.csv"); err != nil {
		t.Errorf("Open after sending the file again: %v", err)
	} else {
		content.Close()
	}
}
