DROP TABLE organization_team_members;
DROP TABLE organization_teams;
