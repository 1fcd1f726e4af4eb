-- organization_id: the organization a key acts for (pow-ext-organizations): the key works
-- while its maker (user_id) is a member of that open organization, with their role.
ALTER TABLE api_keys ADD COLUMN organization_id VARCHAR NULL;
CREATE INDEX api_keys_organization_id_index ON api_keys (organization_id);
