DROP TABLE IF EXISTS webhooks.incoming_message;
DROP TABLE IF EXISTS webhooks.incoming;
DROP TABLE IF EXISTS webhooks.attempt;
DROP TABLE IF EXISTS webhooks.delivery;
DROP TABLE IF EXISTS webhooks.message;
DROP TABLE IF EXISTS webhooks.endpoint_secret;
DROP TABLE IF EXISTS webhooks.endpoint;
DROP TABLE IF EXISTS webhooks.event_type;
-- Only when nothing else lives there (no CASCADE: never drop what this migration did not create).
DROP SCHEMA IF EXISTS webhooks;
