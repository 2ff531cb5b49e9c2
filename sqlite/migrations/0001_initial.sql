-- Technicians, their tokens and the current version of each of their files.
-- Times are INTEGER nanoseconds since the Unix epoch, UTC; NULL (or 0 in NOT
-- NULL columns) is the zero time. Names compare in byte order (BINARY).
-- AUTOINCREMENT keeps ids from ever being reused, so that an id an admin
-- wrote down, or a file version id in a log, never names something else.

CREATE TABLE technicians (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL COLLATE BINARY UNIQUE,
	email      TEXT    NOT NULL DEFAULT '',
	disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at INTEGER NOT NULL
) STRICT;

-- hash is HashToken of the raw token, which is never stored.
CREATE TABLE tokens (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	technician_id INTEGER NOT NULL REFERENCES technicians (id),
	hash          BLOB    NOT NULL UNIQUE,
	label         TEXT    NOT NULL DEFAULT '',
	hint          TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	last_used_at  INTEGER,
	expires_at    INTEGER,
	revoked_at    INTEGER
) STRICT;

-- Tokens(technicianID) and the foreign key check.
CREATE INDEX tokens_technician ON tokens (technician_id);

-- One row per current file version. The unique (technician_id, name) index
-- also serves a technician's listing, already in name order; the unique
-- blob_key index serves ReferencedBlobs.
CREATE TABLE files (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	technician_id INTEGER NOT NULL REFERENCES technicians (id),
	name          TEXT    NOT NULL COLLATE BINARY,
	size          INTEGER NOT NULL CHECK (size >= 0),
	sha256        TEXT    NOT NULL,
	blob_key      TEXT    NOT NULL UNIQUE,
	uploaded_at   INTEGER NOT NULL,
	UNIQUE (technician_id, name)
) STRICT;
