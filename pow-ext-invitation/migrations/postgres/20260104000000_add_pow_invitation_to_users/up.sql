-- pow_invitation: who invited whom, the invitation token and its timestamps.
-- Deleting an inviter keeps the users they invited (`invited_by_id` becomes NULL).
ALTER TABLE users
    ADD COLUMN invitation_token VARCHAR NULL,
    ADD COLUMN invitation_sent_at TIMESTAMP NULL,
    ADD COLUMN invitation_accepted_at TIMESTAMP NULL,
    ADD COLUMN invited_by_id BIGINT NULL REFERENCES users (id) ON DELETE SET NULL;

CREATE UNIQUE INDEX users_invitation_token_index ON users (invitation_token);
