-- One row per backup of the data directory ("pmgsync backup" and the
-- scheduled backups). finished_at is NULL, and status 'running', while it
-- runs, or if its process died. bytes is the size of the files archived,
-- archive_bytes that of the compressed archive.
CREATE TABLE backup_runs (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	triggered_by  TEXT    NOT NULL,
	started_at    INTEGER NOT NULL,
	finished_at   INTEGER,
	path          TEXT    NOT NULL DEFAULT '',
	files         INTEGER NOT NULL DEFAULT 0,
	bytes         INTEGER NOT NULL DEFAULT 0,
	archive_bytes INTEGER NOT NULL DEFAULT 0,
	status        TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'damaged', 'failed')),
	error         TEXT    NOT NULL DEFAULT ''
) STRICT;
