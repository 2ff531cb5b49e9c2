-- Retention and quotas: per-technician overrides, the index that serves the
-- quota check and the sweep of expired files, the lock that keeps two sweeps
-- from running at once, and the record of each sweep.

-- Overrides of the global settings; 0 means "use the global setting", and
-- -1 (pmgsync.Unlimited) lifts a global quota. Retention is in nanoseconds.
ALTER TABLE technicians ADD COLUMN retention_ns INTEGER NOT NULL DEFAULT 0 CHECK (retention_ns >= 0);
ALTER TABLE technicians ADD COLUMN quota_bytes  INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= -1);
ALTER TABLE technicians ADD COLUMN quota_files  INTEGER NOT NULL DEFAULT 0 CHECK (quota_files >= -1);

-- Usage (the quota check of every commit) and ExpiredFiles: one technician's
-- files by upload time, oldest first, without reading the others' rows.
CREATE INDEX files_technician_uploaded ON files (technician_id, uploaded_at);

-- Named leases. A lock whose until has passed is free, so a holder that
-- died releases it by default.
CREATE TABLE locks (
	name   TEXT    PRIMARY KEY COLLATE BINARY,
	holder TEXT    NOT NULL,
	until  INTEGER NOT NULL
) STRICT;

-- One row per sweep of expired files. finished_at is NULL while it runs, or
-- if its process died.
CREATE TABLE cleanup_runs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	triggered_by    TEXT    NOT NULL,
	dry_run         INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
	started_at      INTEGER NOT NULL,
	finished_at     INTEGER,
	files_removed   INTEGER NOT NULL DEFAULT 0,
	bytes_removed   INTEGER NOT NULL DEFAULT 0,
	orphans_removed INTEGER NOT NULL DEFAULT 0,
	errors          TEXT    NOT NULL DEFAULT ''
) STRICT;
