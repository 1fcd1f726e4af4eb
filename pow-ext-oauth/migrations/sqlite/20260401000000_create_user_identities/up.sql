-- Accounts at OAuth 2.0 / OpenID Connect providers linked to users.
CREATE TABLE user_identities (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider VARCHAR NOT NULL,
    uid VARCHAR NOT NULL,
    email VARCHAR NULL,
    inserted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX user_identities_provider_uid_index ON user_identities (provider, uid);
CREATE INDEX user_identities_user_id_index ON user_identities (user_id);
