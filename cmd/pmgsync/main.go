// Command pmgsync is the pmgsync server and its administration tool, in one
// binary: "pmgsync serve" runs the server; the other commands manage
// technicians and tokens and import the old server's data.
//
// # Data directory
//
// Everything pmgsync keeps lives in one data directory (--data, or
// $PMGSYNC_DATA, default ./data), created with mode 0700 if it is missing:
//
//	<data>/pmgsync.db        SQLite database: technicians, tokens (hashed), file metadata
//	<data>/pmgsync.db-wal    its write-ahead log and shared-memory index, which SQLite
//	<data>/pmgsync.db-shm    manages; back them up together with pmgsync.db
//	<data>/blobs/            the files' bytes under server-generated names (see localfs)
//	<data>/blobs/tmp/        uploads in progress; what a crash leaves here is removed
//	                         when the server starts
//	<data>/backup-staging-*/ a backup in progress (links to the blobs it archives, its
//	                         snapshot); what a crash leaves is removed when the server starts
//	<data>/.restore-*        a restore in progress (see backup.Restore)
//	<data>/.pmgsync-restore-journal the swap of a restore that was interrupted: the next
//	                         start finishes it
//	<data>/.before-restore-*/ what a restore with --force moved aside: the previous contents
//
// The administration commands may run while the server runs on the same
// data directory: SQLite's write-ahead log and busy timeout let several
// processes share the database, and the server reads tokens from it on every
// request, so a token created or revoked takes effect at the next request.
//
// # Configuration
//
// Every setting is a flag, a PMGSYNC_* environment variable and a key of an
// optional TOML config file (--config, or $PMGSYNC_CONFIG); a flag wins over
// the environment, which wins over the file, which wins over the default.
// "pmgsync config" prints the result. See config.go for the settings.
//
// Exit status: 0 on success, 1 when the command failed, 2 for a usage error
// or a setting that cannot work; "pmgsync verify" exits with 3 when it
// found problems.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the cleanup's time zone resolves on hosts without a zoneinfo database

	"github.com/pmgsync/pmgsync"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills the process at once, as if
	// pmgsync had never caught signals: an operator can always stop it.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv})
	stop()
	os.Exit(code)
}

// env is what a command may use of its process: the output streams and the
// environment. Tests give commands their own.
type env struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
}

// runFunc runs a command with its arguments (those after its name) and
// returns what went wrong, which exitStatus reports.
type runFunc func(ctx context.Context, e *env, args []string) error

// commands maps each command's name to its implementation. Those with
// subcommands of their own (technician, token) dispatch further themselves.
var commands = map[string]runFunc{
	"serve":       runServe,
	"config":      runConfig,
	"technician":  runTechnician,
	"token":       runToken,
	"cleanup":     runCleanup,
	"import-seed": runImportSeed,
	"audit":       runAudit,
	"verify":      runVerify,
	"backup":      runBackup,
	"restore":     runRestore,
	"version":     runVersion,
}

