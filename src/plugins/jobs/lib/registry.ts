/**
 * Every job this installation knows: contributed by plugin manifests (`jobs`) and by the app's job files.
 * Names are unique across all of them; the queues they use are checked once here, at boot, so a mistake in a
 * definition is an error naming its source instead of a job that never runs.
 */
import type { JobDefinition, JobRateLimit } from './define-job.js';
import { isJobDefinition } from './define-job.js';
import { DEFAULT_QUEUES, jobNameProblem, queueNameProblem, queueNamespace } from './names.js';
import { cronProblem, timezoneProblem } from './cron.js';

export interface RegisteredJob {
  readonly def: JobDefinition;
  /** The plugin that contributed it; `null` for the app's own job files. */
  readonly plugin: string | null;
  /** Where it came from, for error messages: `plugin files` or a file path. */
  readonly source: string;
}

export interface QueueSettings {
  concurrency?: number;
  rateLimit?: JobRateLimit;
}

export class JobRegistryError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0]! : `job registry:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'JobRegistryError';
  }
}

export class JobRegistry {
  private readonly jobs = new Map<string, RegisteredJob>();
  private readonly extraQueues = new Set<string>();
  /** Asked on every enqueue; rebuilt only when a definition or queue is added. */
  private queueCache: { list: string[]; set: Set<string> } | null = null;

  constructor(private readonly pluginNames: ReadonlySet<string> = new Set()) {}

  /** Adds definitions from one source; every problem in the batch is reported at once, nothing is added then. */
  add(defs: readonly unknown[], from: { plugin?: string; file?: string }): void {
    const source = from.file ?? `plugin ${from.plugin}`;
    const problems: string[] = [];
    const batch: RegisteredJob[] = [];
    for (const def of defs) {
      if (!isJobDefinition(def)) {
        problems.push(`${source}: not a job definition (build it with defineJob({ name, data, handler, … }))`);
        continue;
      }
      problems.push(...this.definitionProblems(def, from.plugin ?? null).map((p) => `${source}: ${p}`));
      const existing = this.jobs.get(def.name) ?? batch.find((b) => b.def.name === def.name);
      if (existing) problems.push(`${source}: job "${def.name}" is already defined by ${existing.source}`);
      batch.push({ def: def as JobDefinition, plugin: from.plugin ?? null, source });
    }
    if (!problems.length) problems.push(...this.queueConflicts([...this.jobs.values(), ...batch]));
    if (problems.length) throw new JobRegistryError(problems);
    for (const b of batch) this.jobs.set(b.def.name, b);
    this.queueCache = null;
  }

  /** Makes a queue known without a job on it (e.g. one only fed by schedules of another process). */
  addQueue(name: string): void {
    const problem = queueNameProblem(name);
    if (problem) throw new JobRegistryError([problem]);
    this.extraQueues.add(name);
    this.queueCache = null;
  }

  get(name: string): RegisteredJob | undefined {
    return this.jobs.get(name);
  }

  all(): RegisteredJob[] {
    return [...this.jobs.values()];
  }

  /** The default queues, then every other queue a job uses, sorted. */
  queues(): string[] {
    return [...this.queueIndex().list];
  }

  hasQueue(name: string): boolean {
    return this.queueIndex().set.has(name);
  }

  private queueIndex(): { list: string[]; set: Set<string> } {
    if (!this.queueCache) {
      const extra = new Set<string>(this.extraQueues);
      for (const j of this.jobs.values()) extra.add(j.def.queue);
      for (const q of DEFAULT_QUEUES) extra.delete(q);
      const list = [...DEFAULT_QUEUES, ...[...extra].sort()];
      this.queueCache = { list, set: new Set(list) };
    }
    return this.queueCache;
  }

  queueSettings(queue: string): QueueSettings {
    const out: QueueSettings = {};
    for (const j of this.jobs.values()) {
      if (j.def.queue !== queue) continue;
      if (j.def.concurrency !== undefined) out.concurrency = j.def.concurrency;
      if (j.def.rateLimit !== undefined) out.rateLimit = j.def.rateLimit;
    }
    return out;
  }

  private definitionProblems(def: JobDefinition, plugin: string | null): string[] {
    const problems: string[] = [];
    const nameProblem = jobNameProblem(def.name);
    if (nameProblem) problems.push(nameProblem);
    else if (plugin && !def.name.startsWith(`${plugin}.`)) problems.push(`job "${def.name}" of plugin ${plugin} must be named "${plugin}.<name>"`);
    const queue = def.queue ?? 'default';
    const queueProblem = queueNameProblem(queue);
    if (queueProblem) problems.push(`job "${def.name}": ${queueProblem}`);
    else {
      const ns = queueNamespace(queue);
      if (ns && plugin && ns !== plugin) problems.push(`job "${def.name}": plugin ${plugin} may only use the default queues or "${plugin}.<name>", not "${queue}"`);
      if (ns && !plugin && this.pluginNames.has(ns)) problems.push(`job "${def.name}": queue "${queue}" belongs to plugin ${ns}`);
    }
    const positive = (v: number | undefined, what: string, max: number) => {
      if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > max)) problems.push(`job "${def.name}": ${what} must be an integer from 1 to ${max}`);
    };
    positive(def.concurrency, 'concurrency', 10_000);
    positive(def.attempts, 'attempts', 1000);
    positive(def.priority, 'priority', 2_097_151);
    if (def.timeout !== undefined && (!Number.isInteger(def.timeout) || def.timeout < 0)) problems.push(`job "${def.name}": timeout must be milliseconds ≥ 0`);
    if (def.rateLimit) {
      positive(def.rateLimit.max, 'rateLimit.max', 1_000_000);
      positive(def.rateLimit.durationMs, 'rateLimit.durationMs', 86_400_000);
    }
    const b = def.backoff;
    if (typeof b === 'number' ? b < 0 : b && (b.delayMs < 0 || !['exponential', 'fixed'].includes(b.type))) {
      problems.push(`job "${def.name}": backoff must be a delay ≥ 0 ms or { type: "exponential" | "fixed", delayMs }`);
    }
    if (typeof def.handler !== 'function') problems.push(`job "${def.name}": handler must be a function`);
    if (def.schedule) {
      const tz = def.schedule.tz ?? 'UTC';
      const p = timezoneProblem(tz) ?? cronProblem(def.schedule.cron, tz);
      if (p) problems.push(`job "${def.name}": schedule: ${p}`);
      else if (!def.data.safeParse(def.schedule.data ?? {}).success) problems.push(`job "${def.name}": schedule data does not match the job's schema`);
    }
    return problems;
  }

  /** Concurrency and rate limits are per queue in BullMQ, so jobs sharing a queue must not disagree. */
  private queueConflicts(all: readonly RegisteredJob[]): string[] {
    const problems: string[] = [];
    const seen = new Map<string, { concurrency?: [number, string]; rate?: [string, string] }>();
    for (const j of all) {
      const s = seen.get(j.def.queue) ?? {};
      seen.set(j.def.queue, s);
      if (j.def.concurrency !== undefined) {
        if (s.concurrency && s.concurrency[0] !== j.def.concurrency) {
          problems.push(`jobs "${s.concurrency[1]}" and "${j.def.name}" share queue "${j.def.queue}" but declare different concurrency; give one its own queue`);
        } else s.concurrency = [j.def.concurrency, j.def.name];
      }
      if (j.def.rateLimit) {
        const key = `${j.def.rateLimit.max}/${j.def.rateLimit.durationMs}`;
        if (s.rate && s.rate[0] !== key) {
          problems.push(`jobs "${s.rate[1]}" and "${j.def.name}" share queue "${j.def.queue}" but declare different rate limits; give one its own queue`);
        } else s.rate = [key, j.def.name];
      }
    }
    return problems;
  }
}
