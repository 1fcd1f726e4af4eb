ALTER TABLE sso_connections DROP COLUMN idp_initiated;
ALTER TABLE sso_connections DROP COLUMN saml_metadata;
