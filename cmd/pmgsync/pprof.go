//go:build pprof

package main

import (
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
	"runtime"
)

// A binary built with -tags pprof serves the runtime profiles of
// net/http/pprof on the address in $PMGSYNC_PPROF_ADDR (127.0.0.1:6060,
// say), so that "scripts/bench -pprof" can show what limits a workload:
// CPU, allocations, and the contention of mutexes and of blocking. Release
// builds leave it out, profiles tell too much about a process to be served
// by default.
func init() {
	addr := os.Getenv("PMGSYNC_PPROF_ADDR")
	if addr == "" {
		return
	}
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(100_000) // a sample per 100µs spent blocked
	go func() { log.Println("pprof:", http.ListenAndServe(addr, nil)) }()
}
