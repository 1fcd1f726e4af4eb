ALTER TABLE users DROP COLUMN totp_recovery_codes;
ALTER TABLE users DROP COLUMN totp_enabled_at;
ALTER TABLE users DROP COLUMN totp_secret;
