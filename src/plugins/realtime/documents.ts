/**
 * The GraphQL documents a client runs for each realtime feature, named after the frontend's
 * `useRealtime()` calls, with the Socket.io events of the chat app each one replaces. The README shows them,
 * the tests run them (actions through the harness; subscriptions as the SQL below), and the `nself-plugins dev`
 * endpoint can run them verbatim.
 *
 * For every subscription, `sql` is the statement Hasura's multiplexed subscription runs for its subscribers
 * (`$1` the subscribers' result ids, `$2` their variables: `{query, session, cursor}`), with the role `user`'s
 * select permission from the manifest compiled in as Hasura does (relationships as EXISTS subqueries, session
 * variables read from the subscriber's variables). Tests compare its rows with the harness's permission engine,
 * the benchmark measures it.
 */

export interface RealtimeDocument {
  /** The frontend call (`useRealtime()`) this implements. */
  name: string;
  /** Socket.io events of the chat app this replaces. */
  replaces: string[];
  kind: 'mutation' | 'query' | 'subscription';
  document: string;
  /** Example variables (the tests and the benchmark use these shapes). */
  variables: Record<string, unknown>;
  /** Subscriptions: the SQL Hasura runs (see above). */
  sql?: string;
  /** Subscriptions: the table whose rows it returns and the `where` the document applies, for comparing with the harness. */
  table?: { schema: string; name: string };
  where?: (variables: Record<string, any>) => Record<string, unknown>;
  /** Subscriptions: the key of each returned row (compared with the harness's rows). */
  key?: string;
  /** `_stream`: the cursor column. */
  cursor?: string;
}

/* ------------------------------------------------------------------ the SQL shape of Hasura's subscriptions */

const session = `(("_subs"."result_vars"#>>ARRAY['session', 'x-hasura-user-id']))::text`;
const v = (name: string, type = 'text') => `(("_subs"."result_vars"#>>ARRAY['query', '${name}']))::${type}`;
const vArray = (name: string) => `ARRAY(SELECT json_array_elements_text(("_subs"."result_vars"#>'{query,${name}}')))`;
const cursor = (name: string, type: string) => `(("_subs"."result_vars"#>>ARRAY['cursor', '${name}']))::${type}`;

/** `room_members: { user_id: { _eq: X-Hasura-User-Id } }` as Hasura compiles it on a table with `room_id`. */
const memberOfRoom = (table: string, alias = '__be_0_realtime_room_member') =>
  `EXISTS (SELECT 1 FROM "realtime"."room_member" AS "${alias}"
            WHERE (("${alias}"."room_id") = (${table}."room_id"))
              AND (("${alias}"."user_id") = (${session})))`;

const json = (alias: string, columns: readonly string[]) =>
  `row_to_json((SELECT "_e" FROM (SELECT ${columns.map((c) => `${alias}."${c}" AS "${c}"`).join(', ')}) AS "_e"))`;

/** A live query over one table: `SELECT * FROM table WHERE (permission) AND (where)`, rows as a json array. */
function liveQuery(o: { root: string; table: string; permission: string; where: string; columns: readonly string[]; orderBy: string; extra?: Record<string, string> }): string {
  const extra = Object.entries(o.extra ?? {}).map(([k, expr]) => `, '${k}', ${expr}`).join('');
  return `SELECT "_subs"."result_id", "_fld_resp"."root" AS "result"
  FROM UNNEST(($1)::uuid[], ($2)::json[]) AS "_subs"("result_id", "result_vars")
  LEFT OUTER JOIN LATERAL (
    SELECT json_build_object('${o.root}', "_${o.root}"."root") AS "root"
      FROM (SELECT coalesce(json_agg("root" ORDER BY "root.ord"), '[]') AS "root"
              FROM (SELECT (${json('"_root.base"', o.columns)}::jsonb${extra ? ` || jsonb_build_object(${extra.slice(2)})` : ''})::json AS "root",
                           row_number() OVER (ORDER BY ${o.orderBy.replaceAll('T.', '"_root.base".')}) AS "root.ord"
                      FROM (SELECT * FROM ${o.table}
                             WHERE ((${o.permission}) AND (${o.where}))) AS "_root.base") AS "_root") AS "_${o.root}"
  ) AS "_fld_resp" ON ('true')`;
}

