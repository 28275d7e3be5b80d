import { ActionError, defineErrors } from '../../../core/errors.js';

export const NOTIFICATIONS_ERRORS = defineErrors({
  'notifications/invalid-input': { status: 400, message: 'invalid input' },
  'notifications/no-user': { status: 400, message: 'this needs a session with x-hasura-user-id' },
  'notifications/unknown-category': { status: 404, message: 'no notification category with this key' },
  'notifications/unknown-topic': { status: 404, message: 'no topic with this key' },
  'notifications/topic-not-public': { status: 403, message: 'users may only subscribe themselves to public topics' },
  'notifications/too-many-recipients': { status: 400, message: 'too many recipients' },
  'notifications/no-recipients': { status: 400, message: 'give userIds or a topic' },
  'notifications/critical-category': { status: 409, message: 'critical notifications cannot be turned off' },
  'notifications/invalid-time-zone': { status: 400, message: 'unknown time zone' },
  'notifications/invalid-subscription': { status: 400, message: 'invalid push subscription' },
  'notifications/channel-off': { status: 400, message: 'this channel is not enabled on the server' },
  'notifications/template-failed': { status: 400, message: 'the template could not be rendered' },
  'notifications/idempotency-conflict': { status: 409, message: 'this idempotency key was used for a different send' },
});

export type NotificationsErrorCode = keyof typeof NOTIFICATIONS_ERRORS;

export function notificationsError(code: NotificationsErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(NOTIFICATIONS_ERRORS, code, detail, extensions);
}
