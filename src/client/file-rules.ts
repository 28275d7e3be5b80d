/**
 * The files plugin's checks that a browser can make before a byte moves, written to agree with the server's
 * (src/plugins/files/lib/mime.ts and names.ts; test/client/file-rules.test.ts compares them on generated input):
 * MIME patterns as buckets and `accept` attributes write them, names, and sizes.
 */

const ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'image/x-png': 'image/png',
  'audio/mp3': 'audio/mpeg',
  'audio/x-wav': 'audio/wav',
  'audio/wave': 'audio/wav',
  'audio/vnd.wave': 'audio/wav',
  'video/x-m4v': 'video/mp4',
  'application/x-pdf': 'application/pdf',
  'application/x-zip-compressed': 'application/zip',
  'image/x-icon': 'image/vnd.microsoft.icon',
  'audio/m4a': 'audio/x-m4a',
  'video/mov': 'video/quicktime',
};

export function canonicalMime(type: string): string {
  const t = type.split(';')[0]!.trim().toLowerCase();
  // Own keys only: a type named like an Object.prototype member (`__proto__`) is not an alias.
  return Object.hasOwn(ALIASES, t) ? ALIASES[t]! : t;
}

/** `image/*`, `application/pdf`, `*\/*`; an empty list allows every type (as a bucket's `allowed_mime_types`). */
export function mimeAllowed(type: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  const t = canonicalMime(type);
  const major = t.split('/')[0];
  return patterns.some((p) => {
    const q = p.trim().toLowerCase();
    if (q === '*/*' || q === '*') return true;
    if (q.endsWith('/*')) return q.slice(0, -2) === major;
    return canonicalMime(q) === t;
  });
}

/** An `accept` attribute (`image/*,video/*,application/pdf,.png`): MIME patterns, and extensions matched on the name. */
export function accepts(accept: string | undefined, type: string, name: string): boolean {
  const items = (accept ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) return true;
  const lower = name.toLowerCase();
  return items.some((a) => (a.startsWith('.') ? lower.endsWith(a.toLowerCase()) : mimeAllowed(type, [a])));
}

const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u;

/** The server's name rules: the reason a name is refused, or null. */
export function nameProblem(raw: string, maxLength = 255): string | null {
  const name = raw.normalize('NFC');
  if (name.trim().length === 0) return 'the name is empty';
  if ([...name].length > maxLength) return `the name is longer than ${maxLength} characters`;
  if (new TextEncoder().encode(name).length > 1024) return 'the name is longer than 1024 bytes';
  if (FORBIDDEN.test(name)) return 'the name contains control or text-direction characters';
  if (/[/\\]/.test(name)) return 'the name contains a path separator';
  if (name === '.' || name === '..') return 'the name is a path segment';
  if (name !== name.trim()) return 'the name starts or ends with blanks';
  return null;
}

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** `'100MB'`, `'1.5 GB'`, `'512kb'`, `2048` → bytes. Units are binary (1 MB = 1,048,576 bytes), as file pickers show them. */
export function parseSize(size: string | number): number {
  if (typeof size === 'number') {
    if (!Number.isFinite(size) || size < 0) throw new RangeError(`invalid size ${size}`);
    return Math.floor(size);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(size);
  const unit = UNITS[(m?.[2] || 'b').toLowerCase()];
  if (!m || unit === undefined) throw new RangeError(`invalid size "${size}": use a number of bytes or e.g. "100MB"`);
  return Math.floor(Number(m[1]) * unit);
}

export interface FileCheckRules {
  accept?: string;
  maxSize?: string | number;
  minSize?: string | number;
  /** The bucket's own rules (`files_bucket`), when known. */
  bucket?: { id: string; min_size: number | string; max_size: number | string; allowed_mime_types: readonly string[] } | null;
}

export interface FileProblem {
  code: 'files/too-large' | 'files/too-small' | 'files/type-not-allowed' | 'files/invalid-name';
  message: string;
}

/** What the server would refuse about this file before it is sent, or null. Codes are the server's. */
export function checkFile(file: { name: string; size: number; type: string }, rules: FileCheckRules): FileProblem | null {
  const name = nameProblem(file.name);
  if (name) return { code: 'files/invalid-name', message: name };
  const type = file.type || 'application/octet-stream';
  if (!accepts(rules.accept, type, file.name)) return { code: 'files/type-not-allowed', message: `${file.name} (${type}) is not one of ${rules.accept}` };
  if (rules.bucket && !mimeAllowed(type, rules.bucket.allowed_mime_types))
    return { code: 'files/type-not-allowed', message: `bucket "${rules.bucket.id}" accepts ${rules.bucket.allowed_mime_types.join(', ')}, not ${type}` };
  const max = Math.min(rules.maxSize !== undefined ? parseSize(rules.maxSize) : Infinity, rules.bucket ? Number(rules.bucket.max_size) : Infinity);
  if (file.size > max) return { code: 'files/too-large', message: `${file.name} is ${file.size} bytes; at most ${max} are accepted` };
  const min = Math.max(rules.minSize !== undefined ? parseSize(rules.minSize) : 0, rules.bucket ? Number(rules.bucket.min_size) : 0);
  if (file.size < min) return { code: 'files/too-small', message: `${file.name} is ${file.size} bytes; at least ${min} are needed` };
  return null;
}
