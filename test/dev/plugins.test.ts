/**
 * `nself-plugins dev` end to end with the suite's own plugins: the handler server and /v1/graphql on one port,
 * the composed metadata of the enabled plugins, and the core and jobs plugins' documented operations (their
 * READMEs) through the endpoint — actions, the tracked tables, an event trigger and a subscription.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startDev, type DevServer } from '../../src/dev/start.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';

const ADMIN = 'dev-admin-secret';
let db: ScratchDatabase;
let dev: DevServer;
let dataDir: string;

beforeAll(async () => {
  db = await createScratchDatabase('dev_plugins');
  dataDir = mkdtempSync(join(tmpdir(), 'nself-dev-'));
  dev = await startDev(
    {
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      PLUGINS_ENABLED: 'core,jobs',
      JOBS_DIR: join(dataDir, 'no-jobs'),
      HASURA_GRAPHQL_ADMIN_SECRET: ADMIN,
      HASURA_GRAPHQL_LIVE_QUERIES_MULTIPLEXED_REFETCH_INTERVAL: '50',
      HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL: '50',
    },
    { port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) },
  );
});
afterAll(async () => {
  await dev?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function gql(query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(dev.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': ADMIN, ...headers }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: any; errors?: { message: string; extensions?: any }[] };
}
const user = (id: string) => ({ 'x-hasura-role': 'user', 'x-hasura-user-id': id });
const service = { 'x-hasura-role': 'service' };

describe('nself-plugins dev', () => {
  it('serves the handler server and /v1/graphql on one port, and prints a working example request', async () => {
    expect(new URL(dev.graphqlUrl).port).toBe(new URL(dev.url).port);
    expect((await fetch(`${dev.url}/healthz`)).status).toBe(200);
    expect(dev.banner.join('\n')).toContain('DEVELOPMENT stand-in for Hasura');
    const curl = dev.banner.find((l) => l.includes('curl'))!;
    expect(curl).toContain('x-hasura-admin-secret: $HASURA_GRAPHQL_ADMIN_SECRET');
    const body = /-d '(.+)'$/.exec(curl)![1]!;
    const res = await fetch(dev.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': ADMIN }, body });
    const r = (await res.json()) as any;
    expect(r.data.coreVersion.plugins.map((p: { name: string }) => p.name)).toEqual(['core', 'jobs']);
  });

  it('runs the core plugin: coreVersion, coreSelfTest, its event trigger and the subscription on the run', async () => {
    const v = await gql(`query { coreVersion { version plugins { name version } engines { database queue } } }`, undefined, user('u1'));
    expect(v.data.coreVersion.engines).toEqual({ database: 'postgresql', queue: 'bullmq-postgres' });
    const run = await gql(`mutation { coreSelfTest(note: "after deploy") { id createdAt } }`, undefined, user('u1'));
    const id = run.data.coreSelfTest.id;
    const client = createClient({ url: dev.graphqlUrl.replace('http', 'ws'), webSocketImpl: WebSocket, connectionParams: { headers: { 'x-hasura-admin-secret': ADMIN, ...user('u1') } }, retryAttempts: 0 });
    try {
      const delivered = await new Promise<any>((resolve, reject) => {
        const stop = client.subscribe(
          { query: `subscription ($id: uuid!) { core_selftest_runs_by_pk(id: $id) { id note created_at delivered_at } }`, variables: { id } },
          {
            next: (r: any) => {
              if (r.data?.core_selftest_runs_by_pk?.delivered_at) {
                stop();
                resolve(r.data.core_selftest_runs_by_pk);
              }
            },
            error: reject,
            complete: () => undefined,
          },
        );
        setTimeout(() => reject(new Error('the self-test run was not delivered')), 15_000).unref();
      });
      expect(delivered).toMatchObject({ id, note: 'after deploy' });
    } finally {
      await client.dispose();
    }
    const other = await gql(`query ($id: uuid!) { core_selftest_runs_by_pk(id: $id) { id } }`, { id }, user('u2'));
    expect(other.data.core_selftest_runs_by_pk).toBeNull();
    const tooLong = await gql(`mutation ($n: String) { coreSelfTest(note: $n) { id } }`, { n: 'x'.repeat(501) }, user('u1'));
    expect(tooLong.errors![0]!.extensions).toMatchObject({ code: 'core/note-too-long' });
    const anon = await gql(`mutation { coreSelfTest { id } }`, undefined, { 'x-hasura-role': 'nobody' });
    // A role with no mutation at all has no mutation root, as in Hasura.
    expect(anon.errors![0]).toMatchObject({ message: 'no mutations exist', extensions: { code: 'validation-failed' } });
  });

  it('runs the jobs plugin operations documented in its README as the service role', async () => {
    const stats = await gql(`query Stats { jobsStats { queue paused waiting active delayed prioritized completed failed waitingChildren } }`, undefined, service);
    expect(stats.data.jobsStats.map((s: { queue: string }) => s.queue)).toEqual(expect.arrayContaining(['default', 'high-priority', 'low-priority', 'scheduled']));
    const paused = await gql(`mutation { jobsPauseQueue(queue: "low-priority") { paused waiting } }`, undefined, service);
    expect(paused.data.jobsPauseQueue.paused).toBe(true);
    const resumed = await gql(`mutation { jobsResumeQueue(queue: "low-priority") { paused } }`, undefined, service);
    expect(resumed.data.jobsResumeQueue).toEqual({ paused: false });
    const unknown = await gql(`mutation { jobsEnqueue(name: "no.such.job", data: {}) { id } }`, undefined, service);
    expect(unknown.errors![0]!.extensions).toMatchObject({ code: 'jobs/unknown-job' });
    const list = await gql(`query Failed($cursor: String) { jobsList(queue: "default", state: failed, limit: 20, cursor: $cursor) { items { id name failedReason } nextCursor } }`, {}, service);
    expect(list.data.jobsList).toEqual({ items: [], nextCursor: null });
    const dead = await gql(`query DeadLetters { jobs_dead_letter(order_by: { failed_at: desc }, limit: 50) { queue job_id name failed_reason attempts_made stacktrace data failed_at redriven_at } }`, undefined, service);
    expect(dead.data.jobs_dead_letter).toEqual([]);
    const drain = await gql(`mutation { jobsDrainQueue(queue: "low-priority", delayed: true) { removed } }`, undefined, service);
    expect(drain.errors![0]).toMatchObject({ message: `field "jobsDrainQueue" not found in type: 'mutation_root'` });
    const adminDrain = await gql(`mutation { jobsDrainQueue(queue: "low-priority", delayed: true) { removed } }`);
    expect(adminDrain.data.jobsDrainQueue).toEqual({ removed: expect.any(Number) });
    const userDead = await gql(`{ jobs_dead_letter { id } }`, undefined, user('u1'));
    expect(userDead.errors![0]!.extensions).toMatchObject({ code: 'validation-failed' });
  });
});
