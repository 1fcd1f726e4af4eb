DROP INDEX IF EXISTS users_invitation_token_index;
ALTER TABLE users DROP COLUMN invited_by_id;
ALTER TABLE users DROP COLUMN invitation_accepted_at;
ALTER TABLE users DROP COLUMN invitation_sent_at;
ALTER TABLE users DROP COLUMN invitation_token;
