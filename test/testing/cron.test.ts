/**
 * Cron trigger fidelity: the scheduled-event payload of reference/hasura.md §3.1, the cron retry_conf key names,
 * tolerance, Retry-After, and a clock that fires every occurrence of the UTC schedules in order.
 */
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';
import { createHasuraHarness, type HasuraHarness } from '../../src/testing/index.js';
import { RecordingServer } from './support/recorder.js';
import { createFixtureSchema, FIXTURE_METADATA } from './support/schema.js';

/** The example in reference/hasura.md §3.1. */
const HASURA_EXAMPLE = { id: 'b918cd10-8853-4e66-91b8-81b5cd16e44b', name: 'eod_reports', scheduled_time: '2024-05-01T22:00:00Z', payload: { key1: 'value1' }, comment: 'daily report' };

let db: ScratchDatabase;
let rec: RecordingServer;
let h: HasuraHarness;

beforeAll(async () => {
  db = await createScratchDatabase('harness_cron');
  await createFixtureSchema(db.url);
  rec = await RecordingServer.start();
  h = await createHasuraHarness({
    databaseUrl: db.url,
    metadataDir: FIXTURE_METADATA,
    handlerBaseUrl: rec.url,
    env: { HOOK_SECRET: 's3cret', MANUAL_HOOK_URL: 'http://127.0.0.1:1' },
  });
});

afterAll(async () => {
  await h?.close();
  await rec?.close();
  await db?.drop();
});

beforeEach(() => rec.reset());

const FIVE_MIN = 5 * 60_000;
const DAY = 24 * 3600_000;

describe('payload', () => {
  it('has the key set and types of Hasura\'s example, the configured payload and comment, and Hasura\'s headers', async () => {
    const at = new Date(Date.UTC(2030, 0, 1, 2, 0, 0));
    h.clock.advanceTo(new Date(at.getTime() + 1_000));
    const fired = await h.fireCron('nightly_digest', { scheduledTime: at });
    expect(fired).toMatchObject({ name: 'nightly_digest', status: 'delivered', tries: 1 });
    const [req] = rec.to('/cron/nightly_digest');
    expect(Object.keys(req!.body).sort()).toEqual(Object.keys(HASURA_EXAMPLE).sort());
    for (const k of Object.keys(HASURA_EXAMPLE) as (keyof typeof HASURA_EXAMPLE)[]) expect(typeof req!.body[k]).toBe(typeof HASURA_EXAMPLE[k]);
    expect(req!.body).toEqual({ id: fired.id, name: 'nightly_digest', scheduled_time: '2030-01-01T02:00:00Z', payload: { kind: 'digest' }, comment: 'nightly digest' });
    expect(req!.rawBody).toBe(JSON.stringify({ comment: 'nightly digest', id: fired.id, name: 'nightly_digest', payload: { kind: 'digest' }, scheduled_time: '2030-01-01T02:00:00Z' }));
    expect(req!.headers['x-nself-plugins-secret']).toBe('s3cret');
    expect(req!.headers['user-agent']).toMatch(/^hasura-graphql-engine\/v\d/);
    expect(req!.headers['content-type']).toBe('application/json');
    const inv = await h.pool.query(`SELECT status, request, response FROM hdb_catalog.hdb_cron_event_invocation_logs WHERE event_id = $1`, [fired.id]);
    expect(inv.rows[0]).toMatchObject({ status: 200, request: { version: '1', payload: req!.body }, response: { type: 'webhook_response', version: '1' } });
  });

  it('without payload or comment: payload null and no comment key', async () => {
    const fired = await h.fireCron('every_five');
    const [req] = rec.to('/cron/every_five');
    expect(req!.body).toEqual({ id: fired.id, name: 'every_five', scheduled_time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/), payload: null });
    expect('comment' in req!.body).toBe(false);
  });

  it('unknown cron names are Hasura\'s not-exists error', async () => {
    await expect(h.fireCron('nope')).rejects.toThrow('cron trigger with name: nope does not exist');
  });
});

