package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// namespaceEnv names, in the environment of the test process that
// inNamespace starts, the test to run there.
const namespaceEnv = "PMGSYNC_TEST_IN_NAMESPACE"

// inNamespace runs the test t again, in a process of its own user and
// mount namespaces, as uid there: 0 is a root that may mount file systems
// of its own (a tmpfs) in its mount namespace, which nothing outside
// sees; any other uid is an unprivileged user, the owner of the files
// the test creates, whom file modes bind. The kernel allows this to an
// unprivileged user too, unless user namespaces are turned off: then the
// test is skipped, and fails when CI=true.
//
// inNamespace reports whether it runs in that process, where the test's
// body runs; in the test's own process it returns false once that
// process passed, and fails t if it did not.
func inNamespace(t *testing.T, uid int) bool {
	t.Helper()
	if os.Getenv(namespaceEnv) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), namespaceEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot start a process in user and mount namespaces of its own: %v", err)
		}
		t.Skipf("user namespaces are not available here: %v", err)
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("in its own namespaces: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("in its own namespaces:\n%s", out)
	}
	return false
}

// acmeData adds to the data directory dir the ACME cache of an HTTPS
// server: acme/, which sorts before blobs/.
func acmeData(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "acme", "campo.pmg.example"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "acme", "campo.pmg.example", "certificate.pem"), []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkUnmoved checks that a restore that failed because an entry of dir
// could not be moved aside left dir as it was (before, its names): the
// entries moved before it back in place, no journal, nothing extracted;
// and that Use starts on it.
func checkUnmoved(t *testing.T, dir string, before []string, err error) {
	t.Helper()
	if !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("the error does not say that nothing was changed: %v", err)
	}
	checkEntries(t, dir, before)
	u, err := Use(dir)
	if err != nil {
		t.Fatalf("Use after the restore failed: %v", err)
	}
	u.Close()
	if _, err := os.Stat(filepath.Join(dir, "acme", "campo.pmg.example", "certificate.pem")); err != nil {
		t.Errorf("the ACME cache: %v", err)
	}
}

// TestRestoreMountPointAside restores with Force over a data directory
// whose blobs/ is a mount point (a disk of its own, as the docs say an
// operator may mount there), which rename(2) cannot move (EBUSY): the
// restore must fail before its commit point, say why, and put back the
// acme/ it had moved, rather than commit a swap that no start of the
// server could finish.
func TestRestoreMountPointAside(t *testing.T) {
	t.Parallel()
	if !inNamespace(t, 0) {
		return
	}
	archive := sampleArchive(t)
	dst := oldData(t)
	acmeData(t, dst)
	blobs := filepath.Join(dst, "blobs")
	if err := syscall.Mount("tmpfs", blobs, "tmpfs", 0, "size=1m,mode=0700"); err != nil {
		t.Fatal(err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			syscall.Unmount(blobs, 0)
		}
	})
	before := names(t, dst)

	_, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{Force: true})
	if !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("restore over a mount point: %v, want EBUSY", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "it is a mount point") {
		t.Errorf("the error does not say that blobs/ is a mount point: %v", err)
	}
	checkUnmoved(t, dst, before, err)
	if err := syscall.Unmount(blobs, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	checkOldData(t, dst)
}

// TestRestoreUnwritableDirectoryAside restores with Force, as an
// unprivileged user, over a data directory whose blobs/ that user cannot
// write (created by root, or made read-only), which rename(2) cannot move
// (EACCES: its ".." entry would change): the restore must fail before its
// commit point, say why, and put back the acme/ it had moved.
func TestRestoreUnwritableDirectoryAside(t *testing.T) {
	t.Parallel()
	if !inNamespace(t, 1000) {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatal("the test runs as root")
	}
	archive := sampleArchive(t)
	dst := oldData(t)
	acmeData(t, dst)
	blobs := filepath.Join(dst, "blobs")
	if err := os.Chmod(blobs, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(blobs, 0o700) })
	before := names(t, dst)

	_, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{Force: true})
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("restore over a directory the user cannot write: %v, want EACCES", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "as the user that owns the data directory") {
		t.Errorf("the error does not say what to do: %v", err)
	}
	checkUnmoved(t, dst, before, err)
	if err := os.Chmod(blobs, 0o700); err != nil {
		t.Fatal(err)
	}
	checkOldData(t, dst)
}
