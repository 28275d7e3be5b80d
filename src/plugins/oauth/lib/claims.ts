/**
 * The claims hook other plugins use to add Hasura session variables (the stripe plugin: the user's plan).
 * A contributor registers once when its service starts:
 *
 *   const claims = runtime.optionalService(oauthClaims);
 *   claims?.register('stripe', async (user, db) => ({ 'x-hasura-plan': await planOf(db, user.id) }));
 *
 * Hooks run on every sign-in and refresh, so a change (a new plan) reaches the next access token.
 */
import { defineService, type Queryable } from '../../../core/plugin.js';

export interface ClaimsUser {
  id: string;
  email: string | null;
  defaultRole: string;
}

export type ClaimsHook = (user: ClaimsUser, db: Queryable) => Promise<Record<string, string | string[]>> | Record<string, string | string[]>;

/** Variables the plugin sets itself: a hook cannot widen a session's roles or change whose it is. */
const RESERVED = new Set(['x-hasura-user-id', 'x-hasura-default-role', 'x-hasura-allowed-roles', 'x-hasura-role']);

export class ClaimsRegistry {
  private readonly hooks = new Map<string, ClaimsHook>();

  register(name: string, hook: ClaimsHook): void {
    if (this.hooks.has(name)) throw new Error(`oauth claims hook "${name}" is registered twice`);
    this.hooks.set(name, hook);
  }

  get size(): number {
    return this.hooks.size;
  }

  /** Every hook's variables, lower-cased and checked; a hook that throws fails the sign-in (no half-built session). */
  async collect(user: ClaimsUser, db: Queryable): Promise<Record<string, string | string[]>> {
    const out: Record<string, string | string[]> = {};
    for (const [name, hook] of this.hooks) {
      const vars = await hook(user, db);
      for (const [rawKey, value] of Object.entries(vars ?? {})) {
        const key = rawKey.toLowerCase();
        if (!key.startsWith('x-hasura-')) throw new Error(`oauth claims hook "${name}": ${rawKey} must start with x-hasura-`);
        if (RESERVED.has(key)) throw new Error(`oauth claims hook "${name}": ${rawKey} is set by the oauth plugin`);
        if (typeof value !== 'string' && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
          throw new Error(`oauth claims hook "${name}": ${rawKey} must be a string or a string array (Hasura reads strings)`);
        }
        out[key] = value;
      }
    }
    return out;
  }
}

export const oauthClaims = defineService<ClaimsRegistry>({
  name: 'claims',
  create: () => new ClaimsRegistry(),
});
