/**
 * `webhooksEmitter`: the plugin's service for other plugins' code and the app's jobs. Reached with
 * `ctx.service(webhooksEmitter)` (plugins listing `webhooks` in `dependsOn`) or `ctx.optionalService`.
 *
 *   await ctx.service(webhooksEmitter).registerEventTypes([{ name: 'invoice.paid', description: '…', schema }], 'stripe');
 *   await ctx.service(webhooksEmitter).emit({ type: 'invoice.paid', payload: { id }, idempotencyKey: event.id });
 */
import { defineService, type PluginRuntime } from '../../../core/plugin.js';
import type { WebhooksConfig } from '../config.js';
import { emit, registerEventTypes, type EmitDeps, type EmitInput, type EmitResult, type WebhookEventType } from './emit.js';
import { scheduleFirstAttempts } from './jobs.js';
import { batcherPer, StatementBatcher } from '../../../core/statement-batcher.js';

export interface WebhooksEmitter {
  /** Records a message for every enabled endpoint that takes its type (and channels) and starts their deliveries. */
  emit(input: EmitInput): Promise<EmitResult>;
  /** Adds or updates event types in the catalogue; safe to call at every start. */
  registerEventTypes(types: readonly WebhookEventType[], source: string): Promise<void>;
}

type EmitRuntime = Pick<PluginRuntime<WebhooksConfig>, 'db' | 'queue' | 'config' | 'log'>;

/**
 * The deliveries of emits made in the same turn (concurrent requests, a burst from one handler) go out as
 * shared jobs of up to DELIVERY_BATCH deliveries: a job's queue work (add, fetch, completion) is paid once for
 * them all. One batcher per queue.
 */
const firstAttempts = batcherPer((queue: EmitRuntime['queue']) => new StatementBatcher<string, void>(async (ids) => {
  await scheduleFirstAttempts({ queue }, ids);
  return ids.map(() => undefined);
}));

export function emitDepsOf(runtime: EmitRuntime): EmitDeps {
  return {
    db: runtime.db,
    queue: runtime.queue,
    config: runtime.config,
    log: runtime.log,
    enqueueDeliveries: async (ids) => {
      const batcher = firstAttempts(runtime.queue);
      await Promise.all(ids.map((id) => batcher.call(id)));
    },
  };
}

export const webhooksEmitter = defineService<WebhooksEmitter, WebhooksConfig>({
  name: 'emitter',
  create(runtime) {
    const deps = emitDepsOf(runtime);
    return {
      emit: (input) => emit(deps, input),
      registerEventTypes: (types, source) => registerEventTypes(runtime.db, types, source),
    };
  },
});
