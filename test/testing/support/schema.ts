/** The tables the fixture metadata (test/fixtures/harness-metadata) tracks: a small chat app. */
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const FIXTURE_METADATA = fileURLToPath(new URL('../../fixtures/harness-metadata', import.meta.url));

export const FIXTURE_SQL = `
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text, settings json);
CREATE TABLE rooms (id serial PRIMARY KEY, name text NOT NULL, owner_id int REFERENCES users (id), is_public boolean NOT NULL DEFAULT false);
CREATE TABLE room_members (room_id int NOT NULL REFERENCES rooms (id), user_id int NOT NULL REFERENCES users (id), PRIMARY KEY (room_id, user_id));
CREATE TABLE messages (
  id bigserial PRIMARY KEY,
  room_id int NOT NULL REFERENCES rooms (id),
  author_id int NOT NULL REFERENCES users (id),
  body text NOT NULL,
  meta jsonb,
  edited boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  posted_at timestamp NOT NULL DEFAULT now()
);
CREATE TABLE bans (user_id int PRIMARY KEY);
CREATE TABLE audit (id serial PRIMARY KEY, tags jsonb);
CREATE SCHEMA chat;
CREATE TABLE chat.reactions (id serial PRIMARY KEY, message_id bigint NOT NULL REFERENCES messages (id), emoji text NOT NULL, score numeric, big bigint);
`;

export async function createFixtureSchema(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(FIXTURE_SQL);
  } finally {
    await c.end();
  }
}

export const FIXTURE_ENV = { HOOK_SECRET: 's3cret', MANUAL_HOOK_URL: '' };
