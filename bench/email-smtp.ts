/**
 * Email through the plugin's SMTP transport against raw pooled nodemailer, to the same local smtp-server, in
 * the same run. The plugin path: `emailSend` as Hasura calls it (the action payload into the real dispatcher →
 * checks, one insert that also reads the suppression list, enqueue; 50 requests in flight), then the
 * `email.send` job
 * (claim, send over the pooled transport, mark sent) — timed until the server has accepted every message.
 * Raw: `transporter.sendMail` of the same messages with the same pool (5 connections) and the job queue's
 * concurrency (20). Rounds alternate; medians reported.
 *
 * Run: `npx tsx bench/email-smtp.ts [messages] [rounds]`. BullMQ on Redis database 2 when Redis answers.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { createRuntime } from '../src/core/runtime.js';
import { createServer } from '../src/core/server.js';
import { createScratchDatabase } from '../test/support/db.js';
import { freshRedisDb } from './redis.js';

const SECRET = 'bench-email-secret-0123456789abcdef';
const POOL = 5;
const CONCURRENCY = 20;
const IN_FLIGHT = 50;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;


async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export async function run(opts: { messages?: number; rounds?: number; log?: (l: string) => void } = {}) {
  const say = opts.log ?? ((l: string) => console.log(l));
  const n = opts.messages ?? 1000;
  const rounds = Math.max(1, opts.rounds ?? 3);
  let received = 0;
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _s, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        received++;
        cb();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  const port = (smtp.server.address() as { port: number }).port;
  const db = await createScratchDatabase('bench_email');
  const redisUrl = await freshRedisDb(2);
  const runtime = await createRuntime({
    DATABASE_URL: db.url,
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    NSELF_PLUGINS_WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    JOBS_DIR: '/nonexistent-app-jobs',
    JOBS_DASHBOARD_ENABLED: 'false',
    EMAIL_TRANSPORT: 'smtp',
    EMAIL_SMTP_URL: `smtp://127.0.0.1:${port}`,
    EMAIL_SMTP_POOL_SIZE: String(POOL),
  });
  const server = createServer(runtime);
  await server.listen(0, '127.0.0.1');
  const raw = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, pool: true, maxConnections: POOL, maxMessages: 100, ignoreTLS: true });
  const html = (i: number) => `<p>Hello user ${i},</p><p>your weekly summary is ready. ${'Lorem ipsum dolor sit amet. '.repeat(20)}</p>`;
  const until = async (count: number, start: number) => {
    while (received < count) {
      if (performance.now() - start > 600_000) throw new Error(`only ${received} of ${count} received`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return performance.now() - start;
  };
  try {
    const rawMs: number[] = [];
    const oursMs: number[] = [];
    const rawCpu: number[] = [];
    const oursCpu: number[] = [];
    const cpu = (c: NodeJS.CpuUsage) => (c.user + c.system) / n;
    for (let round = 0; round < rounds; round++) {
      const ids = Array.from({ length: n }, (_, i) => i);
      received = 0;
      let c0 = process.cpuUsage();
      let t = performance.now();
      await inParallel(ids, CONCURRENCY, (i) => raw.sendMail({ from: 'nself <no-reply@localhost>', to: `user${i}@example.com`, subject: `Summary ${i}`, html: html(i), text: `Hello user ${i}` }));
      rawMs.push(await until(n, t));
      rawCpu.push(cpu(process.cpuUsage(c0)));

      received = 0;
      c0 = process.cpuUsage();
      t = performance.now();
      // Each call as Hasura makes it, into the real dispatcher (the action payload with the shared secret), as
      // bench/jobs-throughput does: the client's HTTP work is Hasura's, not ours to count.
      await inParallel(ids, IN_FLIGHT, async (i) => {
        const body = JSON.stringify({
          action: { name: 'emailSend' },
          input: { to: [`user${i}@example.com`], subject: `Summary ${i}`, html: html(i), text: `Hello user ${i}` },
          session_variables: { 'x-hasura-role': 'service' },
          request_query: 'mutation { emailSend { messageId } }',
        });
        const res = await server.dispatch('action', 'emailSend', { 'content-type': 'application/json', 'x-nself-plugins-secret': SECRET }, body);
        if (res.status !== 200) throw new Error(`${res.status} ${res.body}`);
      });
      const accepted = performance.now() - t;
      oursMs.push(await until(n, t));
      oursCpu.push(cpu(process.cpuUsage(c0)));
      if (process.env.BENCH_TRACE) say(`  all ${n} emailSend calls answered after ${accepted.toFixed(0)} ms`);
      say(`round ${round + 1}: raw nodemailer ${(n / (rawMs[round]! / 1000)).toFixed(0)} msg/s (${rawCpu[round]!.toFixed(0)} µs Node CPU/msg), emailSend + job ${(n / (oursMs[round]! / 1000)).toFixed(0)} msg/s (${oursCpu[round]!.toFixed(0)} µs)`);
    }
    const ratio = median(rawMs) / median(oursMs);
    say(`${n} messages over SMTP (pool ${POOL}): raw ${(n / (median(rawMs) / 1000)).toFixed(0)} msg/s, plugin ${(n / (median(oursMs) / 1000)).toFixed(0)} msg/s → ${ratio.toFixed(2)}× raw; Node CPU per message raw ${median(rawCpu).toFixed(0)} µs, plugin ${median(oursCpu).toFixed(0)} µs`);
    return { messages: n, rounds, queue: redisUrl ? 'redis' : 'postgres', rawMs, oursMs, rawCpu, oursCpu, ratio };
  } finally {
    raw.close();
    await server.shutdown('bench done');
    await new Promise<void>((r) => smtp.close(() => r()));
    await db.drop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await run({ messages: process.argv[2] ? Number(process.argv[2]) : undefined, rounds: process.argv[3] ? Number(process.argv[3]) : undefined });
}
