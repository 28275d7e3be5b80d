import { definePlugin, type CronRetryConf, type TableSpec } from '../../core/plugin.js';
import { realtimeConfig } from './config.js';
import { realtimeCallNotifier } from './lib/notify.js';
import { realtimeJoinRoom } from '../../../actions/realtime/realtime-join-room.js';
import { realtimeLeaveRoom } from '../../../actions/realtime/realtime-leave-room.js';
import { realtimeCreateRoom } from '../../../actions/realtime/realtime-create-room.js';
import { realtimeDeleteRoom } from '../../../actions/realtime/realtime-delete-room.js';
import { realtimeHeartbeat } from '../../../actions/realtime/realtime-heartbeat.js';
import { realtimeSetStatus } from '../../../actions/realtime/realtime-set-status.js';
import { realtimeStartTyping } from '../../../actions/realtime/realtime-start-typing.js';
import { realtimeStopTyping } from '../../../actions/realtime/realtime-stop-typing.js';
import { realtimeBroadcast } from '../../../actions/realtime/realtime-broadcast.js';
import { realtimeBroadcastMany } from '../../../actions/realtime/realtime-broadcast-many.js';
import { realtimeStartCall } from '../../../actions/realtime/realtime-start-call.js';
import { realtimeAnswerCall } from '../../../actions/realtime/realtime-answer-call.js';
import { realtimeDeclineCall } from '../../../actions/realtime/realtime-decline-call.js';
import { realtimeEndCall } from '../../../actions/realtime/realtime-end-call.js';
import { realtimeSendSignal } from '../../../actions/realtime/realtime-send-signal.js';
import { realtimeIceServers } from '../../../actions/realtime/realtime-ice-servers.js';
import { realtimePresenceExpire } from '../../../cron-triggers/realtime/realtime-presence-expire.js';
import { realtimeTypingPrune } from '../../../cron-triggers/realtime/realtime-typing-prune.js';
import { realtimeEventsPrune } from '../../../cron-triggers/realtime/realtime-events-prune.js';
import { realtimeSignalsPrune } from '../../../cron-triggers/realtime/realtime-signals-prune.js';
import { realtimeCallsTimeout } from '../../../cron-triggers/realtime/realtime-calls-timeout.js';
import { realtimeParticipantNotify } from '../../../event-triggers/realtime/realtime-participant-notify.js';

const ME = 'X-Hasura-User-Id';
const USERS = ['user', 'service'];
const SERVICE = ['service'];

/** Room-scoped rows are readable by the room's members: an EXISTS on room_member's primary key. */
const MEMBERS_OF_ROOM = { room_members: { user_id: { _eq: ME } } };
const roomMembers = (schemaTable: string) => ({
  name: 'room_members',
  using: { manual_configuration: { remote_table: { schema: 'realtime', name: 'room_member' }, column_mapping: { room_id: 'room_id' } } },
  comment: `members of the ${schemaTable}'s room (the read permission walks it)`,
});
const service = (columns: string[]) => ({ role: 'service', permission: { columns, filter: {}, allow_aggregations: true } });
const t = (name: string) => ({ schema: 'realtime', name });

const ROOM_COLUMNS = ['id', 'type', 'private', 'parent_id', 'name', 'metadata', 'created_by', 'created_at'];
const MEMBER_COLUMNS = ['room_id', 'user_id', 'role', 'added_by', 'joined_at'];
/** current_room_id stays out: it could name a private room the reader is not in (users read it on their own devices). */
const USER_PRESENCE_COLUMNS = ['user_id', 'status', 'custom_status', 'custom_emoji', 'custom_status_expires_at', 'platform', 'last_seen_at', 'devices_online', 'updated_at'];
const USER_PRESENCE_SERVICE_COLUMNS = [...USER_PRESENCE_COLUMNS, 'current_room_id'];
const PRESENCE_COLUMNS = ['user_id', 'device_id', 'status', 'chosen_status', 'custom_status', 'custom_emoji', 'custom_status_expires_at', 'platform', 'current_room_id', 'last_seen_at', 'updated_at'];
const TYPING_COLUMNS = ['room_id', 'thread_id', 'user_id', 'started_at', 'expires_at'];
const EVENT_COLUMNS = ['id', 'room_id', 'type', 'payload', 'sender_id', 'created_at'];
const CALL_COLUMNS = ['id', 'room_id', 'type', 'state', 'initiator_id', 'ring_expires_at', 'created_at', 'answered_at', 'ended_at', 'ended_by', 'end_reason', 'duration_seconds', 'updated_at'];
const PARTICIPANT_COLUMNS = ['call_id', 'user_id', 'role', 'state', 'invited_at', 'joined_at', 'left_at', 'audio_muted', 'video_enabled', 'screen_sharing', 'updated_at'];
const SIGNAL_COLUMNS = ['id', 'call_id', 'from_user_id', 'to_user_id', 'kind', 'payload', 'created_at'];

