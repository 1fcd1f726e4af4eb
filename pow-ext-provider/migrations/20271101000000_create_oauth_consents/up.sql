-- What a user allowed a client of this provider: the scopes they consented to, so the
-- consent page is not shown again for the same client and scopes (or fewer).
-- Deleting the row withdraws the consent; the tokens the client holds end with it.
CREATE TABLE oauth_consents (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id VARCHAR NOT NULL,
    scopes VARCHAR NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
