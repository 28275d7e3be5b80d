/**
 * Pure parts of the plugin: TURN credentials checked against WebCrypto's HMAC, signal payload rules per kind,
 * and what switching the `calls` feature off leaves.
 */
import { loadConfig } from '../../../core/config.js';
import { withFeatures } from '../../../core/features.js';
import { iceServers, turnCredential } from '../lib/ice.js';
import { kindFromGraphql, parseSignalPayload, SIGNAL_KINDS } from '../lib/signals.js';
import { realtimePlugin } from '../plugin.js';

describe('TURN credentials (coturn REST scheme)', () => {
  it('are base64(HMAC-SHA1(secret, "<expiry>:<user>")), as WebCrypto computes it', async () => {
    const { username, credential } = turnCredential('s3cret-value-0123456789', 'alice', 1_900_000_000);
    expect(username).toBe('1900000000:alice');
    const enc = new TextEncoder();
    const key = await crypto.subtle.importKey('raw', enc.encode('s3cret-value-0123456789'), { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
    const mac = Buffer.from(await crypto.subtle.sign('HMAC', key, enc.encode(username)));
    expect(credential).toBe(mac.toString('base64'));
    expect(mac).toHaveLength(20);
  });

  it('expire ttlSeconds from now, and without a secret only STUN is returned', () => {
    const now = Date.UTC(2030, 0, 1);
    const withTurn = iceServers({ stunUrls: ['stun:a:3478'], turnUrls: ['turn:a:3478'], secret: 'x'.repeat(16), ttlSeconds: 600 }, 'bob', now);
    expect(withTurn.expiresAt).toBe(new Date(now + 600_000).toISOString());
    expect(withTurn.iceServers[1]!.username).toBe(`${now / 1000 + 600}:bob`);
    const stunOnly = iceServers({ stunUrls: ['stun:a:3478'], turnUrls: ['turn:a:3478'], secret: undefined, ttlSeconds: 600 }, 'bob', now);
    expect(stunOnly).toEqual({ iceServers: [{ urls: ['stun:a:3478'], username: null, credential: null }], ttlSeconds: 600, expiresAt: null });
  });
});

describe('signal payloads', () => {
  const code = (f: () => unknown) => {
    try {
      f();
      return 'accepted';
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };

  it.each([
    ['offer', { sdp: 'v=0', type: 'offer' }, 'accepted'],
    ['offer', { sdp: 42 }, 'realtime/invalid-signal'],
    ['offer', {}, 'realtime/invalid-signal'],
    ['offer', { sdp: 'x'.repeat(2000) }, 'realtime/payload-too-large'],
    ['answer', { sdp: 'v=0', type: 'bogus' }, 'realtime/invalid-signal'],
    ['ice', { candidate: null }, 'accepted'],
    ['ice', { candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0 }, 'accepted'],
    ['ice', { candidate: 'c', sdpMLineIndex: -1 }, 'realtime/invalid-signal'],
    ['mute', { audio: 'yes' }, 'realtime/invalid-signal'],
    ['video', { enabled: false }, 'accepted'],
    ['screen-share', { enabled: true, extra: 1 }, 'realtime/invalid-signal'],
    ['hangup', {}, 'accepted'],
    ['renegotiate', 'v=0', 'realtime/invalid-signal'],
  ] as const)('%s %j → %s', (kind, payload, expected) => {
    expect(code(() => parseSignalPayload(kind, payload, 1024))).toBe(expected);
  });

  it('maps the GraphQL enum value screen_share to screen-share, and knows every kind', () => {
    expect(kindFromGraphql('screen_share')).toBe('screen-share');
    expect(SIGNAL_KINDS).toEqual(['offer', 'answer', 'ice', 'renegotiate', 'hangup', 'mute', 'video', 'screen-share']);
  });
});

describe('the calls feature', () => {
  it('off: no call tables, actions, crons, trigger or service, and its settings are not read', () => {
    const off = withFeatures(realtimePlugin, []);
    expect(off.tables!.map((t) => t.table.name)).toEqual(['room', 'room_member', 'user_presence', 'presence', 'active_typing', 'event']);
    expect(Object.keys(off.actions!).filter((a) => /Call|Signal|Ice/.test(a))).toEqual([]);
    expect(Object.keys(off.crons!)).toEqual(['realtime_presence_expire', 'realtime_typing_prune', 'realtime_events_prune']);
    expect(off.services ?? []).toEqual([]);
    const loaded = loadConfig({ REALTIME_FEATURES: 'none', REALTIME_TURN_SECRET: 'short' }, [realtimePlugin]);
    expect(loaded.plugins.map((p) => p.name)).toEqual(['realtime']);
  });

  it('on (the default): a short TURN secret is refused at boot', () => {
    expect(() => loadConfig({ REALTIME_TURN_SECRET: 'short' }, [realtimePlugin])).toThrow(/REALTIME_TURN_SECRET/);
  });
});
