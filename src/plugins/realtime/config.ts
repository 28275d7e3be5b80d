import { z } from 'zod';
import { forFeature, secret } from '../../core/config.js';

const int = (min: number, max: number, def: number, description: string) =>
  z.coerce.number().int().min(min).max(max).default(def).describe(description);

/** `true`/`false`/`1`/`0`/`yes`/`no` (`z.coerce.boolean()` would read "false" as true). */
const flag = (def: boolean, description: string) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .describe(description);

/** Comma-separated ICE URLs (`stun:`, `turn:`, `turns:`), each checked. */
const iceUrls = (scheme: RegExp, description: string) =>
  z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .refine((list) => list.every((u) => scheme.test(u)), { message: `every URL must start with ${scheme.source.replace(/[\^\\()]/g, '')}` })
    .describe(description);

/** Settings of the realtime plugin (apart from the manifest so handlers and lib name the type without a cycle). */
export const realtimeConfig = z.object({
  REALTIME_HEARTBEAT_MIN_INTERVAL_MS: int(0, 600_000, 5000, 'A device\'s heartbeats closer together than this are answered without a write (throttled: true); the limit holds across replicas because it is the row\'s own last_seen_at.'),
  REALTIME_AWAY_AFTER_SECONDS: int(10, 86_400, 90, 'A device without a heartbeat for this long shows away (clients send one every ~30 s while visible).'),
  REALTIME_OFFLINE_AFTER_SECONDS: int(20, 604_800, 300, 'A device without a heartbeat for this long shows offline.'),
  REALTIME_PRESENCE_RETENTION_DAYS: int(1, 3650, 30, 'Offline devices unseen this long are removed (each user keeps their latest device row, so "last seen" survives).'),
  REALTIME_TYPING_TTL_SECONDS: int(1, 120, 6, 'A typing indicator lasts this long unless renewed or stopped.'),
  REALTIME_TYPING_MIN_INTERVAL_MS: int(0, 60_000, 1000, 'Typing updates of one user in one room (and thread) closer together than this are answered without a write.'),
  REALTIME_BROADCAST_MAX_BYTES: int(16, 1_048_576, 65_536, 'Largest broadcast payload (JSON text, bytes).'),
  REALTIME_BROADCAST_PER_MINUTE: int(0, 1_000_000, 600, 'Broadcasts one user may send a minute through realtimeBroadcast (0: no limit); counted in PostgreSQL, so the limit holds across replicas. The service role is not limited.'),
  REALTIME_BROADCAST_MAX_ROOMS: int(1, 100_000, 1000, 'Rooms one realtimeBroadcastMany call may address in total.'),
  REALTIME_EVENT_RETENTION_HOURS: int(1, 8760, 72, 'Broadcast events older than this are pruned (a client resuming a _stream later misses them).'),
  REALTIME_CALL_RING_SECONDS: forFeature('calls', int(5, 600, 45, 'A ringing call nobody answers becomes missed after this long.')),
  REALTIME_CALL_MAX_PARTICIPANTS: forFeature('calls', int(2, 100, 8, 'Participants of one call, the caller included.')),
  REALTIME_CALL_REQUIRE_SHARED_ROOM: forFeature('calls', flag(true, 'A direct call (no roomId) needs the caller and every callee to share a room, so strangers cannot ring anyone.')),
  REALTIME_SIGNAL_MAX_BYTES: forFeature('calls', int(256, 1_048_576, 65_536, 'Largest signal payload (JSON text, bytes); an SDP longer than this is refused.')),
  REALTIME_SIGNAL_RETENTION_MINUTES: forFeature('calls', int(1, 10_080, 60, 'Signals older than this are pruned.')),
  REALTIME_STUN_URLS: forFeature('calls', iceUrls(/^stuns?:/, 'Comma-separated STUN URLs returned by realtimeIceServers (e.g. stun:turn.example.com:3478).')),
  REALTIME_TURN_URLS: forFeature('calls', iceUrls(/^turns?:/, 'Comma-separated TURN URLs (e.g. turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349).')),
  REALTIME_TURN_SECRET: forFeature('calls', secret(z.string().min(16, 'must be at least 16 characters')).optional().describe('coturn\'s static-auth-secret (use-auth-secret): TURN credentials are HMAC-SHA1 of "<expiry>:<user id>". Without it realtimeIceServers returns STUN only.')),
  REALTIME_TURN_TTL_SECONDS: forFeature('calls', int(60, 604_800, 3600, 'Lifetime of TURN credentials.')),
});

export type RealtimeConfig = z.infer<typeof realtimeConfig>;
