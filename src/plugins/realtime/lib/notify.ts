/**
 * Call notifications through the optional `notifications` plugin: an incoming call and a missed call notify
 * the callee when that plugin is enabled, and nothing happens when it is not.
 *
 * Realtime reaches the notifications plugin only through its sending service (`notificationsSender`) and
 * `runtime.optionalService(token)`, behind the narrow `NotificationsSender` shape below; `realtimeCallNotifier`
 * adapts it to what the event handler needs and makes sure the call categories exist.
 */
import { defineService } from '../../../core/plugin.js';
import { notificationsSender, type NotificationCategory } from '../../notifications/index.js';

/** The part of the notifications plugin's sending service realtime uses (its `notificationsSend` action's shape). */
export interface NotificationsSender {
  send(input: {
    userIds: string[];
    category: string;
    title: string;
    body: string;
    data?: Record<string, unknown>;
    priority?: 'low' | 'normal' | 'high' | 'critical';
    idempotencyKey?: string;
  }): Promise<unknown>;
}

export const CALL_CATEGORIES = { incoming: 'realtime.call.incoming', missed: 'realtime.call.missed' } as const;

/** Created in the notifications plugin when missing; an operator may change their channels there. */
export const CALL_CATEGORY_DEFINITIONS: readonly NotificationCategory[] = [
  { key: CALL_CATEGORIES.incoming, description: 'An incoming voice or video call', defaultChannels: ['in_app', 'push'] },
  { key: CALL_CATEGORIES.missed, description: 'A call you missed', defaultChannels: ['in_app', 'push'] },
];

export interface CallNotice {
  callId: string;
  calleeId: string;
  callerId: string;
  type: string;
  roomId: string | null;
}

export interface CallNotifier {
  incoming(n: CallNotice): Promise<void>;
  missed(n: CallNotice): Promise<void>;
}

const KIND = { audio: 'voice call', video: 'video call', screen: 'screen share' } as Record<string, string>;

export function callNotifierFor(sender: NotificationsSender): CallNotifier {
  const data = (n: CallNotice, kind: string) => ({ callId: n.callId, callerId: n.callerId, type: n.type, roomId: n.roomId, kind });
  return {
    async incoming(n) {
      await sender.send({
        userIds: [n.calleeId],
        category: CALL_CATEGORIES.incoming,
        title: `Incoming ${KIND[n.type] ?? 'call'}`,
        body: `${n.callerId} is calling you`,
        data: data(n, 'incoming'),
        priority: 'high',
        // One notification per call and callee however often the event is delivered.
        idempotencyKey: `realtime.call.${n.callId}.${n.calleeId}.incoming`,
      });
    },
    async missed(n) {
      await sender.send({
        userIds: [n.calleeId],
        category: CALL_CATEGORIES.missed,
        title: `Missed ${KIND[n.type] ?? 'call'}`,
        body: `You missed a call from ${n.callerId}`,
        data: data(n, 'missed'),
        priority: 'normal',
        idempotencyKey: `realtime.call.${n.callId}.${n.calleeId}.missed`,
      });
    },
  };
}

/** `{ notifier }` is null when the notifications plugin is not enabled. */
export const realtimeCallNotifier = defineService<{ notifier: CallNotifier | null }>({
  name: 'call-notifier',
  feature: 'calls',
  async create(runtime) {
    const sender = runtime.optionalService(notificationsSender);
    if (!sender) return { notifier: null };
    await sender.ensureCategories(CALL_CATEGORY_DEFINITIONS);
    return { notifier: callNotifierFor(sender) };
  },
});
