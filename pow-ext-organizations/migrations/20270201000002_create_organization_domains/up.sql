-- Domains an organization claims (when the app gives the extension a DNS resolver). The
-- organization proves one with a DNS TXT record holding its token; a verified domain
-- belongs to one organization at a time. join_policy: off, request (an admin approves) or
-- automatic, for users whose proven address is at the domain.
CREATE TABLE organization_domains (
    id VARCHAR PRIMARY KEY NOT NULL,
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    domain VARCHAR NOT NULL,
    token VARCHAR NOT NULL,
    join_policy VARCHAR NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    verified_at TIMESTAMP NULL,
    UNIQUE (organization_id, domain)
);
CREATE UNIQUE INDEX organization_domains_verified_index ON organization_domains (domain)
    WHERE verified_at IS NOT NULL;
-- Requests to join through a verified domain whose policy is `request`, until an admin
-- approves or denies them.
CREATE TABLE organization_join_requests (
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    inserted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_join_requests_user_id_index ON organization_join_requests (user_id);
