/**
 * The app's own jobs: every file in `JOBS_DIR` default-exports a `defineJob(...)` (or an array of them).
 * They are loaded once at boot; any file that fails to load or holds no valid job stops the boot with an
 * error naming that file, rather than leaving a job silently unregistered.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isJobDefinition, type JobDefinition } from './define-job.js';

const JOB_FILE = /^[^._].*\.(ts|mts|js|mjs)$/;

export class JobFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`job file ${file}: ${message}`, options);
    this.name = 'JobFileError';
  }
}

export function resolveJobsDir(dir: string, cwd = process.cwd()): string {
  return isAbsolute(dir) ? dir : resolve(cwd, dir);
}

export function jobFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  if (!statSync(dir).isDirectory()) throw new JobFileError(dir, 'JOBS_DIR is not a folder');
  return readdirSync(dir)
    .filter((f) => JOB_FILE.test(f) && !/\.(d|test|spec)\.[mc]?[tj]s$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

async function importFile(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    // Plain Node 20 cannot load TypeScript; tsx (when installed) can, without a build step.
    if ((e as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw e;
    let tsImport: (specifier: string, parent: string) => Promise<unknown>;
    try {
      ({ tsImport } = (await import('tsx/esm/api')) as { tsImport: typeof tsImport });
    } catch {
      throw new Error('TypeScript job files need the "tsx" package at run time (npm install tsx), or compile them to .js', { cause: e });
    }
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
}

export async function loadJobFile(file: string): Promise<JobDefinition[]> {
  let mod: Record<string, unknown>;
  try {
    mod = await importFile(file);
  } catch (e) {
    throw new JobFileError(file, `could not be loaded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const exported = mod.default;
  if (exported === undefined) throw new JobFileError(file, 'has no default export (export default defineJob({ … }))');
  const defs = Array.isArray(exported) ? exported : [exported];
  defs.forEach((d, i) => {
    if (!isJobDefinition(d)) {
      throw new JobFileError(file, `default export${Array.isArray(exported) ? `[${i}]` : ''} is not a job definition (use defineJob({ name, data, handler }))`);
    }
  });
  return defs as JobDefinition[];
}

export async function loadJobsDir(dir: string): Promise<{ file: string; defs: JobDefinition[] }[]> {
  const out: { file: string; defs: JobDefinition[] }[] = [];
  for (const file of jobFiles(dir)) out.push({ file, defs: await loadJobFile(file) });
  return out;
}
