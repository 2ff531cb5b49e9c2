package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/sqlite"
)

// The stores are seeded while no server runs on them: technicians and
// their tokens through the metadata store's own API (so that tokens are
// hashed as the server expects), files straight through SQL, a million
// rows in one statement, as no upload could make them in minutes.

// seedTechnicians creates the database of the data directory data if
// needed, adds the technicians named by names, each with one token, and
// returns the tokens in the same order.
func seedTechnicians(ctx context.Context, data string, names []string) ([]string, error) {
	db, err := sqlite.Open(ctx, dbPath(data), nil)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tokens := make([]string, len(names))
	for i, name := range names {
		t := &pmgsync.Technician{Name: name}
		if err := db.CreateTechnician(ctx, t); err != nil {
			return nil, fmt.Errorf("technician %s: %w", name, err)
		}
		raw := pmgsync.NewToken()
		tok := &pmgsync.Token{TechnicianID: t.ID, Label: "pmgsync-bench", Hint: pmgsync.TokenHint(raw)}
		if err := db.CreateToken(ctx, tok, pmgsync.HashToken(raw)); err != nil {
			return nil, fmt.Errorf("token of %s: %w", name, err)
		}
		tokens[i] = raw
	}
	return tokens, db.Close()
}

// openRaw opens the database of data for seeding through SQL. The schema
// must exist (seedTechnicians makes it).
func openRaw(data string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+dbPath(data)+"?_pragma=busy_timeout(10000)&_pragma=cache_size(-262144)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// fileSpec describes files to insert: n files spread round robin over
// techs technicians, the first of which has id firstTech (the others
// follow it), named prefix0000000.xlsx, prefix0000001.xlsx…, with blob keys
// that encode keyBase+i (no blob is written), uploaded at uploadedAt.
type fileSpec struct {
	firstTech  int64
	techs      int
	n          int
	prefix     string
	keyBase    int64
	size       int64
	uploadedAt time.Time
}

// insertFiles adds the files of spec in one statement, within tx.
func insertFiles(ctx context.Context, tx *sql.Tx, spec fileSpec) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO files (technician_id, name, size, sha256, blob_key, uploaded_at)
		WITH RECURSIVE seq(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM seq WHERE x + 1 < ?)
		SELECT ? + x % ?, printf('%s%07d.xlsx', ?, x), ?, ?, printf('%032x', ? + x), ? FROM seq`,
		spec.n, spec.firstTech, spec.techs, spec.prefix, spec.size, zeroSHA256, spec.keyBase, spec.uploadedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("insert %d files: %w", spec.n, err)
	}
	return nil
}

// zeroSHA256 stands for the content hash of files that have no blob.
const zeroSHA256 = "0000000000000000000000000000000000000000000000000000000000000000"

// insertTechnicians adds n technicians named prefix0000…, in one statement
// within tx, and returns the id of the first; the others have the ids that
// follow it.
func insertTechnicians(ctx context.Context, tx *sql.Tx, prefix string, n int) (int64, error) {
	_, err := tx.ExecContext(ctx, `INSERT INTO technicians (name, created_at)
		WITH RECURSIVE seq(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM seq WHERE x + 1 < ?)
		SELECT printf('%s%04d', ?, x), ? FROM seq`, n, prefix, time.Now().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("insert %d technicians: %w", n, err)
	}
	var first, last int64
	err = tx.QueryRowContext(ctx, `SELECT min(id), max(id) FROM technicians WHERE name >= ? AND name < ?`,
		prefix, prefix+"\xff").Scan(&first, &last)
	if err != nil {
		return 0, err
	}
	if last-first+1 != int64(n) {
		return 0, fmt.Errorf("technicians %s…: ids %d to %d are not %d in a row", prefix, first, last, n)
	}
	return first, nil
}

// technicianID returns the id of the technician named name.
func technicianID(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM technicians WHERE name = ?`, name).Scan(&id)
	return id, err
}

// withTx runs fn in one transaction on the raw database of data.
func withTx(ctx context.Context, data string, fn func(tx *sql.Tx) error) error {
	db, err := openRaw(data)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Leave no write-ahead log behind for the server to replay.
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	return db.Close()
}

// seedExpired adds n files of techs new technicians (expiredNNNN), with a
// blob of blobSize bytes each, uploaded 30 days ago: far past the default
// retention of 7 days, so that a sweep removes them all. The blobs are
// written without fsync, then the file system is synced once.
func seedExpired(ctx context.Context, data string, techs, n, blobSize int) error {
	blobs := filepath.Join(data, blobDir)
	for i := range 256 {
		if err := os.MkdirAll(filepath.Join(blobs, fmt.Sprintf("%02x", i)), 0o700); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(blobs, "tmp"), 0o700); err != nil {
		return err
	}
	content := make([]byte, blobSize)
	keys := make([]string, n)
	for i := range keys {
		var k [16]byte
		rand.Read(k[:])
		keys[i] = hex.EncodeToString(k[:])
		if err := os.WriteFile(filepath.Join(blobs, keys[i][:2], keys[i]), content, 0o600); err != nil {
			return err
		}
	}
	uploaded := time.Now().Add(-30 * 24 * time.Hour).UnixNano()
	err := withTx(ctx, data, func(tx *sql.Tx) error {
		first, err := insertTechnicians(ctx, tx, "expirado-", techs)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO files (technician_id, name, size, sha256, blob_key, uploaded_at)
			VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, key := range keys {
			name := fmt.Sprintf("antigo-%07d.xlsx", i)
			if _, err := stmt.ExecContext(ctx, first+int64(i%techs), name, blobSize, zeroSHA256, key, uploaded); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	syscall.Sync()
	return nil
}
