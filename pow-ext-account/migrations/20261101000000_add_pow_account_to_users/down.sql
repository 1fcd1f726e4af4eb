DROP INDEX IF EXISTS users_erase_after_index;
ALTER TABLE users DROP COLUMN erase_after;
ALTER TABLE users DROP COLUMN closed_at;
