/**
 * Sessions as Hasura builds them from request headers: keys `x-hasura-*`, lower-case; every value a string.
 */

/** `{ role, userId, ...more }`: other keys are either `x-hasura-*` names or camelCase (`orgId` → `x-hasura-org-id`). */
export interface SessionInput {
  role: string;
  userId?: string | number | null;
  [variable: string]: string | number | boolean | null | undefined;
}

export type SessionVariables = Record<string, string>;

function variableName(key: string): string {
  if (/^x-hasura-/i.test(key)) return key.toLowerCase();
  return 'x-hasura-' + key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/_/g, '-').toLowerCase();
}

/** Hasura's session for `input`; no input means the admin secret without a role header, i.e. role admin. */
export function toSessionVariables(input?: SessionInput | null): SessionVariables {
  if (!input) return { 'x-hasura-role': 'admin' };
  const out: SessionVariables = {};
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined || v === null) continue;
    const name = k === 'role' ? 'x-hasura-role' : k === 'userId' ? 'x-hasura-user-id' : variableName(k);
    out[name] = String(v);
  }
  if (!out['x-hasura-role']) throw new TypeError('a session needs a role');
  return out;
}

export function roleOf(session: SessionVariables): string {
  return session['x-hasura-role'] ?? 'admin';
}
