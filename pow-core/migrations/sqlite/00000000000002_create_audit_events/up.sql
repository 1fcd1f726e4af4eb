-- The audit log (pow_core::audit::DieselAuditSink). No password, token or secret is ever
-- written here: identifiers and session ids are keyed hashes.
CREATE TABLE pow_audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    user_id BIGINT NULL,
    identifier_hash VARCHAR NULL,
    ip VARCHAR NULL,
    user_agent VARCHAR NULL,
    session_hash VARCHAR NULL,
    detail TEXT NOT NULL
);

CREATE INDEX pow_audit_events_user_index ON pow_audit_events (user_id, at_ms);
CREATE INDEX pow_audit_events_at_index ON pow_audit_events (at_ms);
