import type { EmailTransport } from './types.js';

/**
 * The embedded default: nothing leaves the machine. The rendered message already sits in email.message, where
 * admins read it through GraphQL (`email_message(where: {transport: {_eq: "outbox"}})`).
 */
export function outboxTransport(): EmailTransport {
  return {
    name: 'outbox',
    async send(message) {
      return { providerMessageId: `outbox:${message.id}` };
    },
    close() {},
  };
}
