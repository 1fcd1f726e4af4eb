-- Organizations: a slug (unique, in links), a name, and when it was closed (its purge
-- follows after the grace period).
CREATE TABLE organizations (
    id VARCHAR PRIMARY KEY NOT NULL,
    slug VARCHAR NOT NULL UNIQUE,
    name VARCHAR NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP NULL
);
-- Who belongs to an organization, with which role (owner, admin, member or one the app
-- declares). activated_at: when the member last made it their active organization (the
-- latest is their default after the next sign-in). Every change of owners runs in one
-- transaction that first writes the organization's row (its lock), so an organization is
-- never left without an owner.
CREATE TABLE organization_members (
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role VARCHAR NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    activated_at TIMESTAMP NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user_id_index ON organization_members (user_id);
-- Invitations to an organization, bound to an address and a declared role. The link's
-- secret is not here: the cache store keeps the invitation's id under a keyed digest of it
-- (one link per mail, each single-use), so neither this id nor a dump of the table is a link.
CREATE TABLE organization_invitations (
    id VARCHAR PRIMARY KEY NOT NULL,
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    invited_by BIGINT NULL REFERENCES users (id) ON DELETE SET NULL,
    inserted_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP NULL,
    revoked_at TIMESTAMP NULL
);
CREATE INDEX organization_invitations_organization_id_index ON organization_invitations (organization_id);
