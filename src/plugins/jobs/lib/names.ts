import { backendKeyNames } from '../../../core/queue.js';
import { textProblem } from './storable.js';

/** The queues every installation has (the names apps on this stack already use). */
export const DEFAULT_QUEUES = ['default', 'high-priority', 'low-priority', 'scheduled'] as const;

/** `default`, or a plugin/app namespace and a name: `files.thumbnails`. */
const QUEUE_NAME = /^[a-z][a-z0-9-]{0,40}(\.[a-z][a-z0-9-]{0,40})?$/;
const JOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function queueNameProblem(name: string): string | null {
  return QUEUE_NAME.test(name)
    ? null
    : `queue name "${name}" must be lower-case letters, digits and dashes, optionally namespaced as <namespace>.<name>`;
}

export function jobNameProblem(name: string): string | null {
  return JOB_NAME.test(name) ? null : `job name "${name}" must be 1–128 letters, digits, ".", "_" or "-"`;
}

/**
 * BullMQ refuses integer-looking custom ids (they collide with its own counter) and ids with ":" (its key
 * separator). On Redis a job is stored at `bull:<queue>:<id>`, right beside the queue's own keys, so an id
 * equal to one of those (`repeat`, `delayed`, `meta`, …, read from BullMQ itself) would overwrite a queue
 * structure and break the queue for good; they are refused on both backends, so ids stay portable. Control
 * characters are refused so ids stay printable in logs and the dashboard, and text PostgreSQL cannot store.
 */
export function jobIdProblem(id: string): string | null {
  if (id.length < 1 || id.length > 255) return 'job id must be 1–255 characters';
  if (/^-?\d+$/.test(id)) return 'job id must not be an integer (BullMQ numbers its own jobs)';
  if (id.includes(':')) return 'job id must not contain ":"';
  if (/[\u0000-\u001f\u007f]/.test(id)) return 'job id must not contain control characters';
  const text = textProblem(id);
  if (text) return `job id ${text}`;
  if (backendKeyNames().has(id)) return `job id "${id}" is reserved: the queue backend keeps its own data under that name`;
  return null;
}

export function queueNamespace(queue: string): string | null {
  const dot = queue.indexOf('.');
  return dot < 0 ? null : queue.slice(0, dot);
}
