/**
 * The allow-list of places the callback may send a browser back to. Targets are parsed as absolute URLs (so
 * `//evil.example` and `javascript:` never parse as ours) and compared by origin and normalized path prefix,
 * never by string prefix (`https://app.example.com.evil.com` starts with `https://app.example.com`).
 */
export interface AllowedTarget {
  origin: string;
  /** '/' for a bare origin; otherwise the prefix, with a trailing slash or matched as a whole segment. */
  path: string;
}

export function parseAllowList(entries: readonly string[]): AllowedTarget[] {
  return entries.map((e) => {
    const u = new URL(e);
    return { origin: u.origin, path: u.pathname || '/' };
  });
}

// Control characters, whitespace and backslashes: browsers repair them in ways a server-side parser may not.
const SUSPICIOUS = /[\u0000-\u0020\u007f\\]/;
// Encoded slashes and backslashes survive URL normalization and are decoded later by some servers.
const ENCODED_SEPARATOR = /%(2f|5c)/i;

export function isAllowedRedirect(target: string, allow: readonly AllowedTarget[]): boolean {
  if (typeof target !== 'string' || target.length === 0 || target.length > 2048) return false;
  if (SUSPICIOUS.test(target)) return false;
  let u: URL;
  try {
    u = new URL(target);
  } catch {
    return false;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return false;
  if (u.username || u.password) return false;
  if (ENCODED_SEPARATOR.test(u.pathname)) return false;
  return allow.some((a) => {
    if (a.origin !== u.origin) return false;
    if (a.path === '/' || u.pathname === a.path) return true;
    const prefix = a.path.endsWith('/') ? a.path : `${a.path}/`;
    return u.pathname.startsWith(prefix);
  });
}

/** `target` with `params` added to its query (the one-time code or the error). */
export function withParams(target: string, params: Record<string, string>): string {
  const u = new URL(target);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}
