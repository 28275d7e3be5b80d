/**
 * A strict fake of Resend's POST /emails: Bearer key (401 missing_api_key / 403 invalid_api_key), JSON only,
 * `from`, `to` (1–50), `subject` and `html` or `text` required (422 validation_error), tags limited to
 * ASCII letters, digits, _ and -, and Idempotency-Key as Resend documents it: the same key and body return
 * the first email's id without sending again; the same key with another body is a 409. `failNext` plays an
 * outage (500s).
 */
import { createHash, randomUUID } from 'node:crypto';
import { EMAIL, HttpFake, json, type FakeReply, type FakeRequest } from './http-fake.js';

export interface SentViaResend {
  id: string;
  body: Record<string, any>;
}

export class ResendFake extends HttpFake {
  readonly sent: SentViaResend[] = [];
  readonly #keys = new Map<string, { hash: string; id: string }>();
  failNext = 0;
  onAccept: ((s: SentViaResend) => void) | undefined;

  constructor(readonly apiKey = 're_test_0123456789') {
    super((req) => this.#handle(req));
  }

  #error(statusCode: number, name: string, message: string): FakeReply {
    return { status: statusCode, body: { statusCode, name, message } };
  }

  #handle(req: FakeRequest): FakeReply {
    if (req.method !== 'POST' || req.path !== '/emails') return this.#error(404, 'not_found', 'The requested endpoint does not exist.');
    const auth = req.headers.authorization;
    if (!auth) return this.#error(401, 'missing_api_key', 'Missing API key in the authorization header.');
    if (auth !== `Bearer ${this.apiKey}`) return this.#error(403, 'invalid_api_key', 'API key is invalid.');
    if (!String(req.headers['content-type']).startsWith('application/json')) return this.#error(415, 'invalid_content_type', 'Content-Type must be application/json.');
    if (this.failNext > 0) {
      this.failNext--;
      return this.#error(500, 'internal_server_error', 'An unexpected error occurred.');
    }
    const b = json(req) as Record<string, any> | undefined;
    if (!b) return this.#error(400, 'invalid_request', 'The body is not valid JSON.');
    const to = Array.isArray(b.to) ? b.to : [b.to];
    if (!b.from) return this.#error(422, 'validation_error', 'The `from` field is required.');
    if (!to.length || to.length > 50 || !to.every((t: unknown) => typeof t === 'string' && EMAIL.test(t.replace(/^.*<|>$/g, '')))) return this.#error(422, 'validation_error', 'Invalid `to` field.');
    if (!b.subject) return this.#error(422, 'validation_error', 'The `subject` field is required.');
    if (!b.html && !b.text) return this.#error(422, 'validation_error', 'Either `html` or `text` must be provided.');
    for (const t of b.tags ?? []) if (!/^[A-Za-z0-9_-]{1,256}$/.test(t.name ?? '') || !/^[A-Za-z0-9_-]{1,256}$/.test(t.value ?? '')) return this.#error(422, 'validation_error', 'Tags should only contain ASCII letters, numbers, underscores, or dashes.');
    const key = req.headers['idempotency-key'];
    const hash = createHash('sha256').update(req.body).digest('hex');
    if (typeof key === 'string') {
      if (key.length > 256) return this.#error(400, 'invalid_idempotency_key', 'The key must be between 1-256 chars.');
      const prior = this.#keys.get(key);
      if (prior) {
        if (prior.hash !== hash) return this.#error(409, 'invalid_idempotent_request', 'Same idempotency key used with a different request payload.');
        return { status: 200, body: { id: prior.id } };
      }
    }
    const id = randomUUID();
    if (typeof key === 'string') this.#keys.set(key, { hash, id });
    const s = { id, body: b };
    this.sent.push(s);
    this.onAccept?.(s);
    return { status: 200, body: { id } };
  }
}
