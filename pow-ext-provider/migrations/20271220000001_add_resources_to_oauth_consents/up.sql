-- resources: the resources (RFC 8707) the user allowed the client tokens for,
-- space-separated. A request naming a resource not in it shows the consent page again.
-- Empty (the default, so every consent given before covers no resource): the consent
-- covers only tokens bound to no resource.
ALTER TABLE oauth_consents ADD COLUMN resources VARCHAR NOT NULL DEFAULT '';
