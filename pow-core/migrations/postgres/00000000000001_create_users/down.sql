DROP INDEX IF EXISTS users_email_index;
DROP TABLE IF EXISTS users;
