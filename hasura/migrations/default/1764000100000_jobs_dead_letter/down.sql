DROP TABLE IF EXISTS jobs.dead_letter;
-- Only when nothing else lives there (no CASCADE: never drop what this migration did not create).
DROP SCHEMA IF EXISTS jobs;
