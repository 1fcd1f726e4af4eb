-- Teams inside an organization (when the app turns them on), each name once per
-- organization.
CREATE TABLE organization_teams (
    id VARCHAR PRIMARY KEY NOT NULL,
    organization_id VARCHAR NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name VARCHAR NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, name)
);
-- Who is in a team, with a team role (lead, member or one the app declares). Only members
-- of the organization are: leaving or being removed from it takes them out of its teams
-- in the same transaction.
CREATE TABLE organization_team_members (
    team_id VARCHAR NOT NULL REFERENCES organization_teams (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role VARCHAR NOT NULL,
    inserted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX organization_team_members_user_id_index ON organization_team_members (user_id);
