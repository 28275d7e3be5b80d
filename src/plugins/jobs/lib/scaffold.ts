/** `nself-plugins job create`: a typed job file in JOBS_DIR, ready to be loaded at the next boot. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { packageRoot } from '../../../core/paths.js';
import { cronProblem, timezoneProblem } from './cron.js';
import { jobNameProblem, queueNameProblem } from './names.js';
import { textProblem } from './storable.js';

export interface ScaffoldOptions {
  dir: string;
  name: string;
  queue?: string;
  schedule?: string;
  tz?: string;
  /** What the job does, in the file's comment and its `description`. */
  description?: string;
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

/**
 * A string as a TypeScript literal: JSON's escaping covers quotes, backslashes, control characters and lone
 * surrogates, and a double-quoted literal gives `${` and backticks no meaning.
 */
const literal = (s: string) => JSON.stringify(s);

/**
 * Text to show inside a block comment: nothing in it may end the comment (`*\/`), and it stays on one line
 * (control characters, line and paragraph separators) with no lone surrogate (written as U+FFFD).
 */
export function commentText(s: string): string {
  return s
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/\*\//g, '*\\/');
}

/**
 * The job file. Every value given (name, queue, schedule, time zone, description) reaches the code only as
 * a string literal and the comment only through `commentText`, so no text can end the comment or the
 * literal it is pasted into (`*\/5 * * * *` is an everyday schedule).
 */
export function renderJobFile(o: Omit<ScaffoldOptions, 'dir'> & { importFrom: string }): string {
  const queue = o.queue ?? (o.schedule ? 'scheduled' : 'default');
  const tz = o.tz ?? 'UTC';
  const what = o.description ? commentText(o.description) : 'describe what this job does.';
  const when = o.schedule ? ` Runs on the schedule "${commentText(o.schedule)}" (${commentText(tz)}).` : '';
  const lines = [
    `import { z } from 'zod';`,
    `import { defineJob } from ${literal(o.importFrom)};`,
    ``,
    `/** ${commentText(o.name)}: ${what}${when} */`,
    `export default defineJob({`,
    `  name: ${literal(o.name)},`,
    `  queue: ${literal(queue)},`,
    ...(o.description ? [`  description: ${literal(o.description)},`] : []),
    `  // The job's data, checked when it is enqueued and again before it runs.`,
    `  data: z.object({}),`,
    ...(o.schedule ? [`  schedule: { cron: ${literal(o.schedule)}, tz: ${literal(tz)} },`] : []),
    `  attempts: 3,`,
    `  timeout: 60_000,`,
    `  async handler(data, ctx) {`,
    `    // ctx.db, ctx.log, ctx.signal (aborted on timeout or cancel), ctx.progress(…), ctx.job.attempt.`,
    `    // Log ids and outcomes rather than the data itself, which may hold personal data or secrets.`,
    `    ctx.log.info({ jobId: ctx.job.id }, ${literal(`${o.name} ran`)});`,
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
    o.description !== undefined && (o.description.length > 500 || textProblem(o.description))
      ? `--description must be at most 500 characters of text${o.description.length > 500 ? '' : ` (it ${textProblem(o.description)})`}`
      : null,
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
