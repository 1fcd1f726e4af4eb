-- Columns of the two-factor extension.
ALTER TABLE users ADD COLUMN totp_secret VARCHAR NULL;
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMP NULL;
ALTER TABLE users ADD COLUMN totp_recovery_codes VARCHAR NULL;
