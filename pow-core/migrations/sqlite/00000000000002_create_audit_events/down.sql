DROP TABLE pow_audit_events;