const usageText = `pmgsync keeps field technicians' PMG reports in sync.

Usage:
  pmgsync serve [--config FILE] [--addr ADDR] [--data DIR] [SETTING FLAGS]
        run the server
  pmgsync config [--config FILE] [SETTING FLAGS]
        print the effective configuration and where each value comes from
  pmgsync technician add NAME [--email EMAIL]
  pmgsync technician list
  pmgsync technician disable NAME
  pmgsync technician enable NAME
        manage technicians; a disabled technician's tokens are refused
  pmgsync technician set NAME [--retention DURATION|inherit]
        [--quota-bytes SIZE|unlimited|inherit] [--quota-files N|unlimited|inherit]
        override the global retention and quotas for one technician
  pmgsync token create --technician NAME [--label LABEL] [--expires DURATION]
        issue a token (creating the technician if needed); the token is
        printed alone on the last line of standard output, and only once
  pmgsync token list [--technician NAME]
  pmgsync token revoke TOKEN-OR-ID
        revoke a token at once (a lost or stolen phone)
  pmgsync token rotate TOKEN-OR-ID [--grace DURATION] [--label LABEL]
        [--expires DURATION|never]
        issue a replacement token, printed like token create's; the old one
        keeps working for the grace (default 7d; 0 revokes it at once)
  pmgsync cleanup [--dry-run]
        sweep expired files now (also while the server runs)
  pmgsync cleanup history [--limit N]
        list the latest cleanup runs
  pmgsync import-seed --uploads DIR --tokens FILE
        import the tokens and files of the old server
  pmgsync audit verify
        check that no audit record was modified, deleted or inserted
  pmgsync audit list [--technician NAME] [--action ACTION] [--since T] [--until T]
        [--limit N] [--format table|csv|json]
        list audit records, oldest first
  pmgsync verify [--repair]
        check every file's blob (size, SHA-256) and look for orphaned blobs;
        --repair removes orphans and marks missing or corrupt files damaged;
        exit status 3 when it found problems
  pmgsync backup --out FILE|-
        write a consistent backup of the data directory (also while the server
        runs) to FILE, or to standard output; exit 3 if damaged files were left out
  pmgsync backup history [--limit N]
        list the latest backup runs
  pmgsync restore FILE|- [--force]
        restore a backup into the data directory, which must be empty unless
        --force moves its contents aside
  pmgsync version
  pmgsync help

Settings (flag, PMGSYNC_* environment variable, key of the TOML config file):
  --config FILE            PMGSYNC_CONFIG            the config file (default: none)
  --addr ADDR              PMGSYNC_ADDR              addr (default :10000)
  --data DIR               PMGSYNC_DATA              data (default ./data)
  --retention DURATION     PMGSYNC_RETENTION         retention (default 7d)
  --cleanup-schedule CRON  PMGSYNC_CLEANUP_SCHEDULE  cleanup-schedule (default "0 3 * * *")
  --timezone ZONE          PMGSYNC_TIMEZONE          timezone (default America/Sao_Paulo)
  --max-upload-size SIZE   PMGSYNC_MAX_UPLOAD_SIZE   max-upload-size (default 50MiB)
  --allowed-types LIST     PMGSYNC_ALLOWED_TYPES     allowed-types (default xlsx,xlsm,xls,csv)
  --quota-bytes SIZE       PMGSYNC_QUOTA_BYTES       quota-bytes (default unlimited)
  --quota-files N          PMGSYNC_QUOTA_FILES       quota-files (default unlimited)
  --min-free-bytes SIZE    PMGSYNC_MIN_FREE_BYTES    min-free-bytes (default 1GiB)
  --min-free-percent P     PMGSYNC_MIN_FREE_PERCENT  min-free-percent (default 5)
  --audit-retention DURATION
                           PMGSYNC_AUDIT_RETENTION   audit-retention (default 400d)
  --log-format FORMAT      PMGSYNC_LOG_FORMAT        log-format: text or json (default text)
  --log-level LEVEL        PMGSYNC_LOG_LEVEL         log-level (default info)
  --trusted-proxies LIST   PMGSYNC_TRUSTED_PROXIES   trusted-proxies (default: none)
  --metrics-addr ADDR      PMGSYNC_METRICS_ADDR      metrics-addr (default: /metrics on --addr)
 HTTPS (see docs/operations.md):
  --tls-cert FILE          PMGSYNC_TLS_CERT          tls-cert: PEM certificate chain (default: none)
  --tls-key FILE           PMGSYNC_TLS_KEY           tls-key: its PEM private key
  --acme-domain NAMES      PMGSYNC_ACME_DOMAIN       acme-domain: automatic certificates (default: none)
  --acme-email ADDRESS     PMGSYNC_ACME_EMAIL        acme-email (default: none)
  --acme-directory URL     PMGSYNC_ACME_DIRECTORY    acme-directory (default: Let's Encrypt)
  --redirect-addr ADDR     PMGSYNC_REDIRECT_ADDR     redirect-addr: HTTP to HTTPS (default: none)
 Browsers, abuse and slow clients (see docs/security.md):
  --cors-origins LIST      PMGSYNC_CORS_ORIGINS      cors-origins (default: none)
  --auth-fail-limit N      PMGSYNC_AUTH_FAIL_LIMIT   auth-fail-limit (default 20; 0: off)
  --auth-fail-window DURATION
                           PMGSYNC_AUTH_FAIL_WINDOW  auth-fail-window (default 10m)
  --auth-ban DURATION      PMGSYNC_AUTH_BAN          auth-ban (default 15m)
  --rate-limit N           PMGSYNC_RATE_LIMIT        rate-limit, requests/s per token (default 50; 0: off)
  --rate-burst N           PMGSYNC_RATE_BURST        rate-burst (default 100)
  --max-concurrent-uploads N
                           PMGSYNC_MAX_CONCURRENT_UPLOADS  per technician (default 16; 0: no bound)
  --read-header-timeout DURATION
                           PMGSYNC_READ_HEADER_TIMEOUT  read-header-timeout (default 10s)
  --idle-timeout DURATION  PMGSYNC_IDLE_TIMEOUT      idle-timeout (default 2m)
  --max-header-bytes SIZE  PMGSYNC_MAX_HEADER_BYTES  max-header-bytes (default 64KiB)
  --upload-stall-timeout DURATION
                           PMGSYNC_UPLOAD_STALL_TIMEOUT  upload-stall-timeout (default 1m)
 Scheduled backups (see docs/backup.md):
  --backup-schedule CRON   PMGSYNC_BACKUP_SCHEDULE   backup-schedule (default off)
  --backup-dir DIR         PMGSYNC_BACKUP_DIR        backup-dir (default: none)
  --backup-keep N          PMGSYNC_BACKUP_KEEP       backup-keep (default 7)
A flag wins over the environment, which wins over the config file. serve and
config take every setting flag; the other commands but version and help take
--config and --data (cleanup also --retention), and read the rest of the file
and the environment like the server. Run "pmgsync COMMAND -h" for the flags
of a command.
`

