package sqlite_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/sqlite"
)

// quotaProcesses is how many processes TestQuotaProcesses starts, and
// quotaCommits how many files each commits against a quota of
// quotaProcesses*quotaCommits/2 files.
const (
	quotaProcesses = 4
	quotaCommits   = 6
	quotaEnv       = "PMGSYNC_SQLITE_TEST_QUOTA" // path,process number
)

// TestQuotaProcesses commits from several processes at once against one
// quota: because the check and the write are one immediate transaction,
// whose lock is the operating system's, exactly the quota is stored.
func TestQuotaProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	db := open(t, path, nil)
	tech := &pmgsync.Technician{Name: "ana"}
	if err := db.CreateTechnician(t.Context(), tech); err != nil {
		t.Fatal(err)
	}
	cmds := make([]*exec.Cmd, quotaProcesses)
	outs := make([]bytes.Buffer, quotaProcesses)
	for i := range cmds {
		cmds[i] = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestQuotaHelperProcess$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), fmt.Sprintf("%s=%d,%s", quotaEnv, i, path))
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	u, err := db.Usage(t.Context(), tech.ID, time.Time{})
	if want := int64(quotaProcesses * quotaCommits / 2); err != nil || u.Files != want {
		t.Errorf("Usage = %+v, %v; want %d files", u, err, want)
	}
}

// TestQuotaHelperProcess is a child process of TestQuotaProcesses; on its
// own it does nothing. It commits quotaCommits files, from as many
// goroutines, and fails on any error but the quota's.
func TestQuotaHelperProcess(t *testing.T) {
	env := os.Getenv(quotaEnv)
	if env == "" {
		t.Skip("helper process")
	}
	num, path, _ := bytes.Cut([]byte(env), []byte(","))
	proc, _ := strconv.Atoi(string(num))
	db, err := sqlite.Open(t.Context(), string(path), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	tech, err := db.TechnicianByName(t.Context(), "ana")
	if err != nil {
		t.Fatal(err)
	}
	quota := pmgsync.Quota{MaxFiles: quotaProcesses * quotaCommits / 2, LiveAfter: time.Now().Add(-time.Hour)}
	var wg sync.WaitGroup
	for i := range quotaCommits {
		wg.Go(func() {
			key := fmt.Sprintf("p%d-%d", proc, i)
			_, err := db.CommitFile(t.Context(), &pmgsync.File{TechnicianID: tech.ID, Name: key, Size: 1, BlobKey: key}, quota)
			if err != nil && !pmgsync.IsCode(err, pmgsync.ESTORAGE) {
				t.Errorf("CommitFile: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestLockTwoHandles takes one lock from goroutines of two handles, as the
// server's scheduler and "pmgsync cleanup" do: exactly one gets it.
func TestLockTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	dbs := []*sqlite.DB{open(t, path, nil), open(t, path, nil)}
	now := time.Now()
	const n = 16
	var wg sync.WaitGroup
	got := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = dbs[i%2].TryLock(t.Context(), "sweep", fmt.Sprint("holder-", i), now, now.Add(time.Minute))
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("TryLock: %v", errs[i])
		}
		if got[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d holders got the lock, want exactly 1", winners)
	}
}
