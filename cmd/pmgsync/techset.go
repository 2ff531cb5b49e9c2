package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/units"
)

// inherit, as a technician's override, follows the global setting.
const inherit = "inherit"

func runTechnicianSet(ctx context.Context, e *env, args []string) error {
	const cmd = "technician set"
	fs := newFlagSet(e, cmd, "NAME [--retention DURATION|inherit] [--quota-bytes SIZE|unlimited|inherit] [--quota-files N|unlimited|inherit]",
		"Overrides the global retention and quotas for one technician. A flag not given\n"+
			"leaves that setting as it is; \"inherit\" goes back to the global setting;\n"+
			"\"unlimited\" lifts a global quota for this technician. A change of retention\n"+
			"applies at once to the files already stored: a shorter one can make some of\n"+
			"them expire now. The running server sees the change at the next request.")
	cf := adminFlags(fs)
	var s engine.TechnicianSettings
	fs.Func("retention", "how long this technician's files are kept, e.g. 30d or 72h; or inherit", func(v string) error {
		d, err := parseRetentionOverride(v)
		s.Retention = &d
		return err
	})
	fs.Func("quota-bytes", "bytes this technician may store, e.g. 2GiB; or unlimited, or inherit", func(v string) error {
		n, err := parseQuotaOverride(v, parseQuotaSize, quotaSizeExample)
		s.QuotaBytes = &n
		return err
	})
	fs.Func("quota-files", "files this technician may store, e.g. 500; or unlimited, or inherit", func(v string) error {
		n, err := parseQuotaOverride(v, parseQuotaCount, quotaCountExample)
		s.QuotaFiles = &n
		return err
	})
	name, err := parseOne(fs, cmd, "technician name", args)
	if err != nil {
		return err
	}
	if s.Retention == nil && s.QuotaBytes == nil && s.QuotaFiles == nil {
		return cmdUsageErrorf(cmd, "nothing to set: give --retention, --quota-bytes or --quota-files")
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		t, err := m.Engine.SetTechnicianSettings(ctx, name, s)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Technician %q: retention %s, quota-bytes %s, quota-files %s.\n", t.Name,
			describeOverride(formatRetentionOverride(t.Retention), units.FormatDuration(m.Config.Retention)),
			describeOverride(formatQuotaOverride(t.QuotaBytes, formatSize), formatQuota(m.Config.QuotaBytes, formatSize)),
			describeOverride(formatQuotaOverride(t.QuotaFiles, formatCount), formatQuota(m.Config.QuotaFiles, formatCount)))
		return nil
	})
}

// describeOverride shows an override, with the global value it inherits.
func describeOverride(own, global string) string {
	if own == inherit {
		return fmt.Sprintf("inherit (global: %s)", global)
	}
	return own
}

// parseRetentionOverride parses --retention of "technician set": a
// positive duration, or inherit (0).
func parseRetentionOverride(v string) (time.Duration, error) {
	if strings.EqualFold(strings.TrimSpace(v), inherit) {
		return 0, nil
	}
	d, err := units.ParseDuration(v)
	if err != nil {
		return 0, errors.New("use a duration such as 30d or 72h, or inherit")
	}
	return d, nil
}

// parseQuotaOverride parses a quota override: inherit (0), unlimited
// (pmgsync.Unlimited), or a limit that parse, the parser of the global
// quota, reads as positive. Its error shows example and the words.
func parseQuotaOverride(v string, parse func(string) (int64, error), example string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case inherit:
		return 0, nil
	case unlimited:
		return pmgsync.Unlimited, nil
	}
	n, err := parse(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("use %s, unlimited or inherit", example)
	}
	return n, nil
}

// formatRetentionOverride shows a technician's retention override.
func formatRetentionOverride(d time.Duration) string {
	if d <= 0 {
		return inherit
	}
	return units.FormatDuration(d)
}

// formatQuotaOverride shows a technician's quota override.
func formatQuotaOverride(n int64, format func(int64) string) string {
	switch {
	case n == pmgsync.Unlimited:
		return unlimited
	case n <= 0:
		return inherit
	}
	return format(n)
}
