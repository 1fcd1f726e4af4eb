-- Single sign-on connections, one per organization: an OpenID Connect provider the
-- organization's admins set up. The client secret is kept sealed under the setup's key
-- ring (AES-256-GCM), never in clear. enabled: the connection signs people in; enforced:
-- members at the organization's verified domains may sign in only through it (possible
-- once validated_at is set by a successful sign-in through it). break_glass_user_id: the
-- one owner who may still sign in with a password and a second factor while it is
-- enforced.
CREATE TABLE sso_connections (
    id VARCHAR PRIMARY KEY NOT NULL,
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    protocol VARCHAR NOT NULL,
    issuer VARCHAR NOT NULL,
    client_id VARCHAR NOT NULL,
    client_secret VARCHAR NULL,
    default_role VARCHAR NOT NULL,
    enabled BOOLEAN NOT NULL,
    enforced BOOLEAN NOT NULL,
    validated_at TIMESTAMP NULL,
    break_glass_user_id BIGINT NULL REFERENCES users (id) ON DELETE SET NULL,
    inserted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id)
);
-- The users signed in through a connection, keyed on the provider's subject (never on
-- the address it asserts).
CREATE TABLE sso_identities (
    connection_id VARCHAR NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    subject VARCHAR NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email VARCHAR NULL,
    inserted_at TIMESTAMP NOT NULL,
    last_sign_in_at TIMESTAMP NOT NULL,
    PRIMARY KEY (connection_id, subject)
);
CREATE INDEX sso_identities_user_id_index ON sso_identities (user_id);
