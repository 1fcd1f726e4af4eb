-- The SQL cache store (pow_core::store::SqlStore): one row per record. `key` is the key's
-- segments, each a 4-byte big-endian length and its UTF-8 bytes, so the keys under one
-- prefix are one range of the primary key. `expires_at` is in milliseconds since the
-- epoch, NULL for a record without a TTL.
CREATE TABLE pow_store (
  namespace TEXT NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX pow_store_expires_at ON pow_store (expires_at) WHERE expires_at IS NOT NULL;
