-- An app's own user field.
ALTER TABLE users ADD COLUMN display_name VARCHAR NULL;
