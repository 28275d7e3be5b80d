/**
 * A small chat schema with Hasura metadata in its JSON form (roles `user` and `anonymous`), the endpoint on a
 * scratch database, and a GraphQL client over real HTTP.
 */
import pg from 'pg';
import { createDevEndpoint, type DevEndpoint, type DevEndpointOptions } from '../../../src/dev/endpoint.js';
import { createScratchDatabase, type ScratchDatabase } from '../../support/db.js';

export const CHAT_SQL = `
CREATE TABLE users (id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE rooms (id serial PRIMARY KEY, name text NOT NULL UNIQUE, is_public boolean NOT NULL DEFAULT false, settings jsonb NOT NULL DEFAULT '{}');
CREATE TABLE room_members (room_id int NOT NULL REFERENCES rooms(id), user_id text NOT NULL REFERENCES users(id), PRIMARY KEY (room_id, user_id));
CREATE TABLE messages (
  id serial PRIMARY KEY,
  room_id int NOT NULL REFERENCES rooms(id),
  author_id text NOT NULL REFERENCES users(id),
  body text NOT NULL CHECK (length(body) <= 200),
  likes int NOT NULL DEFAULT 0,
  big bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  meta jsonb
);
CREATE SCHEMA chat;
CREATE TABLE chat.notes (id serial PRIMARY KEY, owner text NOT NULL, note_text text NOT NULL, tags jsonb NOT NULL DEFAULT '[]');
INSERT INTO users VALUES ('u1', 'Ann'), ('u2', 'Bob'), ('u3', 'Cy');
INSERT INTO rooms (name, is_public, settings) VALUES ('general', true, '{"theme": "dark", "n": 1}'), ('secret', false, '{"theme": "light"}'), ('bobs', false, '{}');
INSERT INTO room_members VALUES (1, 'u1'), (2, 'u1'), (1, 'u2'), (3, 'u2');
INSERT INTO messages (room_id, author_id, body, likes, big, created_at, meta) VALUES
  (1, 'u1', 'hello all', 3, 9007199254740993, '2030-01-01T00:00:00Z', '{"lang": "en", "tags": ["a"]}'),
  (1, 'u2', 'hi ann', 5, 1, '2030-01-01T00:01:00Z', NULL),
  (2, 'u1', 'note to self', 0, 2, '2030-01-01T00:02:00Z', '{"lang": "de"}'),
  (3, 'u2', 'bob only', 1, 3, '2030-01-01T00:03:00Z', NULL);
INSERT INTO chat.notes (owner, note_text, tags) VALUES ('u1', 'remember milk', '["home"]');
`;

const inRoom = { room: { members: { user_id: { _eq: 'X-Hasura-User-Id' } } } };

export function chatMetadata(): Record<string, unknown> {
  return {
    version: 3,
    sources: [
      {
        name: 'default',
        kind: 'postgres',
        configuration: {},
        tables: [
          {
            table: { schema: 'public', name: 'users' },
            select_permissions: [{ role: 'user', permission: { columns: ['id', 'name'], filter: {} } }],
          },
          {
            table: { schema: 'public', name: 'rooms' },
            array_relationships: [
              { name: 'messages', using: { foreign_key_constraint_on: { table: { schema: 'public', name: 'messages' }, column: 'room_id' } } },
              { name: 'members', using: { foreign_key_constraint_on: { table: { schema: 'public', name: 'room_members' }, column: 'room_id' } } },
            ],
            select_permissions: [
              {
                role: 'user',
                permission: { columns: ['id', 'name', 'is_public', 'settings'], filter: { _or: [{ is_public: { _eq: true } }, { members: { user_id: { _eq: 'X-Hasura-User-Id' } } }] }, allow_aggregations: true },
              },
              { role: 'anonymous', permission: { columns: ['id', 'name'], filter: { is_public: { _eq: true } } } },
            ],
          },
          {
            table: { schema: 'public', name: 'room_members' },
            object_relationships: [
              { name: 'user', using: { foreign_key_constraint_on: 'user_id' } },
              { name: 'room', using: { foreign_key_constraint_on: 'room_id' } },
            ],
            select_permissions: [{ role: 'user', permission: { columns: ['room_id', 'user_id'], filter: { user_id: { _eq: 'X-Hasura-User-Id' } } } }],
          },
          {
            table: { schema: 'public', name: 'messages' },
            object_relationships: [
              { name: 'room', using: { foreign_key_constraint_on: 'room_id' } },
              { name: 'author', using: { foreign_key_constraint_on: 'author_id' } },
            ],
            select_permissions: [
              { role: 'user', permission: { columns: ['id', 'room_id', 'author_id', 'body', 'likes', 'big', 'created_at', 'meta'], filter: inRoom, limit: 100, allow_aggregations: true } },
            ],
            insert_permissions: [{ role: 'user', permission: { check: inRoom, columns: ['room_id', 'body', 'meta'], set: { author_id: 'X-Hasura-User-Id' } } }],
            update_permissions: [{ role: 'user', permission: { columns: ['body', 'likes', 'meta'], filter: { author_id: { _eq: 'X-Hasura-User-Id' } }, check: { body: { _nilike: '%forbidden%' } } } }],
            delete_permissions: [{ role: 'user', permission: { filter: { author_id: { _eq: 'X-Hasura-User-Id' } } } }],
          },
          {
            table: { schema: 'chat', name: 'notes' },
            configuration: { custom_name: 'notes', custom_root_fields: { select: 'allNotes', insert_one: { name: 'addNote' } }, column_config: { note_text: { custom_name: 'text' } } },
            select_permissions: [{ role: 'user', permission: { columns: ['id', 'note_text', 'tags'], filter: { owner: { _eq: 'X-Hasura-User-Id' } } } }],
            insert_permissions: [{ role: 'user', permission: { check: {}, columns: ['note_text', 'tags'], set: { owner: 'X-Hasura-User-Id' } } }],
          },
        ],
      },
    ],
  };
}

export interface GqlResult {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

export interface ChatFixture {
  db: ScratchDatabase;
  endpoint: DevEndpoint;
  url: string;
  pool: pg.Pool;
  gql(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResult>;
  close(): Promise<void>;
}

export async function startChat(label: string, opts: Partial<DevEndpointOptions> = {}, metadata = chatMetadata(), extraSql = ''): Promise<ChatFixture> {
  const db = await createScratchDatabase(label);
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  // The scratch database is dropped WITH (FORCE) at the end: an idle connection it ends belongs to no operation.
  pool.on('error', () => undefined);
  await pool.query(CHAT_SQL + extraSql);
  const endpoint = await createDevEndpoint({ databaseUrl: db.url, metadata, ...opts });
  const { url } = await endpoint.listen();
  return {
    db,
    endpoint,
    url,
    pool,
    async gql(query, variables, headers = {}) {
      const res = await fetch(`${url}/v1/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
      return (await res.json()) as GqlResult;
    },
    async close() {
      await endpoint.close();
      await pool.end();
      await db.drop();
    },
  };
}

export const asUser = (id: string): Record<string, string> => ({ 'x-hasura-role': 'user', 'x-hasura-user-id': id });
