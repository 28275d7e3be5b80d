import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '../../src/cli/main.js';
import { listMigrations } from '../../src/hasura/migrator.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';

async function cli(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), cwd: process.cwd(), env });
  return { code, out, err };
}

describe('nself-plugins migrate', () => {
  let db: ScratchDatabase;
  beforeAll(async () => {
    db = await createScratchDatabase('cli_migrate');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('applies, reports up to date, then reverts everything', async () => {
    const total = (await listMigrations()).length;
    const up = await cli(['migrate'], { DATABASE_URL: db.url });
    expect(up).toMatchObject({ code: 0, err: [] });
    expect(up.out[0]).toBe(`applied ${total} migration(s):`);
    expect(up.out).toHaveLength(total + 1);
    expect(await cli(['migrate'], { DATABASE_URL: db.url })).toMatchObject({ code: 0, out: ['database is up to date'] });
    const down = await cli(['migrate', '--down'], { DATABASE_URL: db.url });
    expect(down.code).toBe(0);
    expect(down.out[0]).toBe(`reverted ${total} migration(s):`);
    expect(await cli(['migrate', '--down'], { DATABASE_URL: db.url })).toMatchObject({ code: 0, out: ['nothing to revert'] });
  });

  it('fails clearly on bad input without touching anything', async () => {
    expect(await cli(['migrate'], {})).toMatchObject({ code: 1, err: [expect.stringMatching(/DATABASE_URL is not set/)] });
    expect(await cli(['migrate', '--to', '1'], { DATABASE_URL: db.url })).toMatchObject({ code: 1, err: [expect.stringMatching(/--to only applies with --down/)] });
    expect(await cli(['migrate', '--plugins', 'Bad-Name'], { DATABASE_URL: db.url })).toMatchObject({ code: 1, err: [expect.stringMatching(/not a plugin name/)] });
    expect(await cli(['migrate', '--down', '--to', 'abc'], { DATABASE_URL: db.url })).toMatchObject({ code: 1, err: [expect.stringMatching(/--to must be a migration version/)] });
    expect(await cli(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' })).toMatchObject({ code: 1, err: [expect.stringMatching(/^error: /)] });
  });
});
