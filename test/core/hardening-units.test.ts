import { redactUrl, redactConfig } from '../../src/core/config.js';
import { pgDataError } from '../../src/core/data-errors.js';
import { allowedRoles } from '../../src/core/dispatch.js';
import { errorForLog } from '../../src/core/logger.js';
import { secretMatcher } from '../../src/core/secret.js';
import { secretMatcher as remoteSchemaSecretMatcher } from '../../src/core/remote-schema.js';
import { findUnstorable, mayHoldUnstorable } from '../../src/core/unstorable.js';

describe('secretMatcher', () => {
  const secret = 'a-secret-of-some-length-0123';
  const ok = secretMatcher(secret);

  it('accepts exactly the secret, repeatedly', () => {
    expect(ok(secret)).toBe(true);
    expect(ok(secret)).toBe(true);
  });

  it('refuses other values, other lengths, arrays and absence', () => {
    for (const v of ['', secret.slice(1), secret + 'x', 'b' + secret.slice(1), secret.toUpperCase(), 'é'.repeat(secret.length)]) expect(ok(v)).toBe(false);
    expect(ok([secret, secret])).toBe(false);
    expect(ok(undefined)).toBe(false);
  });

  it('a wrong candidate right after the right one does not pass on leftovers', () => {
    expect(ok(secret)).toBe(true);
    // Same character count, longer in UTF-8: only part of it fits the buffer that still holds the secret.
    expect(ok(secret.slice(0, -1) + 'é')).toBe(false);
  });

  it('non-ASCII secrets compare by their UTF-8 bytes', () => {
    const m = secretMatcher('sécret-with-ünïcode-1234');
    expect(m('sécret-with-ünïcode-1234')).toBe(true);
    expect(m('secret-with-unicode-1234')).toBe(false);
  });

  it('is the one remote schemas use', () => {
    expect(remoteSchemaSecretMatcher).toBe(secretMatcher);
  });
});

describe('findUnstorable and its pre-check', () => {
  it('finds U+0000, lone surrogates and non-finite numbers with their path', () => {
    expect(findUnstorable({ a: [{ b: 'x\u0000' }] })).toEqual({ path: 'a[0].b', reason: 'text contains U+0000, which PostgreSQL text cannot store' });
    expect(findUnstorable({ a: '\udc00' })?.path).toBe('a');
    expect(findUnstorable({ n: Infinity })?.reason).toContain('number is too large');
    expect(findUnstorable({ ['k\u0000']: 1 })?.reason).toContain('key contains U+0000');
    expect(findUnstorable({ ok: ['😀', 1e308, -0, null, true, { x: 'é' }] })).toBeUndefined();
  });

  it('walks deep values without recursion', () => {
    let v: unknown = 'bottom\u0000';
    for (let i = 0; i < 100_000; i++) v = [v];
    expect(findUnstorable(v)?.reason).toContain('U+0000');
  });

  it('the pre-check lets ordinary bodies skip the walk and never misses what the walk would find', () => {
    expect(mayHoldUnstorable('{"a":"plain text","n":12345,"f":1.5e10}', true)).toBe(false);
    for (const raw of ['{"a":"\\u0000"}', '{"a":"\\ud800"}', '{"n":1e309}', '{"n":1E+400}', `{"n":${'9'.repeat(310)}}`]) {
      expect(mayHoldUnstorable(raw, true)).toBe(true);
      expect(findUnstorable(JSON.parse(raw))).toBeDefined();
    }
    // A string given directly (not decoded from bytes) may hold a raw lone surrogate.
    expect(mayHoldUnstorable('{"a":"\ud800"}', false)).toBe(true);
  });
});

describe('pgDataError', () => {
  const pgError = (code: string, message = 'invalid input syntax for type uuid: "x"') => Object.assign(new Error(message), { code, severity: 'ERROR' });

  it('recognises SQLSTATE class 22, also as a cause', () => {
    expect(pgDataError(pgError('22P02'))).toEqual({ code: '22P02', message: 'invalid input syntax for type uuid: "x"' });
    expect(pgDataError(new Error('wrapped', { cause: pgError('22021') }))?.code).toBe('22021');
    expect(pgDataError(pgError('22003', 'x'.repeat(1000)))!.message.length).toBeLessThanOrEqual(300);
  });

  it('ignores other errors', () => {
    expect(pgDataError(pgError('23505'))).toBeUndefined();
    expect(pgDataError(Object.assign(new Error('x'), { code: '22P02' }))).toBeUndefined();
    expect(pgDataError(new Error('x'))).toBeUndefined();
    expect(pgDataError('22P02')).toBeUndefined();
  });
});

describe('redaction', () => {
  it('redactUrl hides the password of any URL and leaves other text alone', () => {
    expect(redactUrl('postgres://app:s3cr%40t@db:5432/app?sslmode=require')).toBe('postgres://app:[redacted]@db:5432/app?sslmode=require');
    expect(redactUrl('redis://:pw@cache:6379/0')).toBe('redis://:[redacted]@cache:6379/0');
    expect(redactUrl('postgres://app@db/app')).toBe('postgres://app@db/app');
    expect(redactUrl('http://localhost:3100')).toBe('http://localhost:3100');
    expect(redactUrl('not a url: a:b@c')).toBe('not a url: a:b@c');
  });

  it('redactConfig applies it to every string setting', () => {
    expect(redactConfig({ DATABASE_URL: 'postgresql://u:p@h/d', REDIS_URL: 'rediss://u:p@h', PORT: 1 })).toEqual({
      DATABASE_URL: 'postgresql://u:[redacted]@h/d',
      REDIS_URL: 'rediss://u:[redacted]@h',
      PORT: 1,
    });
  });

  it('errorForLog drops data-holding properties and bounds text', () => {
    const e = Object.assign(new Error('m'.repeat(5000)), { data: { secret: 1 }, input: 'x', code: 'E1', detail: 'd'.repeat(1000), nested: { a: 1 } });
    const out = errorForLog(new Error('outer', { cause: e }));
    const inner = out.cause as Record<string, unknown>;
    expect(inner).not.toHaveProperty('data');
    expect(inner).not.toHaveProperty('input');
    expect(inner).not.toHaveProperty('nested');
    expect(inner.code).toBe('E1');
    expect(String(inner.message).length).toBeLessThan(1100);
    expect(String(inner.detail).length).toBeLessThan(260);
  });
});

describe('allowedRoles', () => {
  it('is admin plus the roles the metadata grants', () => {
    expect([...allowedRoles({ permissions: ['user', 'service'] })]).toEqual(['admin', 'user', 'service']);
    expect([...allowedRoles({})]).toEqual(['admin']);
  });
});
