package main

import (
	"flag"
	"io"
	"path/filepath"
	"testing"
)

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantData string
		wantAddr string
	}{
		{"defaults", nil, nil, "./data", ":10000"},
		{"environment", map[string]string{"PMGSYNC_DATA": "/srv/pmgsync", "PMGSYNC_ADDR": "127.0.0.1:8080"}, nil, "/srv/pmgsync", "127.0.0.1:8080"},
		{"empty variables are unset", map[string]string{"PMGSYNC_DATA": "", "PMGSYNC_ADDR": ""}, nil, "./data", ":10000"},
		{"flags win", map[string]string{"PMGSYNC_DATA": "/srv/pmgsync", "PMGSYNC_ADDR": "127.0.0.1:8080"}, []string{"--data", "/tmp/d", "--addr", ":9000"}, "/tmp/d", ":9000"},
		{"flag over default", nil, []string{"--addr", "[::1]:0"}, "./data", "[::1]:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ApplyEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.DataFlag(fs)
			cfg.AddrFlag(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if cfg.DataDir != tt.wantData || cfg.Addr != tt.wantAddr {
				t.Errorf("got data %q, addr %q; want %q, %q", cfg.DataDir, cfg.Addr, tt.wantData, tt.wantAddr)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, addr := range []string{"10000", "localhost", ":http", ":-1", ":65536", "1.2.3.4:", "::1:80", ""} {
		cfg := DefaultConfig()
		cfg.Addr = addr
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate accepted address %q", addr)
		}
	}
	cfg := DefaultConfig()
	cfg.DataDir = ""
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepted an empty data directory")
	}
}

func TestConfigPaths(t *testing.T) {
	cfg := Config{DataDir: "/var/lib/pmgsync"}
	if got, want := cfg.DatabasePath(), filepath.FromSlash("/var/lib/pmgsync/pmgsync.db"); got != want {
		t.Errorf("DatabasePath %q, want %q", got, want)
	}
	if got, want := cfg.BlobDir(), filepath.FromSlash("/var/lib/pmgsync/blobs"); got != want {
		t.Errorf("BlobDir %q, want %q", got, want)
	}
}
