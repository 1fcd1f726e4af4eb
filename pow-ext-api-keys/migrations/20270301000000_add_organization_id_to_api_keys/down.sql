DROP INDEX api_keys_organization_id_index;
ALTER TABLE api_keys DROP COLUMN organization_id;
