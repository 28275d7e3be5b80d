/**
 * File names as users see them (Content-Disposition, lists). They never reach a path: object keys are made
 * from the bucket and the file id. Still, names that spoof another extension (RTL override), hide text
 * (control characters), look like paths or are huge are refused outright rather than cleaned up.
 */

/** C0/C1 controls, DEL, and the bidirectional overrides, embeddings and isolates. */
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u;

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string };

export function checkName(raw: string, maxLength: number): NameCheck {
  const name = raw.normalize('NFC');
  if (name.trim().length === 0) return { ok: false, reason: 'the name is empty' };
  if ([...name].length > maxLength) return { ok: false, reason: `the name is longer than ${maxLength} characters` };
  if (Buffer.byteLength(name) > 1024) return { ok: false, reason: 'the name is longer than 1024 bytes' };
  if (FORBIDDEN.test(name)) return { ok: false, reason: 'the name contains control or text-direction characters' };
  if (/[/\\]/.test(name)) return { ok: false, reason: 'the name contains a path separator' };
  if (name === '.' || name === '..') return { ok: false, reason: 'the name is a path segment' };
  if (name !== name.trim()) return { ok: false, reason: 'the name starts or ends with blanks' };
  return { ok: true, name };
}