// run runs the command that args name and returns the exit status.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usageText)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usageText)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		return exitStatus(e, usageErrorf("unknown command %q", name))
	}
	// What an administration command changes is recorded in the audit
	// trail as done by the CLI. The server's own work (its sweeps) is the
	// system's, and its requests carry their own actors.
	if name != "serve" {
		ctx = pmgsync.WithActor(ctx, cliActor(e))
	}
	return exitStatus(e, cmd(ctx, e, rest))
}

// exitStatus reports err, if any, on standard error and returns the exit
// status for it. Messages of domain errors (a mistake of the person at the
// keyboard) are shown as they are; other errors are the operator's to read.
func exitStatus(e *env, err error) int {
	var usage *usageError
	var badSetting *settingError
	var badFile *configError
	if status, ok := err.(*statusError); ok {
		if status.err != nil {
			fmt.Fprintf(e.stderr, "pmgsync: %v\n", status.err)
		}
		return status.code
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsageShown):
		return 2
	case errors.As(err, &badSetting):
		fmt.Fprintf(e.stderr, "pmgsync: %v\n", badSetting)
		return 2
	case errors.As(err, &badFile):
		fmt.Fprintf(e.stderr, "pmgsync: %v\n", badFile)
		return 2
	case errors.As(err, &usage):
		fmt.Fprintf(e.stderr, "pmgsync: %s\n", usage.msg)
		if usage.cmd != "" {
			fmt.Fprintf(e.stderr, "Run \"pmgsync %s -h\" for usage.\n", usage.cmd)
		} else {
			fmt.Fprintln(e.stderr, `Run "pmgsync help" for usage.`)
		}
		return 2
	case pmgsync.ErrorCode(err) != pmgsync.EINTERNAL:
		fmt.Fprintf(e.stderr, "pmgsync: %s\n", pmgsync.ErrorMessage(pmgsync.English, err))
		return 1
	default:
		fmt.Fprintf(e.stderr, "pmgsync: %v\n", err)
		return 1
	}
}

// exitProblems is the exit status of a command that ran and found
// problems: verify's, and backup's when it had to leave damaged files out.
const exitProblems = 3

// statusError ends a command with an exit status of its own, such as
// exitProblems. err, if not nil, is reported on standard error; nil means
// the command has already said what it had to. Only the statusError itself
// counts: joined with another error (a database that failed to close), it
// is reported as a failure, with its message.
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *statusError) Unwrap() error { return e.err }
