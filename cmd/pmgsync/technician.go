package main

import (
	"context"
	"fmt"
)

// runTechnician is "pmgsync technician …".
func runTechnician(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "technician", subcommands{
		"add":     runTechnicianAdd,
		"list":    runTechnicianList,
		"disable": runTechnicianDisable,
		"enable":  runTechnicianEnable,
		"set":     runTechnicianSet,
	}, args)
}

func runTechnicianDisable(ctx context.Context, e *env, args []string) error {
	return runTechnicianSetDisabled(ctx, e, args, true)
}

func runTechnicianEnable(ctx context.Context, e *env, args []string) error {
	return runTechnicianSetDisabled(ctx, e, args, false)
}

func runTechnicianAdd(ctx context.Context, e *env, args []string) error {
	const cmd = "technician add"
	fs := newFlagSet(e, cmd, "NAME [--email EMAIL]",
		"Adds a technician. NAME is 1 to 64 letters, digits, spaces, '.', '_', '-' or '@';\nquote it if it has spaces: pmgsync technician add \"João Silva\".")
	cf := adminFlags(fs)
	email := fs.String("email", "", "the technician's e-mail `address` (optional)")
	name, err := parseOne(fs, cmd, "technician name", args)
	if err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		t, err := m.Engine.AddTechnician(ctx, name, *email)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Added technician %q.\n", t.Name)
		return nil
	})
}

func runTechnicianList(ctx context.Context, e *env, args []string) error {
	const cmd = "technician list"
	fs := newFlagSet(e, cmd, "", "Lists the technicians, with their overrides of the global retention and\n"+
		"quotas: \"inherit\" where they follow the global setting.")
	cf := adminFlags(fs)
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		techs, err := m.Engine.Technicians(ctx)
		if err != nil {
			return err
		}
		if len(techs) == 0 {
			fmt.Fprintln(e.stderr, "No technicians yet: add one with \"pmgsync technician add NAME\".")
			return nil
		}
		t := newTable(e.stdout, "NAME", "EMAIL", "STATUS", "RETENTION", "QUOTA BYTES", "QUOTA FILES", "CREATED")
		for _, tech := range techs {
			status := "active"
			if tech.Disabled {
				status = "disabled"
			}
			t.row(tech.Name, tech.Email, status, formatRetentionOverride(tech.Retention),
				formatQuotaOverride(tech.QuotaBytes, formatSize), formatQuotaOverride(tech.QuotaFiles, formatCount),
				formatTime(tech.CreatedAt, toMinute, ""))
		}
		return t.flush()
	})
}

func runTechnicianSetDisabled(ctx context.Context, e *env, args []string, disabled bool) error {
	cmd, help := "technician enable", "Lets a disabled technician's tokens work again."
	if disabled {
		cmd, help = "technician disable", "Disables a technician: the server refuses their tokens from the next request on,\nas if they did not exist. Their files are kept."
	}
	fs := newFlagSet(e, cmd, "NAME", help)
	cf := adminFlags(fs)
	name, err := parseOne(fs, cmd, "technician name", args)
	if err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		t, err := m.Engine.SetTechnicianDisabled(ctx, name, disabled)
		if err != nil {
			return err
		}
		if disabled {
			fmt.Fprintf(e.stdout, "Disabled technician %q: their tokens are refused from now on.\n", t.Name)
		} else {
			fmt.Fprintf(e.stdout, "Enabled technician %q: their tokens work again.\n", t.Name)
		}
		return nil
	})
}
