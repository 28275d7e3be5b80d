/**
 * The pure parts: the retry schedule with jitter and Retry-After, Standard Webhooks signatures as consumers
 * verify them (v1 with the `standardwebhooks` library, v1a with ed25519), and the typed event helper.
 */
import { describe, expect, it } from '@jest/globals';
import { verify } from 'node:crypto';
import { z } from 'zod';
import { Webhook } from 'standardwebhooks';
import { nextRetryDelay, parseRetryAfter } from '../lib/schedule.js';
import { newSecret, publicKeyOf, signatureHeaders } from '../lib/signing.js';
import { defineWebhookEvent } from '../lib/typed.js';
import type { EmitInput } from '../lib/emit.js';

describe('retry schedule', () => {
  const schedule = [5, 300, 1800];
  it('follows the schedule with bounded jitter and ends after it', () => {
    expect(nextRetryDelay({ schedule, failures: 1, jitter: 0.2, random: () => 0.5 })).toBe(5);
    expect(nextRetryDelay({ schedule, failures: 2, jitter: 0.2, random: () => 0 })).toBe(240);
    expect(nextRetryDelay({ schedule, failures: 3, jitter: 0.2, random: () => 0.999999 })).toBe(2160);
    expect(nextRetryDelay({ schedule, failures: 4, jitter: 0.2 })).toBeNull();
  });
  it('waits at least as long as Retry-After asks, never less than the schedule', () => {
    expect(nextRetryDelay({ schedule, failures: 1, jitter: 0, retryAfterSeconds: 120 })).toBe(120);
    expect(nextRetryDelay({ schedule, failures: 2, jitter: 0, retryAfterSeconds: 1 })).toBe(300);
  });
  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(60);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});

describe('signatures', () => {
  const body = JSON.stringify({ type: 'a.b', timestamp: '2026-01-01T00:00:00.000Z', data: { x: 1 } });
  it('v1 verifies with the standardwebhooks library; a changed byte does not', () => {
    const s = newSecret('v1');
    expect(s.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const headers = signatureHeaders([s], 'msg_1', new Date(), body);
    expect(() => new Webhook(s.secret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(s.secret).verify(body.replace('1', '2'), headers)).toThrow();
    expect(() => new Webhook(newSecret('v1').secret).verify(body, headers)).toThrow();
  });
  it('v1a is ed25519 over id.timestamp.body, verified with the public key', () => {
    const s = newSecret('v1a');
    const h = signatureHeaders([s], 'msg_2', new Date(), body);
    const [scheme, sig] = h['webhook-signature']!.split(',');
    expect(scheme).toBe('v1a');
    expect(verify(null, Buffer.from(`msg_2.${h['webhook-timestamp']}.${body}`), publicKeyOf(s.publicKey!), Buffer.from(sig!, 'base64'))).toBe(true);
  });
  it('signs with every live secret during a rotation', () => {
    const [a, b] = [newSecret('v1'), newSecret('v1')];
    const h = signatureHeaders([b, a], 'msg_3', new Date(), body);
    expect(h['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(() => new Webhook(a.secret).verify(body, h)).not.toThrow();
    expect(() => new Webhook(b.secret).verify(body, h)).not.toThrow();
  });
});

describe('defineWebhookEvent', () => {
  it('derives the catalogue entry from the zod schema and checks payloads before emitting', async () => {
    const paid = defineWebhookEvent({ name: 'invoice.paid', description: 'An invoice was paid', schema: z.object({ id: z.string(), amount: z.number().int() }), example: { id: 'in_1', amount: 1 } });
    expect(paid.eventType).toMatchObject({ name: 'invoice.paid', schema: { type: 'object', required: ['id', 'amount'] }, example: { id: 'in_1', amount: 1 } });
    const calls: EmitInput[] = [];
    const emitter = { emit: async (i: EmitInput) => (calls.push(i), { messageId: 'm', created: true, deliveries: 0 }) };
    await paid.emit(emitter, { id: 'in_2', amount: 5 }, { idempotencyKey: 'k' });
    expect(calls).toEqual([{ idempotencyKey: 'k', type: 'invoice.paid', payload: { id: 'in_2', amount: 5 } }]);
    await expect(paid.emit(emitter, { id: 'in_3', amount: 1.5 })).rejects.toThrow();
    expect(calls).toHaveLength(1);
  });
});
