package main

import (
	"context"
	"fmt"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// runToken is "pmgsync token …".
func runToken(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "token", subcommands{
		"create": runTokenCreate,
		"list":   runTokenList,
		"revoke": runTokenRevoke,
		"rotate": runTokenRotate,
	}, args)
}

func runTokenCreate(ctx context.Context, e *env, args []string) error {
	const cmd = "token create"
	fs := newFlagSet(e, cmd, "--technician NAME [--label LABEL] [--expires DURATION]",
		"Issues a new token for a technician, creating the technician if needed.\n"+
			"A summary goes to standard error and the token, alone, to standard output\n"+
			"(its last line), so that TOKEN=$(pmgsync token create …) works.\n"+
			"The token is shown only this once: the server keeps only its hash.")
	cf := adminFlags(fs)
	technician := fs.String("technician", "", "the technician's `name` (required)")
	label := fs.String("label", "", "what the token is for, e.g. the phone it goes on (optional)")
	expires := fs.String("expires", "", "lifetime, e.g. 90d, 36h or 1d12h (default: never expires)")
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	if *technician == "" {
		return cmdUsageErrorf(cmd, "--technician is required")
	}
	lifetime, err := parseLifetime(cmd, *expires)
	if err != nil {
		return err
	}

	return withAdmin(ctx, e, cf, func(m *Main) error {
		raw, tok, created, err := m.Engine.CreateToken(ctx, *technician, *label, engine.ExpiryAt(m.Engine.Now(), lifetime))
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(e.stderr, "Added technician %q.\n", tok.Technician)
		}
		fmt.Fprintf(e.stderr, "Created token #%d for technician %q%s.\n", tok.ID, tok.Technician, labelAndExpiry(tok))
		fmt.Fprintln(e.stderr, "Give it to the technician now: it cannot be shown again.")
		fmt.Fprintln(e.stdout, raw)
		return nil
	})
}

// parseLifetime parses the --expires of command cmd: a token's lifetime, or
// 0 (never expires) when s is empty.
func parseLifetime(cmd, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := parseExpiry(s)
	if err != nil {
		return 0, cmdUsageErrorf(cmd, "%v", err)
	}
	return d, nil
}

// labelAndExpiry describes a new token's label, if it has one, and expiry,
// for the end of a sentence: `, label "Galaxy A14"; it never expires`.
func labelAndExpiry(tok *pmgsync.Token) string {
	return describeLabel(tok) + "; it " + describeExpiry(tok.ExpiresAt)
}

// describeLabel describes a token's label for the middle of a sentence:
// `, label "Galaxy A14"`, or nothing if it has none.
func describeLabel(tok *pmgsync.Token) string {
	if tok.Label == "" {
		return ""
	}
	return fmt.Sprintf(", label %q", tok.Label)
}

func describeExpiry(at time.Time) string {
	if at.IsZero() {
		return "never expires"
	}
	return "expires " + formatTime(at, toMinute, "")
}

func runTokenList(ctx context.Context, e *env, args []string) error {
	const cmd = "token list"
	fs := newFlagSet(e, cmd, "[--technician NAME]",
		"Lists tokens: all of them, or those of one technician. Tokens themselves are\nnever shown (the server does not keep them); HINT is the start of a token\nissued by pmgsync, to recognise it.")
	cf := adminFlags(fs)
	technician := fs.String("technician", "", "list only this technician's tokens")
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		toks, err := m.Engine.Tokens(ctx, *technician)
		if err != nil {
			return err
		}
		if len(toks) == 0 {
			fmt.Fprintln(e.stderr, "No tokens: create one with \"pmgsync token create --technician NAME\".")
			return nil
		}
		now := m.Engine.Now()
		t := newTable(e.stdout, "ID", "TECHNICIAN", "LABEL", "HINT", "CREATED", "LAST USED", "EXPIRES", "STATUS")
		for _, tok := range toks {
			t.row(fmt.Sprint(tok.ID), tok.Technician, tok.Label, hint(tok),
				formatTime(tok.CreatedAt, toMinute, ""), formatTime(tok.LastUsedAt, toMinute, "never"),
				formatTime(tok.ExpiresAt, toMinute, "never"), tokenStatus(tok, now))
		}
		return t.flush()
	})
}

