-- resources: the declared resources (RFC 8707) a registered client may get tokens for,
-- space-separated. Empty (the default, so every client registered before has none): the
-- client gets tokens bound to no resource only.
ALTER TABLE oauth_clients ADD COLUMN resources VARCHAR NOT NULL DEFAULT '';
