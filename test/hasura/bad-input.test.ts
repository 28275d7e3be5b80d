/**
 * Bad input to the installer commands: a clear one-line error, a non-zero exit code, and the project's files
 * exactly as they were.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, copyFixture, diffTrees, hashTree, type TempProject } from './helpers.js';

const temps: TempProject[] = [];
afterAll(() => temps.forEach((t) => t.cleanup()));

function chat(): TempProject {
  const t = copyFixture('chat');
  temps.push(t);
  return t;
}

/** Runs `argv` against a fresh chat project after `mutate`; asserts failure, the message, and no change. */
async function expectRejected(argv: (t: TempProject) => string[], mutate: (t: TempProject) => void, message: string | RegExp) {
  const t = chat();
  mutate(t);
  const before = hashTree(t.root);
  const r = await cli(argv(t));
  expect(r.code).not.toBe(0);
  if (typeof message === 'string') expect(r.err).toContain(message);
  else expect(r.err).toMatch(message);
  expect(r.err.split('\n')[0]).toMatch(/^error: /);
  expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  return r;
}

const installNotes = (t: TempProject) => ['install', 'notes', '--project', t.dir, '--yes'];
const edit = (t: TempProject, rel: string, fn: (s: string) => string) => writeFileSync(join(t.dir, rel), fn(readFileSync(join(t.dir, rel), 'utf8')));

describe('bad input', () => {
  test('corrupt YAML names the file and line', async () => {
    await expectRejected(
      installNotes,
      (t) => edit(t, 'metadata/databases/default/tables/public_users.yaml', (s) => s.replace('  schema: public', '  schema: [public')),
      /metadata\/databases\/default\/tables\/public_users\.yaml: invalid YAML: line \d+/,
    );
    await expectRejected(installNotes, (t) => edit(t, 'metadata/cron_triggers.yaml', () => '- name: a\n\t- bad\n'), 'metadata/cron_triggers.yaml: invalid YAML');
  });

  test('corrupt actions.graphql names the file and position', async () => {
    await expectRejected(installNotes, (t) => edit(t, 'metadata/actions.graphql', (s) => s.replace('type InviteResult {', 'type InviteResult {{')), /metadata\/actions\.graphql: GraphQL syntax error at line \d+, column \d+/);
  });

  test('unknown plugin names', async () => {
    await expectRejected((t) => ['install', 'notes', 'nope', 'zilch', '--project', t.dir, '--yes'], () => {}, 'error: unknown plugins nope, zilch; known plugins: notes, tags, audit');
    await expectRejected(() => ['info', 'nope'], () => {}, 'unknown plugin nope');
    await expectRejected((t) => ['remove', 'nope', '--project', t.dir], () => {}, 'nope is not a known plugin');
  });

  test('a folder that is not a Hasura v3 project', async () => {
    await expectRejected(installNotes, (t) => rmSync(join(t.dir, 'config.yaml')), 'is not a Hasura CLI project: config.yaml is missing');
    await expectRejected(installNotes, (t) => edit(t, 'config.yaml', (s) => s.replace('version: 3', 'version: 2')), 'is not a Hasura CLI v3 project: config.yaml must say `version: 3`');
    await expectRejected(installNotes, (t) => rmSync(join(t.dir, 'metadata/version.yaml')), 'metadata/version.yaml is missing');
    await expectRejected(installNotes, (t) => edit(t, 'metadata/databases/databases.yaml', () => 'name: default\n'), 'metadata/databases/databases.yaml: the list of databases must be a list');
    await expectRejected(
      installNotes,
      (t) => rmSync(join(t.dir, 'metadata/databases/default/tables/public_reactions.yaml')),
      'metadata/databases/default/tables/public_reactions.yaml: is missing',
    );
  });

  test('metadata edited by hand with duplicates', async () => {
    await expectRejected(
      installNotes,
      (t) => edit(t, 'metadata/databases/default/tables/tables.yaml', (s) => s + '- "!include public_users.yaml"\n'),
      'table in source default: public.users is defined more than once',
    );
    await expectRejected(
      installNotes,
      (t) => edit(t, 'metadata/cron_triggers.yaml', (s) => s + s),
      'cron trigger purge_deleted_messages is defined more than once',
    );
    await expectRejected(
      installNotes,
      (t) => edit(t, 'metadata/databases/default/tables/public_users.yaml', (s) => s + 'select_permissions: []\n'),
      /public_users\.yaml: invalid YAML: line \d+: Map keys must be unique/,
    );
    await expectRejected(
      installNotes,
      (t) => edit(t, 'metadata/actions.graphql', (s) => s + '\ntype MessageHit {\n  id: uuid!\n}\n'),
      'metadata/actions.graphql: type MessageHit is defined twice',
    );
    await expectRejected(
      installNotes,
      (t) => edit(t, 'metadata/actions.yaml', (s) => s.replace('    - name: MessageFilter\n', '    - name: MessageFilter\n    - name: MessageFilter\n')),
      'custom type MessageFilter is listed more than once',
    );
  });

  test('actions.yaml and actions.graphql that disagree', async () => {
    await expectRejected(installNotes, (t) => edit(t, 'metadata/actions.yaml', (s) => s.replace('name: searchMessages', 'name: searchMessagez')), 'action searchMessagez has no field in metadata/actions.graphql');
  });

  test('an include pointing nowhere', async () => {
    await expectRejected(installNotes, (t) => edit(t, 'metadata/databases/default/tables/tables.yaml', (s) => s + '- "!include public_ghost.yaml"\n'), 'public_ghost.yaml: is missing');
  });

  test('a folder where a file must be written is refused before anything is written', async () => {
    await expectRejected(
      installNotes,
      (t) => {
        mkdirSync(join(t.dir, 'metadata/databases/default/tables/notes_notes.yaml'));
        writeFileSync(join(t.dir, 'metadata/databases/default/tables/notes_notes.yaml/keep'), 'x');
      },
      /notes_notes\.yaml is a folder, where a file must be written/,
    );
  });

  test('a file where a folder must be created fails while writing temporaries; nothing is left behind', async () => {
    await expectRejected(
      installNotes,
      (t) => {
        rmSync(join(t.dir, 'migrations/default'), { recursive: true });
        writeFileSync(join(t.dir, 'migrations/default'), 'not a folder');
      },
      /error: /,
    );
  });

  test('remove and apply on a broken project', async () => {
    await expectRejected((t) => ['remove', 'notes', '--project', t.dir], (t) => edit(t, 'metadata/actions.yaml', () => 'actions: [\n'), 'metadata/actions.yaml: invalid YAML');
    await expectRejected((t) => ['install', 'notes', '--project', join(t.dir, 'metadata'), '--yes'], () => {}, 'is not a Hasura CLI project');
  });

  test('bad option values', async () => {
    await expectRejected((t) => ['install', 'notes', '--project', t.dir, '--yes', '--features', 'warp'], () => {}, 'unknown feature warp');
    await expectRejected((t) => ['apply', '--endpoint', 'http://127.0.0.1:1', '--max-attempts', '0', '--project', t.dir], () => {}, /unknown option|--max-attempts must be/);
  });
});
