import { ActionError, defineErrors } from '../../../core/errors.js';

export const WEBHOOKS_ERRORS = defineErrors({
  'webhooks/invalid-input': { status: 400, message: 'invalid input' },
  'webhooks/no-user': { status: 400, message: 'this needs a session with x-hasura-user-id' },
  'webhooks/url-refused': { status: 400, message: 'this endpoint URL is refused' },
  'webhooks/unknown-event-type': { status: 404, message: 'no event type with this name' },
  'webhooks/invalid-payload': { status: 400, message: 'the payload does not match the event type\'s schema' },
  'webhooks/payload-too-large': { status: 413, message: 'the payload is larger than WEBHOOKS_MAX_PAYLOAD_BYTES' },
  'webhooks/endpoint-not-found': { status: 404, message: 'no endpoint with this id' },
  'webhooks/message-not-found': { status: 404, message: 'no message with this id was sent to this endpoint' },
  'webhooks/incoming-not-found': { status: 404, message: 'no incoming webhook with this id' },
  'webhooks/too-many-endpoints': { status: 409, message: 'this owner has the most endpoints allowed' },
  'webhooks/endpoint-disabled': { status: 409, message: 'the endpoint is disabled' },
});

export type WebhooksErrorCode = keyof typeof WEBHOOKS_ERRORS;

export function webhooksError(code: WebhooksErrorCode, detail?: string, extensions?: Record<string, unknown>): ActionError {
  return ActionError.from(WEBHOOKS_ERRORS, code, detail, extensions);
}
