import {
  EnvelopeError,
  checkForbiddenKeys,
  parseActionEnvelope,
  parseCronEnvelope,
  parseEventEnvelope,
  parseJsonBody,
} from '../../src/core/envelope.js';

// Payloads as Hasura sends them (reference/hasura.md §1.1, §2.1, §3.1).
const action = {
  action: { name: 'UserLogin' },
  input: { username: 'jake', password: 'secretpassword' },
  session_variables: { 'x-hasura-user-id': '423', 'x-hasura-role': 'user' },
  request_query: 'mutation {\n  UserLogin (username: "jake", password: "secretpassword") {\n    accessToken\n  }\n}\n',
};
const event = {
  id: '3692b725-6337-4e35-8c9c-7ccac263f453',
  created_at: '2022-09-19T20:04:47.569918Z',
  trigger: { name: 'n8n-test' },
  table: { schema: 'public', name: 'form_entries' },
  delivery_info: { max_retries: 3, current_retry: 0 },
  event: {
    op: 'INSERT',
    data: { old: null, new: { id: 3003555, created_at: '2022-09-19T20:04:47.569918', fields: '...' } },
    session_variables: { 'x-hasura-role': 'admin' },
    trace_context: { trace_id: '85fcfa2cff6a7e2f', span_id: '9d616af98f909edf' },
  },
};
const cron = {
  id: 'b918cd10-8853-4e66-91b8-81b5cd16e44b',
  name: 'eod_reports',
  scheduled_time: '2024-05-01T22:00:00Z',
  payload: { key1: 'value1' },
  comment: 'daily report',
};

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EnvelopeError);
    expect((e as EnvelopeError).status).toBe(400);
    return (e as Error).message;
  }
  throw new Error('expected an EnvelopeError');
}

