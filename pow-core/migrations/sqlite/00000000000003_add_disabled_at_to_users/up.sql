-- A disabled user cannot sign in (pow_core::admin::disable_user).
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP NULL;
