/**
 * A strict fake of Twilio's Messages resource: basic auth with the account SID and auth token (401 code 20003
 * otherwise), the account in the path, form encoding, To in E.164 (400 code 21211), From or
 * MessagingServiceSid (21603), Body of 1–1600 characters (21602 / 21617); 201 with a message SID.
 */
import { randomBytes } from 'node:crypto';
import { HttpFake, type FakeReply, type FakeRequest } from '../../../email/__tests__/support/http-fake.js';

export class TwilioFake extends HttpFake {
  readonly sid = `AC${randomBytes(16).toString('hex')}`;
  readonly token = randomBytes(16).toString('hex');
  readonly sent: Array<{ to: string; from: string | null; body: string; sid: string }> = [];
  failNext = 0;

  constructor() {
    super((req) => this.#handle(req));
  }

  #err(status: number, code: number, message: string): FakeReply {
    return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
  }

  #handle(req: FakeRequest): FakeReply {
    if (req.method !== 'POST' || req.path !== `/2010-04-01/Accounts/${this.sid}/Messages.json`) return this.#err(404, 20404, 'The requested resource was not found');
    const expected = `Basic ${Buffer.from(`${this.sid}:${this.token}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return this.#err(401, 20003, 'Authenticate');
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return this.#err(400, 20001, 'Content-Type must be application/x-www-form-urlencoded');
    if (this.failNext > 0) {
      this.failNext--;
      return this.#err(503, 20500, 'Service Unavailable');
    }
    const f = new URLSearchParams(req.body.toString('utf8'));
    const to = f.get('To') ?? '';
    if (!/^\+[1-9]\d{6,14}$/.test(to)) return this.#err(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!f.get('From') && !f.get('MessagingServiceSid')) return this.#err(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message");
    const body = f.get('Body') ?? '';
    if (!body) return this.#err(400, 21602, 'Message body is required.');
    if (body.length > 1600) return this.#err(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    const sid = `SM${randomBytes(16).toString('hex')}`;
    this.sent.push({ to, from: f.get('From'), body, sid });
    return { status: 201, body: { sid, status: 'queued', to, body } };
  }
}
