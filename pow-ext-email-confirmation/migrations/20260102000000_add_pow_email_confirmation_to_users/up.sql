-- Columns of the email confirmation extension.
ALTER TABLE users ADD COLUMN email_confirmation_token VARCHAR NULL;
ALTER TABLE users ADD COLUMN email_confirmation_token_sent_at TIMESTAMP NULL;
ALTER TABLE users ADD COLUMN email_confirmed_at TIMESTAMP NULL;
ALTER TABLE users ADD COLUMN unconfirmed_email VARCHAR NULL;

CREATE UNIQUE INDEX users_email_confirmation_token_index ON users (email_confirmation_token);
