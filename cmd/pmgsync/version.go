package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release of this binary, set at build time with
// -ldflags "-X main.version=v1.2.3". When it is not set, the module version
// recorded by "go install …@version" is used, else "dev".
var version string

// binaryVersion returns the version to report.
func binaryVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// runVersion is "pmgsync version".
func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "", "Prints the version of pmgsync and of the Go toolchain that built it.")
	if err := parseNone(fs, "version", args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "pmgsync %s\n%s %s/%s\n", binaryVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
