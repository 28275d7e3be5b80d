DROP TABLE IF EXISTS realtime.signal;
DROP TABLE IF EXISTS realtime.call_participant;
DROP TABLE IF EXISTS realtime.call;
DROP TABLE IF EXISTS realtime.rate_limit;
DROP TABLE IF EXISTS realtime.event;
DROP VIEW IF EXISTS realtime.active_typing;
DROP TABLE IF EXISTS realtime.typing;
DROP VIEW IF EXISTS realtime.user_presence;
DROP TABLE IF EXISTS realtime.presence;
DROP TABLE IF EXISTS realtime.room_member;
DROP TABLE IF EXISTS realtime.room;
-- Only when nothing else lives there (no CASCADE: never drop what this migration did not create).
DROP SCHEMA IF EXISTS realtime;
