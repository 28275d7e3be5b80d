export interface PushMessage {
  notificationId: string;
  title: string;
  body: string | null;
  data: Record<string, unknown>;
  actionUrl: string | null;
  category: string;
  /** Collapse key: a later push with the same tag replaces the earlier one on the device. */
  tag: string;
  priority: 'low' | 'normal' | 'high' | 'critical';
  /** How long a push service keeps it for an offline device. */
  ttlSeconds: number;
}

export interface PushTarget {
  id: string;
  kind: 'webpush' | 'fcm' | 'apns';
  endpoint: string | null;
  p256dh: string | null;
  auth: string | null;
  token: string | null;
}

export type PushOutcome =
  | { ok: true; ref: string | null }
  /** `gone`: the subscription no longer exists (remove it); `retryable`: try again later. */
  | { ok: false; gone: boolean; retryable: boolean; error: string };

export interface PushSender {
  readonly kind: PushTarget['kind'];
  send(target: PushTarget, message: PushMessage, signal?: AbortSignal): Promise<PushOutcome>;
  close(): Promise<void> | void;
}

/** A status code's meaning for retries: 408, 429 and 5xx are transient. */
export const transientStatus = (status: number) => status === 408 || status === 429 || status >= 500;

/** Trims a body so the whole payload stays under a push service's limit (4 KB everywhere). */
export function fitBody(body: string | null, overhead: number, limit = 3800): string | null {
  if (body === null) return null;
  const room = limit - overhead;
  if (Buffer.byteLength(body) <= room) return body;
  let cut = body.slice(0, Math.max(0, room));
  while (Buffer.byteLength(cut) > room - 3) cut = cut.slice(0, -1);
  return `${cut}…`;
}
