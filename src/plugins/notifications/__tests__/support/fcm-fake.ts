/**
 * Strict fakes of Google's OAuth token endpoint and FCM HTTP v1: the token endpoint takes only a form-encoded
 * jwt-bearer grant whose assertion is an RS256 JWT signed by the service account's key, issued by its
 * client_email, for the firebase.messaging scope, with this endpoint as audience and at most an hour of life;
 * messages:send takes only a valid, unexpired access token, JSON, exactly one target, string data values and
 * at most 4096 bytes of message, and answers 404 UNREGISTERED for tokens it does not know.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';
import { HttpFake, json, type FakeReply, type FakeRequest } from '../../../email/__tests__/support/http-fake.js';

export class FcmFake extends HttpFake {
  readonly keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  readonly project = 'nself-test';
  readonly clientEmail = 'push@nself-test.iam.gserviceaccount.com';
  readonly tokens = new Set<string>();
  readonly delivered: Array<{ token: string; message: Record<string, any> }> = [];
  readonly accessTokens = new Map<string, number>();
  tokenRequests = 0;
  /** Registration tokens answered with a status (500: outage). */
  readonly answer = new Map<string, number>();

  constructor() {
    super((req) => this.#handle(req));
  }

  serviceAccount(): string {
    return JSON.stringify({
      type: 'service_account',
      project_id: this.project,
      client_email: this.clientEmail,
      private_key: this.keys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      token_uri: `${this.url}/token`,
    });
  }

  #err(status: number, s: string, message: string, errorCode?: string): FakeReply {
    return { status, body: { error: { code: status, status: s, message, details: errorCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] : [] } } };
  }

  async #handle(req: FakeRequest): Promise<FakeReply> {
    if (req.path === '/token') return this.#token(req, this.keys.publicKey);
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.path);
    if (req.method !== 'POST' || !m) return this.#err(404, 'NOT_FOUND', 'not found');
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    const until = bearer ? this.accessTokens.get(bearer) : undefined;
    if (!until || until < Date.now()) return this.#err(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    if (m[1] !== this.project) return this.#err(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH');
    if (!String(req.headers['content-type']).startsWith('application/json')) return this.#err(400, 'INVALID_ARGUMENT', 'content type');
    const body = json(req) as { message?: Record<string, any> } | undefined;
    const msg = body?.message;
    if (!msg) return this.#err(400, 'INVALID_ARGUMENT', 'message is required');
    const targets = ['token', 'topic', 'condition'].filter((k) => msg[k] !== undefined && msg[k] !== null);
    if (targets.length !== 1) return this.#err(400, 'INVALID_ARGUMENT', 'exactly one of token, topic, condition');
    if (msg.data && Object.values(msg.data).some((v) => typeof v !== 'string')) return this.#err(400, 'INVALID_ARGUMENT', 'data values must be strings');
    if (Buffer.byteLength(JSON.stringify(msg)) > 4096) return this.#err(400, 'INVALID_ARGUMENT', 'Message is too big', 'INVALID_ARGUMENT');
    const status = this.answer.get(msg.token);
    if (status) return this.#err(status, status === 503 ? 'UNAVAILABLE' : 'INTERNAL', 'scripted', status === 503 ? 'UNAVAILABLE' : 'INTERNAL');
    if (!this.tokens.has(msg.token)) return this.#err(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED');
    this.delivered.push({ token: msg.token, message: msg });
    return { status: 200, body: { name: `projects/${this.project}/messages/${randomBytes(8).toString('hex')}` } };
  }

  async #token(req: FakeRequest, key: KeyObject): Promise<FakeReply> {
    this.tokenRequests++;
    if (req.method !== 'POST' || !String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return { status: 400, body: { error: 'invalid_request' } };
    const form = new URLSearchParams(req.body.toString('utf8'));
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return { status: 400, body: { error: 'unsupported_grant_type' } };
    try {
      const { payload, protectedHeader } = await jwtVerify(form.get('assertion') ?? '', key, { issuer: this.clientEmail, audience: `${this.url}/token`, algorithms: ['RS256'] });
      if (protectedHeader.alg !== 'RS256') throw new Error('alg');
      if (payload.scope !== 'https://www.googleapis.com/auth/firebase.messaging') throw new Error('scope');
      if (!payload.exp || !payload.iat || payload.exp - payload.iat > 3600) throw new Error('lifetime');
    } catch (e) {
      return { status: 400, body: { error: 'invalid_grant', error_description: (e as Error).message } };
    }
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    this.accessTokens.set(token, Date.now() + 3600_000);
    return { status: 200, body: { access_token: token, expires_in: 3599, token_type: 'Bearer' } };
  }
}
