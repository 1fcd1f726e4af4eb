-- The provider's clients registered at run time (by the `pow provider` commands, the
-- admin page or dynamic registration), beside those the app's setup names. A client's
-- secret is kept only as a keyed hash; during a rotation the previous one keeps working
-- until `previous_secret_until`.
CREATE TABLE oauth_clients (
    client_id VARCHAR NOT NULL PRIMARY KEY,
    name VARCHAR,
    kind VARCHAR NOT NULL,
    redirect_uris VARCHAR NOT NULL,
    post_logout_redirect_uris VARCHAR NOT NULL DEFAULT '',
    scopes VARCHAR,
    grants VARCHAR NOT NULL,
    secret_digest VARCHAR,
    secret_expires_at TIMESTAMP,
    previous_secret_digest VARCHAR,
    previous_secret_until TIMESTAMP,
    dynamic BOOLEAN NOT NULL DEFAULT FALSE,
    last_used_at TIMESTAMP,
    inserted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX oauth_clients_dynamic_idx ON oauth_clients (dynamic, last_used_at);
