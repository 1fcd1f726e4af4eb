DROP INDEX IF EXISTS users_invitation_token_index;
ALTER TABLE users
    DROP COLUMN IF EXISTS invited_by_id,
    DROP COLUMN IF EXISTS invitation_accepted_at,
    DROP COLUMN IF EXISTS invitation_sent_at,
    DROP COLUMN IF EXISTS invitation_token;
