import { createDb, type ClosableDb } from '../../src/core/db.js';
import { recordSkip, runOnce, type ReceiptScope } from '../../src/core/once.js';
import { runMigrations } from '../../src/hasura/migrator.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';

let scratch: ScratchDatabase;
let db: ClosableDb;
const scope: ReceiptScope = { kind: 'event', handler: 'demo_item_created' };

beforeAll(async () => {
  scratch = await createScratchDatabase('once');
  await runMigrations(scratch.url, { plugins: [] });
  db = createDb(scratch.url, { max: 20 });
  await db.query('create table effects (id serial primary key, key text not null)');
});
afterAll(async () => {
  await db?.close();
  await scratch?.drop();
});

const effectCount = async (key: string) => Number((await db.query('select count(*)::int as n from effects where key = $1', [key])).rows[0]!.n);

describe('ctx.once', () => {
  it('runs the effect exactly once under concurrent duplicate deliveries', async () => {
    const key = 'evt-concurrent';
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        runOnce(db, scope, key, async (tx) => {
          await tx.query('insert into effects (key) values ($1)', [key]);
          // Hold the transaction open so the duplicates really overlap with it.
          await tx.query('select pg_sleep(0.05)');
          return 'ran';
        }),
      ),
    );
    expect(results.filter((r) => r.first)).toEqual([{ first: true, value: 'ran' }]);
    expect(results.filter((r) => !r.first)).toHaveLength(19);
    expect(await effectCount(key)).toBe(1);
  });

  it('rolls back effect and receipt together when fn throws, so a redelivery runs again', async () => {
    const key = 'evt-fails-first';
    await expect(
      runOnce(db, scope, key, async (tx) => {
        await tx.query('insert into effects (key) values ($1)', [key]);
        throw new Error('provider down');
      }),
    ).rejects.toThrow('provider down');
    expect(await effectCount(key)).toBe(0);
    expect((await db.query('select 1 from nself_plugins.event_receipt where key = $1', [key])).rowCount).toBe(0);
    const again = await runOnce(db, scope, key, async (tx) => {
      await tx.query('insert into effects (key) values ($1)', [key]);
      return 1;
    });
    expect(again).toEqual({ first: true, value: 1 });
    expect(await effectCount(key)).toBe(1);
  });

  it('lets a waiting duplicate run when the first delivery rolls back', async () => {
    const key = 'evt-first-rolls-back';
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const failing = runOnce(db, scope, key, async () => {
      await gate;
      throw new Error('crash after claiming');
    });
    await new Promise((r) => setTimeout(r, 50));
    const duplicate = runOnce(db, scope, key, async (tx) => {
      await tx.query('insert into effects (key) values ($1)', [key]);
      return 'second';
    });
    await new Promise((r) => setTimeout(r, 50));
    release();
    await expect(failing).rejects.toThrow('crash after claiming');
    await expect(duplicate).resolves.toEqual({ first: true, value: 'second' });
    expect(await effectCount(key)).toBe(1);
  });

  it('scopes keys per handler and kind', async () => {
    const key = 'shared-business-key';
    const a = await runOnce(db, { kind: 'event', handler: 'a' }, key, async () => 'a');
    const b = await runOnce(db, { kind: 'event', handler: 'b' }, key, async () => 'b');
    const c = await runOnce(db, { kind: 'cron', handler: 'a' }, key, async () => 'c');
    expect([a.first, b.first, c.first]).toEqual([true, true, true]);
  });

  it('stores keys with quotes, backslashes and unicode exactly', async () => {
    const key = `it's a \\ back'slash ✓ "quoted" $$ ;--`;
    expect((await runOnce(db, scope, key, async () => 1)).first).toBe(true);
    expect((await runOnce(db, scope, key, async () => 1)).first).toBe(false);
    const row = await db.query('select key from nself_plugins.event_receipt where handler = $1 and key = $2', [scope.handler, key]);
    expect(row.rows[0]?.key).toBe(key);
  });

  it('rejects empty, oversized or NUL-containing keys before touching the database', async () => {
    for (const key of ['', 'x'.repeat(1025), 'a\0b', 42 as unknown as string]) {
      await expect(runOnce(db, scope, key, async () => 1)).rejects.toThrow(TypeError);
    }
  });

  it('records skips without overwriting a done receipt; a skip is upgraded when the effect later runs', async () => {
    await runOnce(db, scope, 'done-key', async () => 1);
    await recordSkip(db, scope, 'done-key', 'late skip');
    await recordSkip(db, scope, 'skip-key', 'not ready\0yet');
    const rows = await db.query("select key, status, reason from nself_plugins.event_receipt where key in ('done-key','skip-key') order by key");
    expect(rows.rows).toEqual([
      { key: 'done-key', status: 'done', reason: null },
      { key: 'skip-key', status: 'skipped', reason: 'not readyyet' },
    ]);
    expect((await runOnce(db, scope, 'skip-key', async () => 'now')).first).toBe(true);
    expect((await runOnce(db, scope, 'skip-key', async () => 'again')).first).toBe(false);
  });

  it('leaves the pool healthy: every client is returned', async () => {
    expect(db.pool.totalCount).toBeGreaterThan(0);
    expect(db.pool.waitingCount).toBe(0);
    expect(db.pool.idleCount).toBe(db.pool.totalCount);
  });
});

describe('prepared claim', () => {
  it('recovers when the prepared statement was deallocated on a pooled connection', async () => {
    const single = createDb(scratch.url, { max: 1 });
    try {
      expect((await runOnce(single, scope, 'dealloc-1', async () => 1)).first).toBe(true);
      await single.query('DEALLOCATE ALL');
      expect((await runOnce(single, scope, 'dealloc-2', async () => 2)).first).toBe(true);
      expect((await runOnce(single, scope, 'dealloc-2', async () => 2)).first).toBe(false);
    } finally {
      await single.close();
    }
  });
});