/** A `_stream` subscription: rows after the subscriber's cursor, in cursor order, `batch` at a time, and the next cursor. */
function stream(o: { root: string; table: string; permission: string; where: string; columns: readonly string[]; cursor: string; cursorType: string; batch: number }): string {
  return `SELECT "_subs"."result_id", "_fld_resp"."root" AS "result", "_fld_resp"."cursor" AS "cursor"
  FROM UNNEST(($1)::uuid[], ($2)::json[]) AS "_subs"("result_id", "result_vars")
  LEFT OUTER JOIN LATERAL (
    SELECT json_build_object('${o.root}', "_root"."root") AS "root",
           json_build_object('${o.cursor}', "_root"."cursor"::text) AS "cursor"
      FROM (SELECT coalesce(json_agg("root" ORDER BY "root.pg.${o.cursor}" ASC), '[]') AS "root",
                   max("root.pg.${o.cursor}") AS "cursor"
              FROM (SELECT ${json('"_root.base"', o.columns)} AS "root", "_root.base"."${o.cursor}" AS "root.pg.${o.cursor}"
                      FROM (SELECT * FROM ${o.table}
                             WHERE ((${o.permission}) AND (${o.where})
                                    AND (${o.table}."${o.cursor}" > ${cursor(o.cursor, o.cursorType)}))
                             ORDER BY ${o.table}."${o.cursor}" ASC
                             LIMIT ${o.batch}) AS "_root.base") AS "_root0") AS "_root"
  ) AS "_fld_resp" ON ('true')`;
}

const TYPING = '"realtime"."active_typing"';
const USER_PRESENCE = '"realtime"."user_presence"';
const EVENT = '"realtime"."event"';
const MEMBER = '"realtime"."room_member"';
const PARTICIPANT = '"realtime"."call_participant"';
const CALL = '"realtime"."call"';
const SIGNAL = '"realtime"."signal"';

/** user_presence's permission: yourself, or anyone in a room you are in (memberships → room_members). */
const presencePermission = `((${USER_PRESENCE}."user_id") = (${session}))
  OR EXISTS (SELECT 1 FROM "realtime"."room_member" AS "__be_0_realtime_room_member"
              WHERE (("__be_0_realtime_room_member"."user_id") = (${USER_PRESENCE}."user_id"))
                AND ${memberOfRoom('"__be_0_realtime_room_member"', '__be_1_realtime_room_member')})`;

/** call's permission: you take part in it. */
const participates = (callId: string, alias = '__be_2_realtime_call_participant') =>
  `EXISTS (SELECT 1 FROM "realtime"."call_participant" AS "${alias}"
            WHERE (("${alias}"."call_id") = (${callId})) AND (("${alias}"."user_id") = (${session})))`;

const PRESENCE_COLUMNS = ['user_id', 'status', 'custom_status', 'custom_emoji'] as const;
const CALL_COLUMNS = ['id', 'type', 'state', 'room_id', 'initiator_id', 'ring_expires_at'] as const;
const PARTICIPANT_COLUMNS = ['user_id', 'role', 'state', 'audio_muted', 'video_enabled', 'screen_sharing'] as const;

/* ------------------------------------------------------------------ the documents */

