-- SAML 2.0 connections: the identity provider's metadata document as imported (its
-- signing certificates are the ones answers are verified against, pinned until an admin
-- imports it again), and whether the provider may sign people in unasked (IdP-initiated).
ALTER TABLE sso_connections ADD COLUMN saml_metadata TEXT NULL;
ALTER TABLE sso_connections ADD COLUMN idp_initiated BOOLEAN NOT NULL DEFAULT FALSE;