describe('retries and tolerance (retry_conf: num_retries, retry_interval_seconds, timeout_seconds, tolerance_seconds)', () => {
  it('retries after retry_interval_seconds, then marks error after num_retries + 1 attempts', async () => {
    rec.respond('/cron/nightly_digest', () => ({ status: 500 }));
    const first = await h.fireCron('nightly_digest');
    expect(first).toMatchObject({ status: 'scheduled', tries: 1 });
    const wait = first.nextRetryAt!.getTime() - h.clock.now().getTime();
    expect(wait).toBeGreaterThan(29_000);
    expect(wait).toBeLessThanOrEqual(30_000);
    await h.drain({ fastForward: true });
    const reqs = rec.to('/cron/nightly_digest');
    expect(reqs).toHaveLength(2);
    expect(reqs[1]!.body.id).toBe(first.id);
    const r = await h.pool.query(`SELECT status, tries FROM hdb_catalog.hdb_cron_events WHERE id = $1`, [first.id]);
    expect(r.rows[0]).toEqual({ status: 'error', tries: 2 });
  });

  it('Retry-After forces retries beyond num_retries', async () => {
    rec.script('/cron/nightly_digest', { status: 503, headers: { 'Retry-After': '2' } }, { status: 503, headers: { 'Retry-After': '2' } }, { status: 503, headers: { 'Retry-After': '2' } }, { status: 200 });
    const first = await h.fireCron('nightly_digest');
    expect(first.nextRetryAt!.getTime() - h.clock.now().getTime()).toBeLessThanOrEqual(2_000);
    await h.drain({ fastForward: true });
    expect(rec.to('/cron/nightly_digest')).toHaveLength(4);
    const r = await h.pool.query(`SELECT status, tries FROM hdb_catalog.hdb_cron_events WHERE id = $1`, [first.id]);
    expect(r.rows[0]).toEqual({ status: 'delivered', tries: 4 });
  });

  it('an event found later than tolerance_seconds after its time is dead and never delivered', async () => {
    const fired = await h.fireCron('nightly_digest', { scheduledTime: new Date(h.clock.now().getTime() - 3_601_000) });
    expect(fired.status).toBe('dead');
    expect(rec.to('/cron/nightly_digest')).toHaveLength(0);
    // every_five keeps the default tolerance of six hours
    expect((await h.fireCron('every_five', { scheduledTime: new Date(h.clock.now().getTime() - 5 * 3600_000) })).status).toBe('delivered');
  });
});

describe('schedules and the clock', () => {
  it('computes the next fire times from the five-field schedule in UTC', () => {
    expect(h.nextCronTimes('nightly_digest', 3, new Date('2024-03-09T12:00:00Z')).map((d) => d.toISOString())).toEqual([
      '2024-03-10T02:00:00.000Z',
      '2024-03-11T02:00:00.000Z',
      '2024-03-12T02:00:00.000Z',
    ]);
    expect(h.nextCronTimes('every_five', 2, new Date('2024-01-01T00:05:00Z')).map((d) => d.toISOString())).toEqual(['2024-01-01T00:10:00.000Z', '2024-01-01T00:15:00.000Z']);
  });

  it('advanceClock fires every due occurrence of every cron, in time order, with its own scheduled_time', async () => {
    const start = h.clock.now().getTime();
    const to = new Date(start + DAY + 7 * 60_000);
    const fired = await h.advanceClock(to);
    const fives: number[] = [];
    for (let t = Math.floor(start / FIVE_MIN) * FIVE_MIN + FIVE_MIN; t <= to.getTime(); t += FIVE_MIN) fives.push(t);
    const nightly: number[] = [];
    for (let t = Math.floor(start / DAY) * DAY + 2 * 3600_000; t <= to.getTime(); t += DAY) if (t > start) nightly.push(t);
    expect(rec.to('/cron/every_five').map((r) => Date.parse(r.body.scheduled_time))).toEqual(fives);
    expect(rec.to('/cron/nightly_digest').map((r) => Date.parse(r.body.scheduled_time))).toEqual(nightly);
    const all = rec.requests.map((r) => Date.parse(r.body.scheduled_time));
    expect(all).toEqual([...all].sort((a, b) => a - b));
    expect(fired).toHaveLength(fives.length + nightly.length);
    expect(fired.every((f) => f.status === 'delivered')).toBe(true);
    expect(h.clock.now().getTime()).toBeGreaterThanOrEqual(to.getTime());
  });

  it('the clock never moves backwards', async () => {
    const now = h.clock.now().getTime();
    expect(await h.advanceClock(new Date(now - DAY))).toEqual([]);
    expect(h.clock.now().getTime()).toBeGreaterThanOrEqual(now);
  });
});
