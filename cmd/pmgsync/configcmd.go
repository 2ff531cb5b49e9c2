package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// runConfig is "pmgsync config".
func runConfig(ctx context.Context, e *env, args []string) error {
	const cmd = "config"
	fs := newFlagSet(e, cmd, "[--config FILE] [SETTING FLAGS]",
		"Prints the effective configuration: each setting with its value and where the\n"+
			"value came from (default, the config file, a PMGSYNC_* variable or a flag),\n"+
			"in rising order of precedence. It takes every flag of \"pmgsync serve\", so it\n"+
			"shows what serve would use with them. The output is valid TOML: it can start\n"+
			"a config file.")
	cf := defineConfigFlags(fs)
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	cfg, err := cf.load(e.lookupEnv)
	if err != nil {
		return err
	}
	return printConfig(e.stdout, &cfg, cf)
}

// printConfig writes one line per setting, `name = value  # source`.
func printConfig(w io.Writer, cfg *Config, cf *configFlags) error {
	var b strings.Builder
	b.WriteString("# pmgsync configuration: effective values and where they came from\n")
	b.WriteString("# (precedence: default < config file < environment < flag)\n")
	if cfg.File != "" {
		source := "--config"
		if !cf.fileSet {
			source = configEnv
		}
		fmt.Fprintf(&b, "# config file: %s (from %s)\n", cfg.File, source)
	} else {
		b.WriteString("# config file: none\n")
	}
	nameWidth, valueWidth := 0, 0
	values := make([]string, len(settings))
	for i, s := range settings {
		values[i] = tomlString(s.get(cfg))
		nameWidth = max(nameWidth, len(s.name))
		valueWidth = max(valueWidth, len(values[i]))
	}
	for i, s := range settings {
		fmt.Fprintf(&b, "%-*s = %-*s  # %s\n", nameWidth, s.name, valueWidth, values[i], cfg.Source(s.name))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
