/**
 * SMS (feature `sms`): the outbox by default (the text is stored in notifications.sms_message, readable by
 * admins through GraphQL), or Twilio's REST API (Messages.json, form-encoded, basic auth).
 */
import { defineService } from '../../../../core/plugin.js';
import type { NotificationsConfig } from '../../config.js';

export interface SmsResult {
  ok: boolean;
  ref?: string | null;
  retryable?: boolean;
  error?: string;
}

export interface SmsSender {
  readonly transport: 'outbox' | 'twilio';
  send(to: string, body: string, signal?: AbortSignal): Promise<SmsResult>;
}

/** Twilio's error codes for a number that can never receive (invalid, landline, unsubscribed). */
const PERMANENT_CODES = new Set([21211, 21214, 21408, 21610, 21612, 21614]);

export function twilioSender(config: NotificationsConfig): SmsSender {
  const sid = config.NOTIFICATIONS_TWILIO_ACCOUNT_SID!;
  const auth = Buffer.from(`${sid}:${config.NOTIFICATIONS_TWILIO_AUTH_TOKEN!}`).toString('base64');
  const url = `${config.NOTIFICATIONS_TWILIO_API_URL.replace(/\/+$/, '')}/2010-04-01/Accounts/${sid}/Messages.json`;
  return {
    transport: 'twilio',
    async send(to, body, signal) {
      const form = new URLSearchParams({ To: to, Body: body });
      if (config.NOTIFICATIONS_TWILIO_MESSAGING_SERVICE_SID) form.set('MessagingServiceSid', config.NOTIFICATIONS_TWILIO_MESSAGING_SERVICE_SID);
      else form.set('From', config.NOTIFICATIONS_TWILIO_FROM!);
      let res: Response;
      try {
        res = await fetch(url, { method: 'POST', headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded' }, body: form, signal: signal ?? null });
      } catch (e) {
        return { ok: false, retryable: true, error: `twilio: ${(e as Error).message}` };
      }
      const json = (await res.json().catch(() => ({}))) as { sid?: string; code?: number; message?: string };
      if (res.ok) return { ok: true, ref: json.sid ?? null };
      const error = `twilio ${res.status}${json.code ? ` ${json.code}` : ''}: ${json.message ?? ''}`.trim();
      // An unusable number is never retried; a key an operator can still fix (401), a rate limit or an outage is.
      const permanent = json.code !== undefined && PERMANENT_CODES.has(json.code);
      return { ok: false, retryable: !permanent && (res.status === 401 || res.status === 429 || res.status >= 500), error };
    },
  };
}

export const smsService = defineService<SmsSender, NotificationsConfig>({
  name: 'sms',
  feature: 'sms',
  create(runtime) {
    const config = runtime.config;
    if (config.NOTIFICATIONS_SMS_TRANSPORT === 'twilio') return twilioSender(config);
    return { transport: 'outbox', send: async () => ({ ok: true, ref: null }) };
  },
});
