/**
 * `nself-plugins dev --project`: the user's own Hasura project (its tables, permissions, event triggers and
 * migrations) served together with the enabled plugins, composed in memory without touching the project.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { emptyProjectFiles } from '../../src/hasura/project.js';
import { applyProjectMigrations } from '../../src/dev/project.js';
import { startDev, type DevServer } from '../../src/dev/start.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';

let db: ScratchDatabase;
let dev: DevServer;
let dir: string;
let project: string;

function write(rel: string, text: string) {
  mkdirSync(dirname(join(project, rel)), { recursive: true });
  writeFileSync(join(project, rel), text);
}

beforeAll(async () => {
  db = await createScratchDatabase('dev_project');
  dir = mkdtempSync(join(tmpdir(), 'nself-dev-project-'));
  project = join(dir, 'hasura');
  for (const [rel, text] of emptyProjectFiles()) write(rel, text);
  write('metadata/databases/databases.yaml', '- name: default\n  kind: postgres\n  configuration:\n    connection_info:\n      database_url:\n        from_env: HASURA_GRAPHQL_DATABASE_URL\n  tables: "!include default/tables/tables.yaml"\n');
  write('metadata/databases/default/tables/tables.yaml', '- "!include public_todos.yaml"\n');
  write(
    'metadata/databases/default/tables/public_todos.yaml',
    [
      'table: {name: todos, schema: public}',
      'select_permissions:',
      '  - role: user',
      '    permission: {columns: [id, title, done], filter: {owner: {_eq: X-Hasura-User-Id}}}',
      'insert_permissions:',
      '  - role: user',
      '    permission: {columns: [title], check: {}, set: {owner: x-hasura-user-id}}',
      '',
    ].join('\n'),
  );
  write('migrations/default/1700000000000_todos/up.sql', `CREATE TABLE todos (id serial PRIMARY KEY, owner text NOT NULL, title text NOT NULL, done boolean NOT NULL DEFAULT false);\nINSERT INTO todos (owner, title) VALUES ('u1', 'mine'), ('u2', 'theirs');\n`);
  write('migrations/default/1700000000000_todos/down.sql', 'DROP TABLE todos;\n');
  dev = await startDev(
    { DATABASE_URL: db.url, DATA_DIR: join(dir, 'data'), PLUGINS_ENABLED: 'core' },
    { port: 0, host: '127.0.0.1', projectDir: project, log: pino({ level: 'silent' }) },
  );
});
afterAll(async () => {
  await dev?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function gql(query: string, headers: Record<string, string> = {}) {
  const res = await fetch(dev.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
  return (await res.json()) as { data?: any; errors?: any[] };
}

describe('--project', () => {
  it('serves the project tables with their permissions next to the plugins', async () => {
    const mine = await gql(`{ todos { title } }`, { 'x-hasura-role': 'user', 'x-hasura-user-id': 'u1' });
    expect(mine).toEqual({ data: { todos: [{ title: 'mine' }] } });
    const added = await gql(`mutation { insert_todos_one(object: {title: "new"}) { title done } }`, { 'x-hasura-role': 'user', 'x-hasura-user-id': 'u2' });
    expect(added).toEqual({ data: { insert_todos_one: { title: 'new', done: false } } });
    const plugin = await gql(`{ coreVersion { plugins { name } } }`);
    expect(plugin.data.coreVersion.plugins).toEqual([{ name: 'core' }]);
  });

  it('applies the project migrations once and leaves the project files untouched', async () => {
    expect(readFileSync(join(project, 'metadata/actions.yaml'), 'utf8')).toBe(emptyProjectFiles().get('metadata/actions.yaml'));
    expect(await applyProjectMigrations(db.url, project)).toEqual([]);
  });
});
