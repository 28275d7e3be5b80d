import type { Readable } from 'node:stream';

export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  /** Streamed to SMTP; read into memory (base64) for the HTTP APIs, which take JSON. */
  open(): Promise<Readable>;
}

/** A rendered message as a transport receives it. */
export interface OutgoingEmail {
  /** email.message id: the Message-ID's local part and the providers' idempotency key. */
  id: string;
  from: string;
  to: string[];
  cc: string[];
  bcc: string[];
  replyTo: string | null;
  subject: string;
  html: string | null;
  text: string;
  /** Extra headers (List-Unsubscribe, List-Unsubscribe-Post). */
  headers: Record<string, string>;
  attachments: OutgoingAttachment[];
  category: string | null;
}

export interface TransportResult {
  /** The provider's id of the accepted message (SMTP: the Message-ID), matched by provider webhooks. */
  providerMessageId: string | null;
  /** Recipients the provider refused outright (SMTP RCPT 5xx): hard bounces. */
  rejected?: string[];
}

export interface EmailTransport {
  readonly name: 'outbox' | 'smtp' | 'sendgrid' | 'resend';
  send(message: OutgoingEmail, signal?: AbortSignal): Promise<TransportResult>;
  close(): Promise<void> | void;
}

/**
 * A send that did not go through. `retryable`: the provider or the network may do better later (outage,
 * rate limit, timeout, a 4xx SMTP reply); otherwise the message is failed for good (a 5xx SMTP reply, a request
 * the API refuses).
 */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly rejected: string[] = [],
  ) {
    super(message);
  }
}

export async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += b.length;
    if (size > limit) {
      stream.destroy();
      throw new TransportError(`attachment exceeds ${limit} bytes`, false);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

/** The domain of an address (`Name <a@b.example>` → `b.example`), for Message-IDs. */
export function domainOf(from: string): string {
  const m = /@([^>\s]+)>?\s*$/.exec(from);
  return m ? m[1]!.toLowerCase() : 'localhost';
}
