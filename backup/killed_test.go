package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// killedRestoreEnv, when set, makes the test binary a process that
// restores an archive and is killed at a step of its swap: see
// restoreKilled.
const killedRestoreEnv = "PMGSYNC_TEST_KILLED_RESTORE"

// killedRestore is what restoreKilled asks of its helper process.
type killedRestore struct {
	Archive, Dir string
	Force        bool
	Point        string // the step to die before
	Name         []byte // the entry of that step; nil for the first one
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(killedRestoreEnv); spec != "" {
		os.Exit(runKilledRestore(spec))
	}
	os.Exit(m.Run())
}

// runKilledRestore is the helper process of restoreKilled: it kills
// itself with SIGKILL, and returns only if the restore did not reach the
// step.
func runKilledRestore(spec string) int {
	var k killedRestore
	if err := json.Unmarshal([]byte(spec), &k); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f, err := os.Open(k.Archive)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	opts := RestoreOptions{Force: k.Force}
	opts.hooks.step = func(point, name string) error {
		if point == k.Point && (k.Name == nil || name == string(k.Name)) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return nil
	}
	if _, err := Restore(context.Background(), f, k.Dir, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "the restore ended without reaching %s %q\n", k.Point, k.Name)
	return 1
}

// restoreKilled restores archive into dir in another process, which is
// killed with SIGKILL (as by the OOM killer, or an operator's kill -9)
// before the step point of the swap, for the entry name (the first if
// nil): the kernel releases its lock, and nothing of its own cleanup
// runs.
func restoreKilled(t *testing.T, archive []byte, dir string, force bool, point string, name []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pmgsync-20261204-023000.tar.gz")
	if err := os.WriteFile(path, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(killedRestore{Archive: path, Dir: dir, Force: force, Point: point, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killedRestoreEnv+"="+string(spec))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the restore was to be killed before %s %q: %v\n%s", point, name, err, out)
	}
}