export const REALTIME_DOCUMENTS: readonly RealtimeDocument[] = [
  {
    name: 'joinRoom',
    replaces: ['room:join', 'channel:join'],
    kind: 'mutation',
    document: `mutation JoinRoom($roomId: String!) {
  realtimeJoinRoom(roomId: $roomId) { roomId role created }
}`,
    variables: { roomId: 'channel:general' },
  },
  {
    name: 'leaveRoom',
    replaces: ['room:leave', 'channel:leave'],
    kind: 'mutation',
    document: `mutation LeaveRoom($roomId: String!) {
  realtimeLeaveRoom(roomId: $roomId) { left }
}`,
    variables: { roomId: 'channel:general' },
  },
  {
    name: 'onRoomMembers',
    replaces: ['user:joined', 'user:left', 'channel:member_join', 'channel:member_leave', 'room:joined'],
    kind: 'subscription',
    document: `subscription OnRoomMembers($roomId: String!) {
  realtime_room_member(where: { room_id: { _eq: $roomId } }, order_by: { joined_at: asc }) { user_id role joined_at }
}`,
    variables: { roomId: 'channel:general' },
    table: { schema: 'realtime', name: 'room_member' },
    where: (q) => ({ room_id: { _eq: q.roomId } }),
    key: 'user_id',
    sql: liveQuery({
      root: 'realtime_room_member',
      table: MEMBER,
      permission: memberOfRoom(MEMBER),
      where: `((${MEMBER}."room_id") = (${v('roomId')}))`,
      columns: ['user_id', 'role', 'joined_at'],
      orderBy: 'T."joined_at" ASC',
    }),
  },
  {
    name: 'updatePresence',
    replaces: ['presence:update', 'ping'],
    kind: 'mutation',
    document: `mutation Heartbeat($deviceId: String!, $roomId: String, $idle: Boolean) {
  realtimeHeartbeat(deviceId: $deviceId, platform: "web", roomId: $roomId, idle: $idle) { status throttled }
}`,
    variables: { deviceId: 'browser-tab-1', roomId: 'channel:general', idle: false },
  },
  {
    name: 'setStatus',
    replaces: ['presence:update {status, customStatus}'],
    kind: 'mutation',
    document: `mutation SetStatus($status: RealtimeStatus!, $customStatus: String, $customEmoji: String, $clearAfterSeconds: Int) {
  realtimeSetStatus(status: $status, customStatus: $customStatus, customEmoji: $customEmoji, clearAfterSeconds: $clearAfterSeconds) { status customStatus customEmoji }
}`,
    variables: { status: 'dnd', customStatus: 'In a meeting', customEmoji: '📅', clearAfterSeconds: 3600 },
  },
  {
    name: 'onPresenceChange',
    replaces: ['presence:changed', 'presence:bulk', 'presence:bulk_update', 'presence:get'],
    kind: 'subscription',
    // last_seen_at moves with every heartbeat: select it in a query when showing "last seen", not here.
    document: `subscription OnPresenceChange($roomId: String!) {
  realtime_user_presence(where: { memberships: { room_id: { _eq: $roomId } } }) { user_id status custom_status custom_emoji }
}`,
    variables: { roomId: 'channel:general' },
    table: { schema: 'realtime', name: 'user_presence' },
    where: (q) => ({ memberships: { room_id: { _eq: q.roomId } } }),
    key: 'user_id',
    sql: liveQuery({
      root: 'realtime_user_presence',
      table: USER_PRESENCE,
      permission: presencePermission,
      // A filter through a relationship also applies the role's permission on the related table (room_member).
      where: `EXISTS (SELECT 1 FROM "realtime"."room_member" AS "__be_3_realtime_room_member"
                 WHERE (("__be_3_realtime_room_member"."user_id") = (${USER_PRESENCE}."user_id"))
                   AND (("__be_3_realtime_room_member"."room_id") = (${v('roomId')}))
                   AND ${memberOfRoom('"__be_3_realtime_room_member"', '__be_6_realtime_room_member')})`,
      columns: PRESENCE_COLUMNS,
      orderBy: 'T."user_id"',
    }),
  },
  {
    name: 'onUsersPresence',
    replaces: ['presence:subscribe {userIds}', 'presence:unsubscribe'],
    kind: 'subscription',
    document: `subscription OnUsersPresence($userIds: [String!]!) {
  realtime_user_presence(where: { user_id: { _in: $userIds } }) { user_id status custom_status custom_emoji }
}`,
    variables: { userIds: ['alice', 'bob'] },
    table: { schema: 'realtime', name: 'user_presence' },
    where: (q) => ({ user_id: { _in: q.userIds } }),
    key: 'user_id',
    sql: liveQuery({
      root: 'realtime_user_presence',
      table: USER_PRESENCE,
      permission: presencePermission,
      where: `((${USER_PRESENCE}."user_id") = ANY (${vArray('userIds')}))`,
      columns: PRESENCE_COLUMNS,
      orderBy: 'T."user_id"',
    }),
  },
  {
    name: 'sendTyping',
    replaces: ['typing:start', 'POST /typing {isTyping: true}'],
    kind: 'mutation',
    document: `mutation StartTyping($roomId: String!, $threadId: String) {
  realtimeStartTyping(roomId: $roomId, threadId: $threadId) { expiresAt throttled }
}`,
    variables: { roomId: 'channel:general', threadId: null },
  },
  {
    name: 'stopTyping',
    replaces: ['typing:stop', 'POST /typing {isTyping: false}'],
    kind: 'mutation',
    document: `mutation StopTyping($roomId: String!, $threadId: String) {
  realtimeStopTyping(roomId: $roomId, threadId: $threadId) { typing }
}`,
    variables: { roomId: 'channel:general', threadId: null },
  },
  {
    name: 'onTyping',
    replaces: ['typing:event', 'typing:update', 'typing:batch'],
    kind: 'subscription',
    // Pass threadId to watch a thread; the room itself is thread_id null ({ _is_null: true }).
    document: `subscription OnTyping($roomId: String!) {
  realtime_typing(where: { room_id: { _eq: $roomId } }, order_by: { started_at: asc }) { user_id thread_id expires_at }
}`,
    variables: { roomId: 'channel:general' },
    table: { schema: 'realtime', name: 'active_typing' },
    where: (q) => ({ room_id: { _eq: q.roomId } }),
    key: 'user_id',
    sql: liveQuery({
      root: 'realtime_typing',
      table: TYPING,
      permission: memberOfRoom(TYPING),
      where: `((${TYPING}."room_id") = (${v('roomId')}))`,
      columns: ['user_id', 'thread_id', 'expires_at'],
      orderBy: 'T."started_at" ASC',
    }),
  },
  {
    name: 'broadcast',
    replaces: ['message:send', 'POST /api/broadcast (as the service role: realtimeBroadcastMany)'],
    kind: 'mutation',
    document: `mutation Broadcast($roomId: String!, $type: String!, $payload: jsonb, $dedupKey: String) {
  realtimeBroadcast(roomId: $roomId, type: $type, payload: $payload, dedupKey: $dedupKey) { id createdAt duplicate recipientCount }
}`,
    variables: { roomId: 'channel:general', type: 'message:new', payload: { messageId: 'm1' }, dedupKey: 'm1' },
  },
  {
    name: 'onRoomEvents',
    replaces: ['message:new', 'message:update', 'message:delete', 'reaction:*', 'channel:update', 'thread:*', 'read_receipt:update', 'user:joined', 'user:left'],
    kind: 'subscription',
    // Resume from the last id seen (0 for everything still kept); member:joined / member:left come here too.
    document: `subscription OnRoomEvents($roomId: String!, $after: bigint!) {
  realtime_event_stream(batch_size: 100, cursor: { initial_value: { id: $after }, ordering: ASC }, where: { room_id: { _eq: $roomId } }) {
    id type payload sender_id created_at
  }
}`,
    variables: { roomId: 'channel:general', after: 0 },
    table: { schema: 'realtime', name: 'event' },
    where: (q) => ({ room_id: { _eq: q.roomId }, id: { _gt: q.after } }),
    key: 'id',
    cursor: 'id',
    sql: stream({
      root: 'realtime_event_stream',
      table: EVENT,
      permission: memberOfRoom(EVENT),
      where: `((${EVENT}."room_id") = (${v('roomId')}))`,
      columns: ['id', 'type', 'payload', 'sender_id', 'created_at'],
      cursor: 'id',
      cursorType: 'bigint',
      batch: 100,
    }),
  },
  {
    name: 'startCall',
    replaces: ['call:initiate'],
    kind: 'mutation',
    document: `mutation StartCall($type: RealtimeCallType!, $userIds: [String!], $roomId: String) {
  realtimeStartCall(type: $type, userIds: $userIds, roomId: $roomId) { id state ringExpiresAt participants { userId state } }
}`,
    variables: { type: 'video', userIds: ['bob'], roomId: null },
  },
  {
    name: 'onIncomingCall',
    replaces: ['call:ring', 'call:cancelled', 'call:timeout'],
    kind: 'subscription',
    document: `subscription OnIncomingCall($me: String!) {
  realtime_call_participant(where: { user_id: { _eq: $me }, state: { _eq: "invited" } }) {
    call_id call { id type state room_id initiator_id ring_expires_at }
  }
}`,
    variables: { me: 'bob' },
    table: { schema: 'realtime', name: 'call_participant' },
    where: (q) => ({ user_id: { _eq: q.me }, state: { _eq: 'invited' } }),
    key: 'call_id',
    sql: liveQuery({
      root: 'realtime_call_participant',
      table: PARTICIPANT,
      // call_participant's permission: { call: { participants: { user_id: { _eq: X-Hasura-User-Id } } } }
      permission: `EXISTS (SELECT 1 FROM "realtime"."call" AS "__be_0_realtime_call"
                     WHERE (("__be_0_realtime_call"."id") = (${PARTICIPANT}."call_id")) AND ${participates('"__be_0_realtime_call"."id"')})`,
      where: `((${PARTICIPANT}."user_id") = (${v('me')})) AND ((${PARTICIPANT}."state") = ('invited'))`,
      columns: ['call_id'],
      orderBy: 'T."invited_at" ASC',
      extra: {
        call: `(SELECT ${json('"_c"', CALL_COLUMNS)} FROM (SELECT * FROM ${CALL} WHERE ((${CALL}."id") = ("_root.base"."call_id")) AND ${participates(`${CALL}."id"`)} LIMIT 1) AS "_c")`,
      },
    }),
  },
  {
    name: 'answerCall',
    replaces: ['call:accept'],
    kind: 'mutation',
    document: `mutation AnswerCall($callId: uuid!) {
  realtimeAnswerCall(callId: $callId) { id state }
}`,
    variables: { callId: '00000000-0000-4000-8000-000000000000' },
  },
  {
    name: 'declineCall',
    replaces: ['call:decline'],
    kind: 'mutation',
    document: `mutation DeclineCall($callId: uuid!) {
  realtimeDeclineCall(callId: $callId) { id state }
}`,
    variables: { callId: '00000000-0000-4000-8000-000000000000' },
  },
  {
    name: 'endCall',
    replaces: ['call:end', 'call:cancelled'],
    kind: 'mutation',
    document: `mutation EndCall($callId: uuid!, $reason: String) {
  realtimeEndCall(callId: $callId, reason: $reason) { id state durationSeconds }
}`,
    variables: { callId: '00000000-0000-4000-8000-000000000000', reason: 'hangup' },
  },
  {
    name: 'onCall',
    replaces: ['call:accept', 'call:decline', 'call:busy', 'call:timeout', 'call:end', 'call:participant:joined', 'call:participant:left', 'call:mute:changed', 'call:video:changed', 'call:screen-share:started', 'call:screen-share:stopped'],
    kind: 'subscription',
    document: `subscription OnCall($callId: uuid!) {
  realtime_call(where: { id: { _eq: $callId } }) {
    id type state ring_expires_at
    participants { user_id role state audio_muted video_enabled screen_sharing }
  }
}`,
    variables: { callId: '00000000-0000-4000-8000-000000000000' },
    table: { schema: 'realtime', name: 'call' },
    where: (q) => ({ id: { _eq: q.callId } }),
    key: 'id',
    sql: liveQuery({
      root: 'realtime_call',
      table: CALL,
      permission: participates(`${CALL}."id"`),
      where: `((${CALL}."id") = (${v('callId', 'uuid')}))`,
      columns: ['id', 'type', 'state', 'ring_expires_at'],
      orderBy: 'T."id"',
      extra: {
        participants: `(SELECT coalesce(json_agg(${json('"_p"', PARTICIPANT_COLUMNS)}), '[]') FROM (SELECT * FROM ${PARTICIPANT}
                          WHERE ((${PARTICIPANT}."call_id") = ("_root.base"."id"))
                            AND EXISTS (SELECT 1 FROM "realtime"."call" AS "__be_4_realtime_call"
                                         WHERE (("__be_4_realtime_call"."id") = (${PARTICIPANT}."call_id")) AND ${participates('"__be_4_realtime_call"."id"', '__be_5_realtime_call_participant')})) AS "_p")`,
      },
    }),
  },
  {
    name: 'sendSignal',
    replaces: ['call:offer', 'call:answer', 'call:ice-candidate', 'call:renegotiate', 'call:mute:changed', 'call:video:changed', 'call:screen-share:started', 'call:screen-share:stopped'],
    kind: 'mutation',
    document: `mutation SendSignal($callId: uuid!, $to: String, $kind: RealtimeSignalKind!, $payload: jsonb!) {
  realtimeSendSignal(callId: $callId, toUserId: $to, kind: $kind, payload: $payload) { ids recipients }
}`,
    variables: { callId: '00000000-0000-4000-8000-000000000000', to: 'bob', kind: 'offer', payload: { sdp: 'v=0…', type: 'offer' } },
  },
  {
    name: 'onSignals',
    replaces: ['call:offer', 'call:answer', 'call:ice-candidate', 'call:renegotiate'],
    kind: 'subscription',
    document: `subscription OnSignals($callId: uuid!, $after: bigint!) {
  realtime_signal_stream(batch_size: 50, cursor: { initial_value: { id: $after }, ordering: ASC }, where: { call_id: { _eq: $callId } }) {
    id from_user_id kind payload
  }
}`,
    variables: { callId: '00000000-0000-4000-8000-000000000000', after: 0 },
    table: { schema: 'realtime', name: 'signal' },
    where: (q) => ({ call_id: { _eq: q.callId }, id: { _gt: q.after } }),
    key: 'id',
    cursor: 'id',
    sql: stream({
      root: 'realtime_signal_stream',
      table: SIGNAL,
      permission: `((${SIGNAL}."to_user_id") = (${session}))`,
      where: `((${SIGNAL}."call_id") = (${v('callId', 'uuid')}))`,
      columns: ['id', 'from_user_id', 'kind', 'payload'],
      cursor: 'id',
      cursorType: 'bigint',
      batch: 50,
    }),
  },
  {
    name: 'iceServers',
    replaces: ['(TURN credentials handed out by the app)'],
    kind: 'query',
    document: `query IceServers {
  realtimeIceServers { iceServers { urls username credential } ttlSeconds expiresAt }
}`,
    variables: {},
  },
];

export const realtimeDocument = (name: string): RealtimeDocument => {
  const d = REALTIME_DOCUMENTS.find((x) => x.name === name);
  if (!d) throw new Error(`no realtime document ${name}`);
  return d;
};

/** The `$2` element for one subscriber: its variables, session and (streams) cursor, as Hasura passes them. */
export function subscriberVars(d: RealtimeDocument, userId: string, variables: Record<string, unknown> = d.variables): string {
  const query = Object.fromEntries(Object.entries(variables).filter(([k]) => k !== 'after'));
  return JSON.stringify({
    query,
    session: { 'x-hasura-role': 'user', 'x-hasura-user-id': userId },
    cursor: d.cursor ? { [d.cursor]: String(variables.after ?? 0) } : {},
  });
}