const tables: TableSpec[] = [
  {
    table: t('room'),
    configuration: { custom_name: 'realtime_room' },
    array_relationships: [{ name: 'members', using: { foreign_key_constraint_on: { table: t('room_member'), column: 'room_id' } } }],
    object_relationships: [{ name: 'parent', using: { foreign_key_constraint_on: 'parent_id' } }],
    select_permissions: [
      { role: 'user', permission: { columns: ROOM_COLUMNS, filter: { _or: [{ private: { _eq: false } }, { members: { user_id: { _eq: ME } } }] } } },
      service(ROOM_COLUMNS),
    ],
  },
  {
    table: t('room_member'),
    configuration: { custom_name: 'realtime_room_member' },
    object_relationships: [{ name: 'room', using: { foreign_key_constraint_on: 'room_id' } }],
    array_relationships: [roomMembers('member')],
    select_permissions: [{ role: 'user', permission: { columns: MEMBER_COLUMNS, filter: MEMBERS_OF_ROOM, allow_aggregations: true } }, service(MEMBER_COLUMNS)],
  },
  {
    table: t('user_presence'),
    configuration: { custom_name: 'realtime_user_presence', comment: 'One status per user, folded from their devices' },
    array_relationships: [
      {
        name: 'memberships',
        using: { manual_configuration: { remote_table: t('room_member'), column_mapping: { user_id: 'user_id' } } },
        comment: 'the rooms the user is in: filter presence by room with { memberships: { room_id: { _eq: $roomId } } }',
      },
    ],
    select_permissions: [
      // Your own presence, and that of everyone you share a room with.
      { role: 'user', permission: { columns: USER_PRESENCE_COLUMNS, filter: { _or: [{ user_id: { _eq: ME } }, { memberships: MEMBERS_OF_ROOM }] } } },
      service(USER_PRESENCE_SERVICE_COLUMNS),
    ],
  },
  {
    table: t('presence'),
    configuration: { custom_name: 'realtime_presence', comment: 'Presence per device: users read their own devices' },
    select_permissions: [{ role: 'user', permission: { columns: PRESENCE_COLUMNS, filter: { user_id: { _eq: ME } } } }, service(PRESENCE_COLUMNS)],
  },
  {
    table: t('active_typing'),
    configuration: { custom_name: 'realtime_typing', comment: 'Who is typing now (expired rows are hidden at once)' },
    array_relationships: [roomMembers('typing row')],
    select_permissions: [{ role: 'user', permission: { columns: TYPING_COLUMNS, filter: MEMBERS_OF_ROOM } }, service(TYPING_COLUMNS)],
  },
  {
    table: t('event'),
    configuration: { custom_name: 'realtime_event', comment: 'Room broadcasts: subscribe with realtime_event_stream (cursor: id)' },
    array_relationships: [roomMembers('event')],
    select_permissions: [{ role: 'user', permission: { columns: EVENT_COLUMNS, filter: MEMBERS_OF_ROOM } }, service(EVENT_COLUMNS)],
  },
  {
    table: t('call'),
    configuration: { custom_name: 'realtime_call' },
    feature: 'calls',
    array_relationships: [{ name: 'participants', using: { foreign_key_constraint_on: { table: t('call_participant'), column: 'call_id' } } }],
    select_permissions: [{ role: 'user', permission: { columns: CALL_COLUMNS, filter: { participants: { user_id: { _eq: ME } } } } }, service(CALL_COLUMNS)],
  },
  {
    table: t('call_participant'),
    configuration: { custom_name: 'realtime_call_participant' },
    feature: 'calls',
    object_relationships: [{ name: 'call', using: { foreign_key_constraint_on: 'call_id' } }],
    select_permissions: [
      { role: 'user', permission: { columns: PARTICIPANT_COLUMNS, filter: { call: { participants: { user_id: { _eq: ME } } } } } },
      service(PARTICIPANT_COLUMNS),
    ],
    event_triggers: [
      {
        name: 'realtime_participant_notify',
        definition: { enable_manual: false, insert: { columns: '*' }, update: { columns: ['state'] } },
        retry_conf: { num_retries: 5, interval_sec: 10, timeout_sec: 30 },
        handler: realtimeParticipantNotify,
        comment: 'Incoming and missed call notifications through the notifications plugin, when enabled',
        feature: 'calls',
      },
    ],
  },
  {
    table: t('signal'),
    configuration: { custom_name: 'realtime_signal', comment: 'WebRTC signals: subscribe with realtime_signal_stream (cursor: id)' },
    feature: 'calls',
    object_relationships: [{ name: 'call', using: { foreign_key_constraint_on: 'call_id' } }],
    select_permissions: [{ role: 'user', permission: { columns: SIGNAL_COLUMNS, filter: { to_user_id: { _eq: ME } } } }, service(SIGNAL_COLUMNS)],
  },
];

