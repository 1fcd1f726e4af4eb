-- API keys of users: scripts, CI jobs and integrations authenticate with them.
-- id: the public part of the key (`pow_<id>_<secret>`), random, shown in lists.
-- secret_hash: a keyed hash of the secret part under the setup's key ring (the key itself
-- is shown once and kept nowhere): a dump of this table opens nothing.
-- scopes: the key's scopes, space-separated, from the list the app declares.
-- last_used_at: written at most once a minute.
-- revoked_at: set when the key is revoked (or replaced by a rotation, after its overlap).
CREATE TABLE api_keys (
    id VARCHAR PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name VARCHAR NOT NULL,
    scopes VARCHAR NOT NULL,
    secret_hash VARCHAR NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NULL,
    revoked_at TIMESTAMP NULL
);
CREATE INDEX api_keys_user_id_index ON api_keys (user_id);