// hint shows the hint of a token; imported tokens have none.
func hint(tok *pmgsync.Token) string {
	if tok.Hint == "" {
		return ""
	}
	return tok.Hint + "…"
}

// tokenStatus is "revoked", "expired" or "active" at now.
func tokenStatus(tok *pmgsync.Token, now time.Time) string {
	switch {
	case !tok.RevokedAt.IsZero():
		return "revoked"
	case !tok.Active(now):
		return "expired"
	default:
		return "active"
	}
}

func runTokenRevoke(ctx context.Context, e *env, args []string) error {
	const cmd = "token revoke"
	fs := newFlagSet(e, cmd, "TOKEN-OR-ID",
		"Revokes a token, given either itself or its id (as \"token list\" shows it).\nThe server refuses it from the next request on.")
	cf := adminFlags(fs)
	arg, err := parseOne(fs, cmd, "token or token id", args)
	if err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		tok, err := m.Engine.RevokeToken(ctx, arg)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Revoked token #%d of technician %q%s (revoked at %s).\n",
			tok.ID, tok.Technician, describeLabel(tok), formatTime(tok.RevokedAt, toMinute, ""))
		return nil
	})
}

func runTokenRotate(ctx context.Context, e *env, args []string) error {
	const cmd = "token rotate"
	fs := newFlagSet(e, cmd, "TOKEN-OR-ID [--grace DURATION] [--label LABEL] [--expires DURATION|never]",
		"Issues a replacement for a token, given either itself or its id (as \"token\n"+
			"list\" shows it), for the same technician. The old token keeps working for\n"+
			"the grace period, time enough to put the new one in the app, and is refused\n"+
			"after it (or at its own expiry, if that comes first); --grace 0 revokes it at\n"+
			"once. A revoked or expired token cannot be rotated: create a new one.\n"+
			"The new token keeps the old one's label unless --label is given, and lives\n"+
			"as long as the old one was issued for (a 90-day token is replaced by a\n"+
			"90-day token; one that never expired, by one that never expires) unless\n"+
			"--expires says otherwise. As with \"token create\", a summary goes to\n"+
			"standard error and the new token, alone, to standard output, shown only\n"+
			"this once.\n"+
			"For a lost or stolen phone, use \"token revoke\" instead: it ends the token now.")
	cf := adminFlags(fs)
	grace := fs.String("grace", "7d", "how long the old token keeps working, e.g. 7d, 36h or 0 (revoke it at once)")
	label := fs.String("label", "", "the new token's label (default: the old token's)")
	expires := fs.String("expires", "", "the new token's lifetime, e.g. 90d, 36h or 1d12h, or never (default: the old token's lifetime)")
	arg, err := parseOne(fs, cmd, "token or token id", args)
	if err != nil {
		return err
	}
	keep, err := parseGrace(*grace)
	if err != nil {
		return cmdUsageErrorf(cmd, "%v", err)
	}
	lifetime := engine.SameLifetime
	switch *expires {
	case "":
	case "never":
		lifetime = engine.NoExpiry
	default:
		if lifetime, err = parseLifetime(cmd, *expires); err != nil {
			return err
		}
	}

	return withAdmin(ctx, e, cf, func(m *Main) error {
		raw, tok, old, err := m.Engine.RotateToken(ctx, arg, *label, lifetime, keep)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Rotated token #%d of technician %q: the new token is #%d%s.\n", old.ID, tok.Technician, tok.ID, labelAndExpiry(tok))
		if !old.RevokedAt.IsZero() {
			fmt.Fprintf(e.stderr, "The old token #%d is revoked.\n", old.ID)
		} else {
			fmt.Fprintf(e.stderr, "The old token #%d keeps working until %s, then is refused.\n",
				old.ID, formatTime(old.ExpiresAt, toMinute, ""))
		}
		fmt.Fprintln(e.stderr, "Give the new token to the technician now: it cannot be shown again.")
		fmt.Fprintln(e.stdout, raw)
		return nil
	})
}
