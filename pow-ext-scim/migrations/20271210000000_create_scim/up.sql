-- SCIM provisioning per organization.
-- Bearer tokens of an organization's identity provider: kept as keyed hashes under the key
-- ring, each usable on its own organization's users and groups only.
CREATE TABLE scim_tokens (
    id VARCHAR PRIMARY KEY NOT NULL,
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name VARCHAR NOT NULL,
    digest VARCHAR NOT NULL,
    created_by BIGINT NULL REFERENCES users (id) ON DELETE SET NULL,
    inserted_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NULL,
    revoked_at TIMESTAMP NULL
);
CREATE INDEX scim_tokens_organization_id_index ON scim_tokens (organization_id);
-- The users an organization's provider provisioned: the SCIM resource as it was last
-- written (its attributes beyond the account's), and the account it stands for. managed:
-- the provisioning made the account, so deactivating disables it (else it only leaves the
-- organization).
CREATE TABLE scim_users (
    id VARCHAR PRIMARY KEY NOT NULL,
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_name VARCHAR NOT NULL,
    external_id VARCHAR NULL,
    active BOOLEAN NOT NULL,
    managed BOOLEAN NOT NULL,
    resource TEXT NOT NULL,
    version BIGINT NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, user_id),
    UNIQUE (organization_id, user_name)
);
CREATE INDEX scim_users_user_id_index ON scim_users (user_id);
-- The groups an organization's provider pushed, and the role (and team) an admin maps
-- each to.
CREATE TABLE scim_groups (
    id VARCHAR PRIMARY KEY NOT NULL,
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    display_name VARCHAR NOT NULL,
    external_id VARCHAR NULL,
    role VARCHAR NULL,
    team_id VARCHAR NULL,
    resource TEXT NOT NULL,
    version BIGINT NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, display_name)
);
