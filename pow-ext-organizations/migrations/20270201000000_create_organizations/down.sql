DROP TABLE organization_invitations;
DROP TABLE organization_members;
DROP TABLE organizations;
