ALTER TABLE users ADD COLUMN test_token VARCHAR NULL;
ALTER TABLE users ADD COLUMN test_confirmed_at TIMESTAMP NULL;
CREATE UNIQUE INDEX users_test_token_index ON users (test_token);
