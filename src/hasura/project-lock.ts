/**
 * One `install`/`remove` at a time per Hasura project: each reads the project and `nself-plugins.json`,
 * plans, and writes everything back, so two running at once would each write a state that lacks the other's
 * plugin (and a later remove would then leave that plugin's migrations behind). The lock is a file in the
 * project (`.nself-plugins.lock`), taken for the whole read-plan-write cycle; a second command waits for it
 * (bounded), a lock left by a process that is gone is taken over.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { lock, lockSync, type HeldLock } from '../core/lock-file.js';

export const PROJECT_LOCK_FILE = '.nself-plugins.lock';
/** An install takes well under a second; a minute covers a remove waiting for its database check. */
export const DEFAULT_PROJECT_LOCK_WAIT_MS = 60_000;

function lockable(projectDir: string): boolean {
  // A missing folder is reported by the project reader, with its own clear message.
  return existsSync(projectDir) && statSync(projectDir).isDirectory();
}

export function lockProjectSync(projectDir: string, what: string, waitMs = DEFAULT_PROJECT_LOCK_WAIT_MS): HeldLock | undefined {
  if (!lockable(projectDir)) return undefined;
  return lockSync(join(projectDir, PROJECT_LOCK_FILE), { what, waitMs });
}

export async function lockProject(projectDir: string, what: string, waitMs = DEFAULT_PROJECT_LOCK_WAIT_MS): Promise<HeldLock | undefined> {
  if (!lockable(projectDir)) return undefined;
  return lock(join(projectDir, PROJECT_LOCK_FILE), { what, waitMs });
}
