-- The audit trail: one row per security-relevant event, in a hash chain
-- (see pmgsync.AuditHash): hash covers prev_hash and every other column but
-- id, so a row modified, deleted or inserted afterwards breaks the chain.
-- Rows are appended only inside immediate transactions, so the row with the
-- highest id is always the end of the chain. AUTOINCREMENT keeps ids of
-- pruned rows from being reused.
CREATE TABLE audit (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ns    INTEGER NOT NULL,
	actor_kind TEXT    NOT NULL,
	actor_name TEXT    NOT NULL DEFAULT '',
	action     TEXT    NOT NULL,
	technician TEXT    NOT NULL DEFAULT '' COLLATE BINARY,
	file_name  TEXT    NOT NULL DEFAULT '',
	size       INTEGER NOT NULL DEFAULT 0,
	sha256     TEXT    NOT NULL DEFAULT '',
	old_sha256 TEXT    NOT NULL DEFAULT '',
	client_ip  TEXT    NOT NULL DEFAULT '',
	user_agent TEXT    NOT NULL DEFAULT '',
	result     TEXT    NOT NULL DEFAULT '',
	request_id TEXT    NOT NULL DEFAULT '',
	detail     TEXT    NOT NULL DEFAULT '',
	prev_hash  TEXT    NOT NULL,
	hash       TEXT    NOT NULL
) STRICT;

-- The filters of "pmgsync audit list", and PruneAudit: a time range alone,
-- or one technician's or one action's range of time.
CREATE INDEX audit_time ON audit (time_ns);
CREATE INDEX audit_technician_time ON audit (technician, time_ns);
CREATE INDEX audit_action_time ON audit (action, time_ns);

-- Set once ExpireTokens has recorded the token's expiry, so that it is
-- recorded once.
ALTER TABLE tokens ADD COLUMN expiry_audited INTEGER NOT NULL DEFAULT 0 CHECK (expiry_audited IN (0, 1));
