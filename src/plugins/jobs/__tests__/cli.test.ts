/**
 * The app's own jobs: `job create` scaffolds a typed file, boot loads and registers it (with its schedule),
 * a bad file stops the boot naming the file, and `worker` runs jobs in a process of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runCli } from '../../../cli/main.js';
import { packageRoot } from '../../../core/paths.js';
import { BACKENDS, createFixture, waitFor, type Fixture } from './support/fixture.js';
import { loadJobFile, JobFileError } from '../lib/loader.js';
import { defineJobImport, renderJobFile } from '../lib/scaffold.js';
import ts from 'typescript';

const scratchDir = (label: string) => join(packageRoot, '.data', `jobs-test-${label}-${randomBytes(4).toString('hex')}`);

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (l) => out.push(l), err: (l) => err.push(l), cwd: packageRoot, env });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('nself-plugins job create', () => {
  const dir = scratchDir('create');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('scaffolds a typed job file with a schedule in a time zone, which loads as a job definition', async () => {
    const r = await cli(['job', 'create', 'nightly-digest', '--schedule', '0 0 * * *', '--tz', 'Europe/Berlin', '--dir', dir]);
    expect(r).toMatchObject({ code: 0 });
    const file = join(dir, 'nightly-digest.ts');
    expect(r.out).toContain(file);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(`schedule: { cron: "0 0 * * *", tz: "Europe/Berlin" }`);
    expect(text).toContain(`queue: "scheduled"`);
    const [def] = await loadJobFile(file);
    expect(def).toMatchObject({ name: 'nightly-digest', queue: 'scheduled', schedule: { cron: '0 0 * * *', tz: 'Europe/Berlin' } });
  });

  it('refuses bad names, cron expressions, time zones and existing files, writing nothing', async () => {
    expect((await cli(['job', 'create', 'existing-one', '--dir', dir])).code).toBe(0);
    const before = readFileSync(join(dir, 'existing-one.ts'), 'utf8');
    const cases: [string[], RegExp][] = [
      [['job', 'create', 'bad name!', '--dir', dir], /job name/],
      [['job', 'create', 'x1', '--schedule', 'every day', '--dir', dir], /invalid cron expression/],
      [['job', 'create', 'x2', '--schedule', '0 0 * * *', '--tz', 'Mars/Base', '--dir', dir], /unknown time zone "Mars\/Base"/],
      [['job', 'create', 'x3', '--tz', 'UTC', '--dir', dir], /--tz needs --schedule/],
      [['job', 'create', 'existing-one', '--schedule', '* * * * *', '--dir', dir], /already exists/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(message);
    }
    expect(() => readFileSync(join(dir, 'x1.ts'))).toThrow();
    expect(readFileSync(join(dir, 'existing-one.ts'), 'utf8')).toBe(before);
  });
});

describe('job files written for any text', () => {
  const dir = scratchDir('hostile');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const hostile = [
    '*/5 * * * *',
    'ends the comment */ and opens /* another',
    '`${process.exit(1)}` backticks and ${template}',
    '"double" \'single\' \\ backslash \\" escaped quote',
    'line one\nline two\r\n// a comment */ export default 1; /*',
    'separators \u2028 and \u2029 inside',
    'nul \u0000 and bell \u0007 and del \u007f',
    'lone \ud800 and \udfff surrogates',
    'unicode: Grüße 日本語 💥 \u00a0 \ufeff',
    '*/',
    '*',
    '\\',
  ];

  /** Syntax errors TypeScript finds in `text`. */
  function syntaxErrors(text: string): string[] {
    const out = ts.transpileModule(text, { reportDiagnostics: true, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    return (out.diagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  }

  it.each(hostile.map((h, i) => [i, h] as [number, string]))('compiles and loads with hostile text #%i in the schedule, time zone and description', async (i, text) => {
    const source = renderJobFile({
      name: `hostile-${i}`,
      queue: 'scheduled',
      schedule: text,
      tz: text,
      description: text,
      importFrom: defineJobImport(dir),
    });
    expect(syntaxErrors(source)).toEqual([]);
    // Nothing of the text escaped into code: the module exports exactly the definition, with the text intact.
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `hostile-${i}.ts`);
    writeFileSync(file, source);
    const [def] = await loadJobFile(file);
    expect(def!.name).toBe(`hostile-${i}`);
    expect(def!.description).toBe(text);
    expect(def!.schedule).toEqual({ cron: text, tz: text });
    // The doc comment is one line that ends where the file's own comment ends.
    expect(source.split('\n')[3]).toMatch(/^\/\*\* hostile-\d+: [^\n]* \*\/$/);
    expect(source.split('\n')[3]!.slice(0, -3)).not.toContain('*/');
  });

  it('writes a file that loads for an everyday step schedule and a description, through the CLI', async () => {
    const r = await cli(['job', 'create', 'every-five', '--schedule', '*/5 * * * *', '--description', 'Sends */digests/* every "five" minutes', '--dir', dir]);
    expect(r).toMatchObject({ code: 0 });
    const file = join(dir, 'every-five.ts');
    expect(syntaxErrors(readFileSync(file, 'utf8'))).toEqual([]);
    const [def] = await loadJobFile(file);
    expect(def).toMatchObject({ name: 'every-five', queue: 'scheduled', description: 'Sends */digests/* every "five" minutes', schedule: { cron: '*/5 * * * *', tz: 'UTC' } });
    const bad = await cli(['job', 'create', 'nul-desc', '--description', 'a\u0000b', '--dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--description must be at most 500 characters of text/);
  });
});

describe.each(BACKENDS)('app job files on %s', (backend) => {
  const dir = scratchDir(backend);
  let f: Fixture;

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    expect((await cli(['job', 'create', 'say-hello', '--dir', dir])).code).toBe(0);
    expect((await cli(['job', 'create', 'weekly-report', '--schedule', '30 8 * * 1', '--tz', 'America/New_York', '--dir', dir])).code).toBe(0);
    // The scaffold's handler, made observable: it records its data in the database.
    const hello = join(dir, 'say-hello.ts');
    writeFileSync(
      hello,
      readFileSync(hello, 'utf8')
        .replace('data: z.object({})', 'data: z.object({ who: z.string() })')
        .replace(/ctx\.log\.info\(.*\);/, "await ctx.db.query('INSERT INTO hello_log (who, job_id) VALUES ($1, $2)', [data.who, ctx.job.id]);"),
    );
    f = await createFixture(backend, 14, { jobsDir: dir });
    await f.db.query('CREATE TABLE hello_log (who text, job_id text)');
  });
  afterAll(async () => {
    await f?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers the files at boot and restores their schedules', async () => {
    expect(f.jobs.registry.all().map((j) => [j.def.name, j.plugin, j.source]).sort()).toEqual([
      ['say-hello', null, join(dir, 'say-hello.ts')],
      ['weekly-report', null, join(dir, 'weekly-report.ts')],
    ]);
    await f.jobs.applyCodeSchedules();
    const schedules = await f.jobs.schedules();
    expect(schedules).toEqual([expect.objectContaining({ id: 'weekly-report@code', name: 'weekly-report', queue: 'scheduled', cron: '30 8 * * 1', timezone: 'America/New_York', fromCode: true })]);
  });

  const workerEnv = () => ({
    PATH: process.env.PATH,
    DATABASE_URL: f.databaseUrl,
    ...(f.redisUrl ? { REDIS_URL: f.redisUrl } : {}),
    PLUGINS_ENABLED: 'jobs',
    JOBS_DIR: dir,
    DATA_DIR: join(dir, '.data'),
    NSELF_PLUGINS_WEBHOOK_SECRET: 'a-webhook-secret-for-tests',
    LOG_LEVEL: 'warn',
  });

  it('runs them in a separate `nself-plugins worker` process that stops gracefully on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(packageRoot, 'src', 'cli', 'main.ts'), 'worker', '--queues', 'default', '--concurrency', '4'], {
      cwd: packageRoot,
      env: workerEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor(() => out.includes('working on default'), 60_000, `worker to start; output: ${out}`);
    const job = await f.jobs.enqueue('say-hello', { who: 'worker process' });
    await waitFor(async () => (await f.db.query('SELECT 1 FROM hello_log WHERE job_id = $1', [job.id])).rowCount === 1, 20_000, 'the job to run');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((await f.jobs.get('default', job.id))?.state).toBe('completed');
  }, 90_000);

  it('refuses to start a worker on an unknown queue', async () => {
    const r = await cli(['worker', '--queues', 'default,nowhere'], workerEnv());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown queue nowhere; known queues: default, high-priority, low-priority, scheduled/);
  });
});

describe('a bad job file', () => {
  const dir = scratchDir('bad');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['broken.ts', 'export default defineJob({ name: ', /broken\.ts: could not be loaded/],
    ['nodefault.ts', 'export const x = 1;\n', /nodefault\.ts: has no default export/],
    ['notajob.ts', 'export default { name: "x" };\n', /notajob\.ts: default export is not a job definition/],
  ])('%s stops the boot with an error naming the file', async (file, text, message) => {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, file);
    writeFileSync(path, text);
    const e = await loadJobFile(path).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(JobFileError);
    expect((e as Error).message).toMatch(message);
    expect((e as Error).message).toContain(path);
  });

  it('two files defining one job name are refused naming both', async () => {
    const d = scratchDir('dup');
    mkdirSync(d, { recursive: true });
    try {
      expect((await cli(['job', 'create', 'twice', '--dir', d])).code).toBe(0);
      writeFileSync(join(d, 'again.ts'), readFileSync(join(d, 'twice.ts'), 'utf8'));
      const e = await createFixture('postgres', 0, { jobsDir: d }).catch((err: unknown) => err);
      expect((e as Error).message).toMatch(/again\.ts: job "twice" is already defined by .*twice\.ts|twice\.ts: job "twice" is already defined by .*again\.ts/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
