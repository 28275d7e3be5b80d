/**
 * Two `nself-plugins install` (then `remove`) processes on one project at the same moment: each must see
 * the other's result, or one plugin's record in nself-plugins.json is lost (and with it, on remove, the
 * foundation migrations or the plugin's own).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../src/core/paths.js';
import { openProject } from '../../src/hasura/project.js';
import { markedPlugins } from '../../src/hasura/merge.js';
import { PROJECT_LOCK_FILE } from '../../src/hasura/project-lock.js';
import { catalogModule, copyFixture, fixturesDir, diffTrees, hashTree, type TempProject } from '../hasura/helpers.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';

const script = join(dirname(fileURLToPath(import.meta.url)), 'support', 'cli-at-barrier.ts');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Starts one CLI process per argv (in the package, where tsx resolves), lets them all load, then releases them at once. */
async function together(scratch: string, argvs: string[][]): Promise<Run[]> {
  const barrier = join(scratch, `.go-${Math.random().toString(36).slice(2)}`);
  const runs = argvs.map(
    (argv) =>
      new Promise<Run>((done, fail) => {
        const c = spawn(process.execPath, ['--import', 'tsx', script, ...argv], {
          cwd: packageRoot,
          env: { ...process.env, NODE_OPTIONS: '', NSELF_PLUGINS_CATALOG: catalogModule, BARRIER: barrier },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.once('error', fail);
        c.once('close', (code) => done({ code, out, err }));
      }),
  );
  await new Promise((r) => setTimeout(r, 2500));
  writeFileSync(barrier, '');
  try {
    return await Promise.all(runs);
  } finally {
    rmSync(barrier, { force: true });
  }
}

/**
 * A project the size of a large app (hundreds of tracked tables), so that reading and planning take long
 * enough for two commands started together to overlap every time.
 */
function grow(t: TempProject, tables: number): void {
  const dir = join(t.dir, 'metadata/databases/default/tables');
  const list = join(dir, 'tables.yaml');
  let includes = '';
  for (let i = 0; i < tables; i++) {
    const name = `app_table_${String(i).padStart(4, '0')}`;
    const perms = ['user', 'editor', 'viewer']
      .map((role) => `  - role: ${role}\n    permission:\n      columns: [id, owner_id, body, created_at]\n      filter: { owner_id: { _eq: X-Hasura-User-Id } }\n`)
      .join('');
    writeFileSync(join(dir, `public_${name}.yaml`), `table:\n  name: ${name}\n  schema: public\nselect_permissions:\n${perms}`);
    includes += `- "!include public_${name}.yaml"\n`;
  }
  writeFileSync(list, readFileSync(list, 'utf8') + includes);
}

describe('concurrent install and remove on one project', () => {
  let db: ScratchDatabase;
  let t: TempProject;
  beforeAll(async () => {
    db = await createScratchDatabase('concurrent_install');
    t = copyFixture('chat');
    grow(t, 600);
  });
  afterAll(async () => {
    t.cleanup();
    await db.drop();
  });

  it('records both plugins, and both can be removed, leaving the project as it was', async () => {
    const before = hashTree(t.root);
    const installs = await together(t.root, [
      ['install', 'notes', '--project', t.dir, '--yes'],
      ['install', 'audit', '--project', t.dir, '--yes'],
    ]);
    expect(installs.map((r) => [r.code, r.err])).toEqual([
      [0, 'set these required settings in .env before starting: NOTES_API_KEY\n'],
      [0, ''],
    ]);
    expect(installs[0]!.out).toContain('installed notes@1.2.0');
    expect(installs[1]!.out).toContain('installed audit@2.0.0');

    const state = JSON.parse(readFileSync(join(t.dir, 'nself-plugins.json'), 'utf8')) as {
      plugins: Record<string, { migrations: string[] }>;
      foundation: { migrations: string[] };
    };
    expect(Object.keys(state.plugins).sort()).toEqual(['audit', 'notes']);
    // One foundation migration, every folder recorded once, with its own version.
    const own = new Set(readdirSync(join(fixturesDir, 'projects/chat/migrations/default')));
    const folders = readdirSync(join(t.dir, 'migrations/default')).filter((f) => !own.has(f)).sort();
    expect(folders.filter((f) => f.endsWith('_nself_plugins_init'))).toHaveLength(1);
    expect([...state.foundation.migrations, ...state.plugins.notes!.migrations, ...state.plugins.audit!.migrations].sort()).toEqual(folders);
    expect(new Set(folders.map((f) => f.split('_')[0])).size).toBe(folders.length);
    const metadata = openProject(t.dir).metadata;
    expect([...markedPlugins(metadata).keys()]).toEqual(['notes']); // audit has nothing that carries a marker
    expect(metadata.sources[0]!.tables.map((x) => `${x.table.schema}.${x.table.name}`)).toEqual(expect.arrayContaining(['notes.notes', 'audit.entries']));
    const env = readFileSync(join(t.root, '.env'), 'utf8');
    expect(env.match(/^NSELF_PLUGINS_WEBHOOK_SECRET=/gm)).toHaveLength(1);
    expect(existsSync(join(t.dir, PROJECT_LOCK_FILE))).toBe(false);

    const removes = await together(t.root, [
      ['remove', 'notes', '--project', t.dir, '--database-url', db.url],
      ['remove', 'audit', '--project', t.dir, '--database-url', db.url],
    ]);
    expect(removes.map((r) => [r.code, r.err.replace(/.*(ExperimentalWarning|--trace-warnings).*\n?/g, '')])).toEqual([
      [0, ''],
      [0, ''],
    ]);
    expect(diffTrees(before, hashTree(t.root))).toEqual([]);
  }, 300_000);
});
