DROP TABLE IF EXISTS oauth.sign_in;
DROP TABLE IF EXISTS oauth.refresh_token;
DROP TABLE IF EXISTS oauth.login_code;
DROP TABLE IF EXISTS oauth.flow;
DROP TABLE IF EXISTS oauth.identity;
DROP TABLE IF EXISTS oauth."user";
-- Only when nothing else lives there (no CASCADE: never drop what this migration did not create).
DROP SCHEMA IF EXISTS oauth;
