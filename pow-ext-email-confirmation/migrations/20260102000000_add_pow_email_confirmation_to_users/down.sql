DROP INDEX IF EXISTS users_email_confirmation_token_index;
ALTER TABLE users DROP COLUMN unconfirmed_email;
ALTER TABLE users DROP COLUMN email_confirmed_at;
ALTER TABLE users DROP COLUMN email_confirmation_token_sent_at;
ALTER TABLE users DROP COLUMN email_confirmation_token;
