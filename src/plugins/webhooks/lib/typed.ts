/**
 * A typed webhook event for plugin code: the payload type comes from a zod schema, the catalogue entry (JSON
 * Schema, example) is derived from the same schema.
 *
 *   export const invoicePaid = defineWebhookEvent({ name: 'invoice.paid', description: '…', schema: z.object({ id: z.string() }) });
 *   await emitter.registerEventTypes([invoicePaid.eventType], 'stripe');   // at start
 *   await invoicePaid.emit(emitter, { id }, { idempotencyKey: event.id });  // payload checked by the type
 */
import { z } from 'zod';
import type { EmitInput, EmitResult, WebhookEventType } from './emit.js';
import type { WebhooksEmitter } from './service.js';

export interface WebhookEventDefinition<S extends z.ZodType> {
  readonly name: string;
  readonly eventType: WebhookEventType;
  emit(emitter: Pick<WebhooksEmitter, 'emit'>, payload: z.input<S>, opts?: Omit<EmitInput, 'type' | 'payload'>): Promise<EmitResult>;
}

export function defineWebhookEvent<S extends z.ZodType>(spec: { name: string; description: string; schema: S; example?: z.input<S> }): WebhookEventDefinition<S> {
  const jsonSchema = z.toJSONSchema(spec.schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete jsonSchema.$schema;
  return Object.freeze({
    name: spec.name,
    eventType: { name: spec.name, description: spec.description, schema: jsonSchema, ...(spec.example !== undefined ? { example: spec.example } : {}) },
    emit: async (emitter: Pick<WebhooksEmitter, 'emit'>, payload: z.input<S>, opts: Omit<EmitInput, 'type' | 'payload'> = {}) => emitter.emit({ ...opts, type: spec.name, payload: spec.schema.parse(payload) }),
  });
}
