-- WebAuthn credentials (passkeys) of users.
-- credential_id: the credential's id (base64url), unique across all users.
-- user_handle: the random handle authenticators keep for the user (never the user id).
-- rp_id: the site (relying party id) it was made for; after a move to another domain
-- the old rows stay, listed as the other site's, and sign nobody in.
-- kind: 'passkey' signs in alone (with user verification); 'security_key' is only ever
-- a second factor.
-- credential: the relying party's record of the credential, in storage format `format`.
CREATE TABLE passkeys (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id VARCHAR NOT NULL,
    user_handle VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    rp_id VARCHAR NOT NULL,
    format INTEGER NOT NULL,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    user_verified BOOLEAN NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backup_state BOOLEAN NOT NULL,
    transports VARCHAR NULL,
    aaguid VARCHAR NULL,
    inserted_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NULL
);
CREATE UNIQUE INDEX passkeys_credential_id_index ON passkeys (credential_id);
CREATE INDEX passkeys_user_id_index ON passkeys (user_id);
CREATE INDEX passkeys_user_handle_index ON passkeys (user_handle);
