-- Columns of the account extension: when the owner closed the account, and when it is
-- erased (`pow accounts purge` erases the rows whose time has come).
ALTER TABLE users ADD COLUMN closed_at TIMESTAMP NULL;
ALTER TABLE users ADD COLUMN erase_after TIMESTAMP NULL;

CREATE INDEX users_erase_after_index ON users (erase_after);
