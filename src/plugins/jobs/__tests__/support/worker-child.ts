/**
 * A separate worker process for the crash tests (run with `node --import tsx`): works the `rel.work` queue
 * until it is killed. Settings come from the environment like a real deployment's.
 */
import { pino } from 'pino';
import { createDb } from '../../../../core/db.js';
import { createQueueProvider } from '../../../../core/queue.js';
import { jobsConfig } from '../../config.js';
import { createJobsService } from '../../lib/runtime.js';
import { relPlugin } from './reliability-jobs.js';
import { testCore } from './fixture.js';

const env = process.env;
const log = pino({ level: env.CHILD_LOG_LEVEL ?? 'silent' });
const db = createDb(env.DATABASE_URL!, { max: 5 });
const provider = createQueueProvider({ databaseUrl: env.DATABASE_URL!, redisUrl: env.REDIS_URL || undefined, log });
const config = jobsConfig.parse(Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('JOBS_'))));
const jobs = await createJobsService({ provider, db, log, core: testCore(), config, plugins: [relPlugin], pluginConfig: new Map() });
await jobs.startWorkers(['rel.work']);
process.stdout.write('ready\n');
