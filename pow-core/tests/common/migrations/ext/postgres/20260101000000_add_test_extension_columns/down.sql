DROP INDEX users_test_token_index;
ALTER TABLE users DROP COLUMN test_confirmed_at;
ALTER TABLE users DROP COLUMN test_token;
