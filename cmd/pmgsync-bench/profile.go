package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// start starts a server of the binary under test on data (see startServer),
// serving its profiles too when the run profiles (-pprof).
func (b *bench) start(ctx context.Context, data string, extra ...string) (*server, error) {
	var env []string
	var pprofURL string
	if b.cfg.pprof {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		env = append(env, "PMGSYNC_PPROF_ADDR="+addr)
		pprofURL = "http://" + addr
	}
	srv, err := startServer(ctx, b.cfg.pmgsync, data, env, extra...)
	if err != nil {
		return nil, err
	}
	srv.pprof = pprofURL
	return srv, nil
}

// profiled runs measure while the server records a CPU profile of it, when
// the run profiles and name is not "" (a reference is measured), and then
// saves the server's allocation, mutex and blocking profiles, all as
// <work>/profiles/<name>.<kind>.pprof.
func (b *bench) profiled(ctx context.Context, srv *server, name string, measure func() error) error {
	if srv.pprof == "" || name == "" {
		return measure()
	}
	dir := filepath.Join(b.cfg.work, "profiles")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	seconds := max(1, int(b.cfg.duration.Seconds()))
	cpu := make(chan error, 1)
	go func() {
		cpu <- fetchProfile(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", srv.pprof, seconds), filepath.Join(dir, name+".cpu.pprof"))
	}()
	err := measure()
	if perr := <-cpu; perr != nil {
		b.logf("   cpu profile: %v", perr)
	}
	for _, kind := range []string{"allocs", "mutex", "block"} {
		if perr := fetchProfile(ctx, srv.pprof+"/debug/pprof/"+kind, filepath.Join(dir, name+"."+kind+".pprof")); perr != nil {
			b.logf("   %s profile: %v", kind, perr)
		}
	}
	b.logf("   profiles in %s/%s.*.pprof", dir, name)
	return err
}

// fetchProfile saves the profile at url to path.
func fetchProfile(ctx context.Context, url, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
