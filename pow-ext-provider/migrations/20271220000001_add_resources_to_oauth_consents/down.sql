ALTER TABLE oauth_consents DROP COLUMN resources;
