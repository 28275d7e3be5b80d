import type { Queryable } from '../../../core/plugin.js';

/** Unread notifications of the centre (what the badge shows). */
export async function unreadCount(db: Queryable, userId: string): Promise<number> {
  const r = await db.query<{ n: number }>(
    'select count(*)::int as n from notifications.notification where user_id = $1 and in_app and read_at is null and archived_at is null',
    [userId],
  );
  return r.rows[0]!.n;
}

/** Channels whose feature is on. */
export function availableChannels(features: ReadonlySet<string>): Set<'push' | 'email' | 'sms'> {
  return new Set((['push', 'email', 'sms'] as const).filter((c) => features.has(c)));
}
