/** `nself-plugins job create`: a typed job file in JOBS_DIR, ready to be loaded at the next boot. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { packageRoot } from '../../../core/paths.js';
import { cronProblem, timezoneProblem } from './cron.js';
import { jobNameProblem, queueNameProblem } from './names.js';

export interface ScaffoldOptions {
  dir: string;
  name: string;
  queue?: string;
  schedule?: string;
  tz?: string;
}

export class ScaffoldError extends Error {
  override name = 'ScaffoldError';
}

/** Inside this package (its own `jobs/` folder, tests) the import is relative; in an app it is the package. */
export function defineJobImport(dir: string): string {
  const fromRoot = relative(packageRoot, dir);
  if (fromRoot.startsWith('..') || isAbsolute(fromRoot)) return 'nself-plugins/jobs';
  const posix = relative(dir, join(packageRoot, 'src', 'plugins', 'jobs', 'index.js')).split(sep).join('/');
  return posix.startsWith('.') ? posix : `./${posix}`;
}

export function renderJobFile(o: Omit<ScaffoldOptions, 'dir'> & { importFrom: string }): string {
  const queue = o.queue ?? (o.schedule ? 'scheduled' : 'default');
  const when = o.schedule ? ` Runs on the schedule "${o.schedule}" (${o.tz ?? 'UTC'}).` : '';
  const lines = [
    `import { z } from 'zod';`,
    `import { defineJob } from '${o.importFrom}';`,
    ``,
    `/** ${o.name}: describe what this job does.${when} */`,
    `export default defineJob({`,
    `  name: ${JSON.stringify(o.name)},`,
    `  queue: ${JSON.stringify(queue)},`,
    `  // The job's data, checked when it is enqueued and again before it runs.`,
    `  data: z.object({}),`,
    ...(o.schedule ? [`  schedule: { cron: ${JSON.stringify(o.schedule)}, tz: ${JSON.stringify(o.tz ?? 'UTC')} },`] : []),
    `  attempts: 3,`,
    `  timeout: 60_000,`,
    `  async handler(data, ctx) {`,
    `    // ctx.db, ctx.log, ctx.signal (aborted on timeout or cancel), ctx.progress(…), ctx.job.attempt`,
    `    ctx.log.info({ data }, ${JSON.stringify(`${o.name} ran`)});`,
    `  },`,
    `});`,
    ``,
  ];
  return lines.join('\n');
}

/** Writes `<dir>/<name>.ts`; refuses bad names, bad schedules and existing files. Returns the path. */
export function scaffoldJob(o: ScaffoldOptions): string {
  const problems = [
    jobNameProblem(o.name),
    o.queue ? queueNameProblem(o.queue) : null,
    o.tz && !o.schedule ? '--tz needs --schedule' : null,
    o.tz ? timezoneProblem(o.tz) : null,
    o.schedule ? cronProblem(o.schedule, o.tz && !timezoneProblem(o.tz) ? o.tz : 'UTC') : null,
  ].filter((p): p is string => !!p);
  if (problems.length) throw new ScaffoldError(problems.join('; '));
  const file = join(o.dir, `${o.name}.ts`);
  if (existsSync(file)) throw new ScaffoldError(`${file} already exists`);
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(file, renderJobFile({ ...o, importFrom: defineJobImport(o.dir) }), { flag: 'wx' });
  return file;
}
