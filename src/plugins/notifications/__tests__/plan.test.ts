/** The pure parts of fan-out: quiet hours across midnight and DST, digest periods per zone, channel planning. */
import { describe, expect, it } from '@jest/globals';
import { planChannels, type NotificationRow, type PlanContext } from '../lib/plan.js';
import { digestDue, quietUntil } from '../lib/time.js';

describe('quietUntil', () => {
  it('ends a window over midnight at the next local end, also on a DST change day', () => {
    // 2025-03-30: Berlin goes from CET (+1) to CEST (+2) at 02:00.
    expect(quietUntil(new Date('2025-03-30T00:30:00Z'), 'Europe/Berlin', '22:00', '07:00')?.toISOString()).toBe('2025-03-30T05:00:00.000Z');
    expect(quietUntil(new Date('2025-03-29T21:30:00Z'), 'Europe/Berlin', '22:00', '07:00')?.toISOString()).toBe('2025-03-30T05:00:00.000Z');
    expect(quietUntil(new Date('2025-03-30T12:00:00Z'), 'Europe/Berlin', '22:00', '07:00')).toBeNull();
  });
  it('handles a daytime window, an empty one and a bad zone (read as UTC)', () => {
    expect(quietUntil(new Date('2025-06-02T10:00:00Z'), 'UTC', '09:00', '17:00')?.toISOString()).toBe('2025-06-02T17:00:00.000Z');
    expect(quietUntil(new Date('2025-06-02T10:00:00Z'), 'UTC', '09:00', '09:00')).toBeNull();
    expect(quietUntil(new Date('2025-06-02T10:00:00Z'), 'Nowhere/Else', '09:00', '17:00')?.toISOString()).toBe('2025-06-02T17:00:00.000Z');
  });
});

describe('digestDue', () => {
  it('is due at the local hour, once per local day or ISO week', () => {
    expect(digestDue(new Date('2030-07-01T13:00:00Z'), 'daily', 'America/New_York', 9, 1)).toBe('2030-07-01');
    expect(digestDue(new Date('2030-07-01T12:00:00Z'), 'daily', 'America/New_York', 9, 1)).toBeNull();
    expect(digestDue(new Date('2030-07-01T13:00:00Z'), 'weekly', 'America/New_York', 9, 1)).toBe('2030-W27');
    expect(digestDue(new Date('2030-07-02T13:00:00Z'), 'weekly', 'America/New_York', 9, 1)).toBeNull();
    expect(digestDue(new Date('2030-07-02T13:00:00Z'), 'hourly', 'Asia/Kolkata', 9, 1)).toBe('2030-07-02T13');
    // India is +05:30: the cron at 03:00 UTC falls in local hour 8.
    expect(digestDue(new Date('2030-07-02T03:00:00Z'), 'daily', 'Asia/Kolkata', 8, 1)).toBe('2030-07-02');
  });
});

describe('planChannels', () => {
  const n = (over: Partial<NotificationRow> = {}): NotificationRow => ({
    id: 'n1', user_id: 'u1', category: 'chat', group_key: null, priority: 'normal', channels: null, created_at: '2030-01-01T00:00:00Z', ...over,
  });
  const ctx = (over: Partial<PlanContext> = {}): PlanContext => ({
    now: new Date('2030-01-01T12:00:00Z'),
    available: new Set(['push', 'email', 'sms']),
    category: { default_channels: ['in_app', 'push'], critical: false, group_window_seconds: 300 },
    user: { time_zone: 'UTC', quiet_hours_start: null, quiet_hours_end: null, email: 'a@example.com', phone: '+491511234567' },
    preferences: [],
    devices: 1,
    recentGroupPush: false,
    ...over,
  });
  const summary = (p: ReturnType<typeof planChannels>) => p.map((d) => `${d.channel}:${d.status}${d.digest ? `:${d.digest}` : ''}`);

  it('follows the category defaults, then the user\'s setting for all, then for the category', () => {
    expect(summary(planChannels(n(), ctx()))).toEqual(['push:pending']);
    const all = [{ category: '*', channel: 'email', enabled: true, digest: 'off' }];
    expect(summary(planChannels(n(), ctx({ preferences: all })))).toEqual(['push:pending', 'email:pending']);
    const own = [...all, { category: 'chat', channel: 'email', enabled: false, digest: 'off' }];
    expect(summary(planChannels(n(), ctx({ preferences: own })))).toEqual(['push:pending', 'email:skipped']);
  });

  it('narrows to the channels the sender asked for; critical skips preferences, quiet hours and digests', () => {
    const prefs = [{ category: 'chat', channel: 'push', enabled: false, digest: 'off' }, { category: '*', channel: 'email', enabled: true, digest: 'daily' }];
    const quiet = { time_zone: 'UTC', quiet_hours_start: '11:00', quiet_hours_end: '13:00', email: 'a@example.com', phone: null };
    expect(summary(planChannels(n({ channels: ['email'] }), ctx({ preferences: prefs, user: quiet })))).toEqual(['email:digest:daily']);
    expect(summary(planChannels(n({ channels: ['push', 'email', 'sms'], priority: 'critical' }), ctx({ preferences: prefs, user: quiet })))).toEqual(['push:pending', 'email:pending', 'sms:skipped']);
  });

  it('defers during quiet hours, groups within the window, skips channels without an address or device or feature', () => {
    const quiet = { time_zone: 'UTC', quiet_hours_start: '11:00', quiet_hours_end: '13:00', email: null, phone: null };
    const p = planChannels(n({ channels: ['push', 'email', 'sms'] }), ctx({ user: quiet }));
    expect(summary(p)).toEqual(['push:deferred', 'email:skipped', 'sms:skipped']);
    expect(p[0]!.scheduledFor?.toISOString()).toBe('2030-01-01T13:00:00.000Z');
    expect(summary(planChannels(n({ group_key: 'room:1' }), ctx({ recentGroupPush: true })))).toEqual(['push:grouped']);
    expect(summary(planChannels(n(), ctx({ devices: 0 })))).toEqual(['push:skipped']);
    expect(summary(planChannels(n(), ctx({ available: new Set(['email']) })))).toEqual([]);
  });
});
