/**
 * The client's pre-upload checks agree with the files plugin's own (MIME patterns, names) on generated input,
 * and sizes and `accept` lists are read as a file picker writes them.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { accepts, canonicalMime, checkFile, mimeAllowed, nameProblem, parseSize } from '../../src/client/file-rules.js';
import { canonicalMime as serverCanonical, mimeAllowed as serverAllowed } from '../../src/plugins/files/lib/mime.js';
import { checkName } from '../../src/plugins/files/lib/names.js';
import { textArray } from '../../src/client/files.js';

const types = ['image/png', 'image/jpeg', 'image/jpg', 'IMAGE/PNG', 'image/x-png', 'video/mp4', 'video/x-m4v', 'application/pdf', 'application/x-pdf', 'text/plain; charset=utf-8', 'audio/mp3', 'application/octet-stream', 'image/svg+xml'];
const patterns = ['image/*', 'video/*', '*/*', '*', 'application/pdf', 'image/jpeg', 'image/jpg', ' image/png ', 'audio/*', 'text/plain'];

describe('client file rules', () => {
  it('match MIME types against patterns exactly as the server does', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...types), fc.string()), fc.array(fc.oneof(fc.constantFrom(...patterns), fc.string()), { maxLength: 4 }), (type, list) => {
        expect(mimeAllowed(type, list)).toBe(serverAllowed(type, list));
        expect(canonicalMime(type)).toBe(serverCanonical(type));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuse exactly the names the server refuses', () => {
    const tricky = fc.constantFrom('a.png', ' a.png', 'a/b.png', 'a\\b', '..', '.', '', 'evil\u202egnp.exe', 'tab\there', 'é'.repeat(300), '😀'.repeat(256), 'x'.repeat(255), 'x'.repeat(256));
    fc.assert(
      fc.property(fc.oneof(tricky, fc.string({ unit: 'grapheme', maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 40 })), (name) => {
        const server = checkName(name, 255);
        expect(nameProblem(name, 255)).toBe(server.ok ? null : server.reason);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads sizes as file pickers write them, and refuses what is not a size', () => {
    expect(parseSize('100MB')).toBe(100 * 1024 * 1024);
    expect(parseSize('1.5 GB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('512kb')).toBe(512 * 1024);
    expect(parseSize(2048)).toBe(2048);
    expect(parseSize('10')).toBe(10);
    for (const bad of ['', 'MB', '-1MB', '10 parsecs', '1e3', NaN, -5]) expect(() => parseSize(bad as string | number)).toThrow(RangeError);
  });

  it('reads accept lists with MIME patterns and extensions', () => {
    expect(accepts('image/*,video/*,application/pdf', 'image/png', 'a.png')).toBe(true);
    expect(accepts('image/*,video/*,application/pdf', 'text/plain', 'a.txt')).toBe(false);
    expect(accepts('.png, .JPG', 'application/octet-stream', 'holiday.jpg')).toBe(true);
    expect(accepts(undefined, 'anything/at-all', 'x')).toBe(true);
  });

  it('checks the bucket rules as the server does, and the stricter of picker and bucket', () => {
    const bucket = { id: 'avatars', min_size: 1, max_size: '5242880', allowed_mime_types: ['image/jpeg', 'image/png'] };
    expect(checkFile({ name: 'a.png', size: 100, type: 'image/png' }, { bucket })).toBeNull();
    expect(checkFile({ name: 'a.gif', size: 100, type: 'image/gif' }, { bucket })?.code).toBe('files/type-not-allowed');
    expect(checkFile({ name: 'a.png', size: 6 * 1024 * 1024, type: 'image/png' }, { bucket })?.code).toBe('files/too-large');
    expect(checkFile({ name: 'a.png', size: 2 * 1024 * 1024, type: 'image/png' }, { bucket, maxSize: '1MB' })?.code).toBe('files/too-large');
    expect(checkFile({ name: 'a.png', size: 0, type: 'image/png' }, { bucket })?.code).toBe('files/too-small');
  });

  it("reads a text[] column whether Hasura sends PostgreSQL's array literal or JSON", () => {
    expect(textArray('{image/*,application/pdf}')).toEqual(['image/*', 'application/pdf']);
    expect(textArray('{}')).toEqual([]);
    expect(textArray(['image/png'])).toEqual(['image/png']);
    expect(textArray('{"a,b",c}')).toEqual(['a,b', 'c']);
    expect(textArray('{"say \\"hi\\""}')).toEqual(['say "hi"']);
    expect(textArray(null)).toEqual([]);
  });
});