describe('action envelope', () => {
  it('parses the documented payload', () => {
    const a = parseActionEnvelope(clone(action));
    expect(a.name).toBe('UserLogin');
    expect(a.input).toEqual({ username: 'jake', password: 'secretpassword' });
    expect(a.session).toEqual({ role: 'user', userId: '423', variables: { 'x-hasura-user-id': '423', 'x-hasura-role': 'user' } });
    expect(a.requestQuery).toContain('UserLogin');
  });

  it('lower-cases session variable keys; request_query may be null or absent (async actions)', () => {
    const body = { ...clone(action), session_variables: { 'X-Hasura-Role': 'user', 'X-HASURA-ORG-ID': '7' }, request_query: null };
    const a = parseActionEnvelope(body);
    expect(a.session.role).toBe('user');
    expect(a.session.userId).toBeNull();
    expect(a.session.variables['x-hasura-org-id']).toBe('7');
    expect(a.requestQuery).toBeNull();
    const { request_query: _, ...noQuery } = clone(action);
    expect(parseActionEnvelope(noQuery).requestQuery).toBeNull();
  });

  it('rejects with a message naming the field', () => {
    expect(messageOf(() => parseActionEnvelope({ ...clone(action), action: 'UserLogin' }))).toContain('action: expected object, got string');
    expect(messageOf(() => parseActionEnvelope({ ...clone(action), input: [] }))).toContain('input: expected record, got array');
    const { session_variables: _, ...noSession } = clone(action);
    expect(messageOf(() => parseActionEnvelope(noSession))).toContain('session_variables: is required');
    expect(messageOf(() => parseActionEnvelope({ ...clone(action), session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': 423 } }))).toContain(
      'session_variables.x-hasura-user-id: expected string, got number',
    );
    expect(messageOf(() => parseActionEnvelope({ ...clone(action), session_variables: { 'x-hasura-user-id': '1' } }))).toContain('x-hasura-role is required');
    expect(messageOf(() => parseActionEnvelope({ ...clone(action), session_variables: { 'x-hasura-role': 'a', 'X-Hasura-Role': 'b' } }))).toContain(
      'given twice',
    );
    expect(messageOf(() => parseActionEnvelope([]))).toContain('(body): expected object, got array');
  });
});

describe('event envelope', () => {
  it('parses the documented payload', () => {
    const e = parseEventEnvelope(clone(event));
    expect(e.name).toBe('n8n-test');
    expect(e.payload).toEqual(event);
    expect(e.session?.role).toBe('admin');
  });

  it('accepts null session variables and no trace context (raw SQL writes)', () => {
    const body = clone(event) as Record<string, any>;
    body.event.session_variables = null;
    delete body.event.trace_context;
    const e = parseEventEnvelope(body);
    expect(e.session).toBeNull();
    expect(e.payload.event.session_variables).toBeNull();
    expect(e.payload.event.trace_context).toBeNull();
  });

  it('checks old/new against the operation', () => {
    const withData = (op: string, old: unknown, nu: unknown) => {
      const b = clone(event) as Record<string, any>;
      b.event.op = op;
      b.event.data = { old, new: nu };
      return b;
    };
    expect(parseEventEnvelope(withData('UPDATE', { a: 1 }, { a: 2 })).payload.event.op).toBe('UPDATE');
    expect(parseEventEnvelope(withData('DELETE', { a: 1 }, null)).payload.event.data.new).toBeNull();
    expect(parseEventEnvelope(withData('MANUAL', null, { anything: true })).payload.event.data.new).toEqual({ anything: true });
    expect(messageOf(() => parseEventEnvelope(withData('INSERT', null, null)))).toContain('event.data.new: must be a row object for INSERT');
    expect(messageOf(() => parseEventEnvelope(withData('DELETE', { a: 1 }, { a: 1 })))).toContain('event.data.new: must be null for DELETE');
    expect(messageOf(() => parseEventEnvelope(withData('TRUNCATE', null, {})))).toContain('event.op');
  });

  it('requires id, trigger, table, delivery_info and a real timestamp', () => {
    const b = clone(event) as Record<string, any>;
    delete b.delivery_info;
    b.created_at = 'yesterday';
    b.trigger = { name: '' };
    const msg = messageOf(() => parseEventEnvelope(b));
    expect(msg).toContain('delivery_info: is required');
    expect(msg).toContain('created_at: must be an ISO-8601 timestamp');
    expect(msg).toContain('trigger.name');
  });
});

describe('cron envelope', () => {
  it('parses the documented payload and a one-off event without name', () => {
    expect(parseCronEnvelope(clone(cron))).toEqual({ name: 'eod_reports', payload: cron });
    const oneOff = parseCronEnvelope({ id: 'x1', scheduled_time: '2024-05-01T22:00:00Z', created_at: '2024-05-01T21:00:00Z' });
    expect(oneOff.name).toBeUndefined();
    expect(oneOff.payload.payload).toBeNull();
  });

  it('rejects a missing id or a bad scheduled_time', () => {
    const msg = messageOf(() => parseCronEnvelope({ name: 'x', scheduled_time: 42 }));
    expect(msg).toContain('id: is required');
    expect(msg).toContain('scheduled_time: expected string, got number');
  });
});

describe('JSON and prototype pollution', () => {
  it('rejects bodies that are not JSON', () => {
    expect(messageOf(() => parseJsonBody('{"a":'))).toBe('request body is not valid JSON');
    expect(messageOf(() => parseJsonBody(''))).toBe('request body is not valid JSON');
  });

  it('rejects __proto__ and constructor keys at any depth, also when written with escapes', () => {
    expect(messageOf(() => parseJsonBody('{"input":{"a":[{"__proto__":{"polluted":1}}]}}'))).toContain('forbidden key "__proto__"');
    expect(messageOf(() => parseJsonBody('{"constructor":{"prototype":{"polluted":1}}}'))).toContain('forbidden key "constructor"');
    expect(messageOf(() => parseJsonBody('{"\\u005f_proto__":{"polluted":1}}'))).toContain('forbidden key "__proto__"');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('lets the words through as values', () => {
    expect(parseJsonBody('{"note":"the constructor of __proto__"}')).toEqual({ note: 'the constructor of __proto__' });
  });

  it('walks deep nesting without overflowing the stack', () => {
    const depth = 200_000;
    const deep = JSON.parse('['.repeat(depth) + '{"__proto__":1}' + ']'.repeat(depth));
    expect(() => checkForbiddenKeys(deep)).toThrow('forbidden key');
  });

  it('keeps session variables in a null-prototype object', () => {
    const a = parseActionEnvelope(clone(action));
    expect(Object.getPrototypeOf(a.session.variables)).toBeNull();
  });
});
