/**
 * MIME types: syntax, bucket patterns (`image/*`), and how the declared type meets the sniffed one.
 */
import { supportedMimeTypes } from 'file-type';

const TOKEN = "[A-Za-z0-9!#$&^_.+-]+";
const MIME = new RegExp(`^${TOKEN}/${TOKEN}$`);

export function validMime(type: string): boolean {
  return type.length <= 255 && MIME.test(type);
}

/** Lower-cased, parameters dropped (`text/plain; charset=utf-8` → `text/plain`). */
export function normalizeMime(type: string): string {
  return type.split(';')[0]!.trim().toLowerCase();
}

/** Names browsers and tools use for the same type, mapped to file-type's. */
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
  'audio/x-m4a': 'audio/x-m4a',
  'audio/m4a': 'audio/x-m4a',
  'video/mov': 'video/quicktime',
};

export function canonicalMime(type: string): string {
  const t = normalizeMime(type);
  // Own keys only: a type named like an Object.prototype member (`__proto__`) is not an alias.
  return Object.hasOwn(ALIASES, t) ? ALIASES[t]! : t;
}

/** `image/*`, `application/pdf`, `*\/*`; an empty list allows every type. */
export function mimeAllowed(type: string, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  const t = canonicalMime(type);
  const [major] = t.split('/');
  return patterns.some((p) => {
    const q = p.trim().toLowerCase();
    if (q === '*/*' || q === '*') return true;
    if (q.endsWith('/*')) return q.slice(0, -2) === major;
    return canonicalMime(q) === t;
  });
}

const SNIFFABLE = new Set<string>(supportedMimeTypes as ReadonlySet<string>);

/** Container formats file-type reports for several declared types (Office files are zips, …). */
const CONTAINERS: Record<string, readonly string[]> = {
  'application/zip': [
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    'application/epub+zip',
    'application/java-archive',
  ],
  'application/x-cfb': ['application/msword', 'application/vnd.ms-excel', 'application/vnd.ms-powerpoint'],
  'application/xml': ['image/svg+xml', 'application/xml', 'text/xml'],
};

export type TypeVerdict = { ok: true; mimeType: string } | { ok: false; reason: string };

/**
 * The type a file is stored as. The sniffed type wins when there is one; it must agree with the declared
 * type unless the client declared nothing specific. Without a sniffed type (plain text, CSV, JSON…) the
 * declared one stands, unless it is a type whose signature we would have recognised (a "PNG" without the
 * PNG signature is not a PNG).
 */
export function decideType(declared: string, sniffed: string | undefined): TypeVerdict {
  const d = canonicalMime(declared);
  if (!sniffed) {
    if (SNIFFABLE.has(d) && !d.startsWith('text/') && d !== 'application/xml' && d !== 'image/svg+xml') {
      return { ok: false, reason: `declared ${d}, but the bytes do not start like one` };
    }
    return { ok: true, mimeType: d };
  }
  const s = canonicalMime(sniffed);
  if (s === d || d === 'application/octet-stream') return { ok: true, mimeType: s };
  if (CONTAINERS[s]?.includes(d)) return { ok: true, mimeType: d };
  return { ok: false, reason: `declared ${d}, but the bytes are ${s}` };
}

/** Which processing a type gets, when its feature is on. */
export type MediaKind = 'image' | 'video' | 'document';

// HEIC is stored as it is: the prebuilt libvips has no HEVC decoder.
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif', 'image/tiff']);

export function mediaKind(type: string | null | undefined): MediaKind | null {
  if (!type) return null;
  const t = canonicalMime(type);
  if (IMAGE_TYPES.has(t)) return 'image';
  if (t.startsWith('video/')) return 'video';
  if (t === 'application/pdf') return 'document';
  return null;
}