const minutely: Partial<CronRetryConf> = { num_retries: 1, retry_interval_seconds: 10, timeout_seconds: 60, tolerance_seconds: 120 };

export const realtimePlugin = definePlugin({
  name: 'realtime',
  version: '0.1.0',
  description: 'Presence, typing, rooms, broadcasts and call signaling over GraphQL: actions write small rows, clients subscribe through Hasura.',
  optionalDependsOn: ['notifications'],
  config: realtimeConfig,
  features: {
    calls: { description: 'Voice/video/screen calls: call state machine, WebRTC signaling, TURN credentials, call notifications', default: true },
  },
  services: [realtimeCallNotifier],
  tables,
  actions: {
    realtimeJoinRoom: { handler: realtimeJoinRoom, permissions: USERS, timeout: 10 },
    realtimeLeaveRoom: { handler: realtimeLeaveRoom, permissions: USERS, timeout: 10 },
    realtimeCreateRoom: { handler: realtimeCreateRoom, permissions: SERVICE, timeout: 30 },
    realtimeDeleteRoom: { handler: realtimeDeleteRoom, permissions: SERVICE, timeout: 30 },
    realtimeHeartbeat: { handler: realtimeHeartbeat, permissions: USERS, timeout: 10 },
    realtimeSetStatus: { handler: realtimeSetStatus, permissions: USERS, timeout: 10 },
    realtimeStartTyping: { handler: realtimeStartTyping, permissions: USERS, timeout: 10 },
    realtimeStopTyping: { handler: realtimeStopTyping, permissions: USERS, timeout: 10 },
    realtimeBroadcast: { handler: realtimeBroadcast, permissions: USERS, timeout: 10 },
    realtimeBroadcastMany: { handler: realtimeBroadcastMany, permissions: SERVICE, timeout: 30 },
    realtimeStartCall: { handler: realtimeStartCall, permissions: USERS, timeout: 10, feature: 'calls' },
    realtimeAnswerCall: { handler: realtimeAnswerCall, permissions: USERS, timeout: 10, feature: 'calls' },
    realtimeDeclineCall: { handler: realtimeDeclineCall, permissions: USERS, timeout: 10, feature: 'calls' },
    realtimeEndCall: { handler: realtimeEndCall, permissions: USERS, timeout: 10, feature: 'calls' },
    realtimeSendSignal: { handler: realtimeSendSignal, permissions: USERS, timeout: 10, feature: 'calls' },
    realtimeIceServers: { handler: realtimeIceServers, permissions: USERS, timeout: 10, feature: 'calls' },
  },
  crons: {
    realtime_presence_expire: {
      schedule: '* * * * *',
      payload: {},
      retry_conf: minutely,
      comment: 'Devices without heartbeats go away, then offline; expired custom statuses clear; old devices are removed',
      handler: realtimePresenceExpire,
    },
    realtime_typing_prune: { schedule: '* * * * *', payload: {}, retry_conf: minutely, comment: 'Removes expired typing rows', handler: realtimeTypingPrune },
    realtime_calls_timeout: {
      schedule: '* * * * *',
      payload: {},
      retry_conf: minutely,
      comment: 'Ringing calls nobody answered in time become missed',
      handler: realtimeCallsTimeout,
      feature: 'calls',
    },
    realtime_events_prune: {
      schedule: '23 * * * *',
      payload: {},
      retry_conf: { num_retries: 3, retry_interval_seconds: 300, timeout_seconds: 300, tolerance_seconds: 3600 },
      comment: 'Removes broadcast events past REALTIME_EVENT_RETENTION_HOURS',
      handler: realtimeEventsPrune,
    },
    realtime_signals_prune: {
      schedule: '*/10 * * * *',
      payload: {},
      retry_conf: { num_retries: 2, retry_interval_seconds: 60, timeout_seconds: 120, tolerance_seconds: 600 },
      comment: 'Removes signals past REALTIME_SIGNAL_RETENTION_MINUTES',
      handler: realtimeSignalsPrune,
      feature: 'calls',
    },
  },
});
