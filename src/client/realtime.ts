/**
 * Realtime: rooms, presence, typing, broadcasts and call signaling over the realtime plugin's GraphQL surface
 * (src/plugins/realtime/README.md). Typing is throttled on the client too (one `realtimeStartTyping` per
 * `typingRenewMs` while keys are pressed) and stops by itself after `typingIdleMs` without a keystroke;
 * presence heartbeats run while the page is visible and report `idle` when it is hidden.
 */
import type { NselfClient, Subscription } from './core.js';
import {
  AnswerCallDocument,
  BroadcastDocument,
  DeclineCallDocument,
  EndCallDocument,
  HeartbeatDocument,
  IceServersDocument,
  JoinRoomDocument,
  LeaveRoomDocument,
  OnCallDocument,
  OnIncomingCallDocument,
  OnPresenceChangeDocument,
  OnRoomEventsDocument,
  OnRoomMembersDocument,
  OnSignalsDocument,
  OnTypingDocument,
  OnUsersPresenceDocument,
  SendSignalDocument,
  SetStatusDocument,
  StartCallDocument,
  StartTypingDocument,
  StopTypingDocument,
  type OnCallSubscription,
  type OnIncomingCallSubscription,
  type OnPresenceChangeSubscription,
  type OnRoomEventsSubscription,
  type OnRoomMembersSubscription,
  type OnSignalsSubscription,
  type OnTypingSubscription,
  type RealtimeCallType,
  type RealtimeSignalKind,
  type RealtimeStatus,
  type SetStatusMutationVariables,
} from './generated/operations.js';
import type { NselfError } from './errors.js';
import { browser } from './browser.js';

export type TypingUser = OnTypingSubscription['realtime_typing'][number];
export type PresenceEntry = OnPresenceChangeSubscription['realtime_user_presence'][number];
export type RoomMember = OnRoomMembersSubscription['realtime_room_member'][number];
export type RoomEvent = OnRoomEventsSubscription['realtime_event_stream'][number];
export type CallState = NonNullable<OnCallSubscription['realtime_call'][number]>;
export type IncomingCall = OnIncomingCallSubscription['realtime_call_participant'][number];
export type Signal = OnSignalsSubscription['realtime_signal_stream'][number];

export interface RealtimeOptions {
  /** This device's id for presence (default: a random id per page load). */
  deviceId?: string;
  /** Heartbeat period while visible (default 20 s; the server turns a device away after 90 s of silence). */
  heartbeatMs?: number;
  /** A keystroke renews the typing indicator at most this often (default 2 s; the server keeps it 6 s). */
  typingRenewMs?: number;
  /** Typing stops by itself this long after the last keystroke (default 3 s). */
  typingIdleMs?: number;
  /** The signed-in user's id, to leave yourself out of typing lists. */
  userId?: string;
}

type Listener<T> = (value: T) => void;
type OnError = (e: NselfError) => void;

const randomId = () => (globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

export function createRealtime(client: NselfClient, o: RealtimeOptions = {}) {
  const deviceId = o.deviceId ?? `web-${randomId()}`;
  const renewMs = o.typingRenewMs ?? 2000;
  const idleMs = o.typingIdleMs ?? 3000;
  /** Per room/thread: when the last start was sent, and the timer that stops typing. */
  const typing = new Map<string, { sentAt: number; stopTimer: ReturnType<typeof setTimeout> }>();
  const typingKey = (roomId: string, threadId?: string | null) => `${roomId}\u0000${threadId ?? ''}`;

  async function stopTyping(roomId: string, threadId?: string | null): Promise<void> {
    const key = typingKey(roomId, threadId);
    const state = typing.get(key);
    if (!state) return;
    clearTimeout(state.stopTimer);
    typing.delete(key);
    await client.request(StopTypingDocument, { roomId, threadId: threadId ?? null });
  }

  /** Call on every keystroke: sends at most one start per `typingRenewMs`, and a stop after `typingIdleMs` of quiet. */
  async function sendTyping(roomId: string, threadId?: string | null): Promise<void> {
    const key = typingKey(roomId, threadId);
    const now = Date.now();
    const state = typing.get(key);
    if (state) clearTimeout(state.stopTimer);
    const stopTimer = setTimeout(() => void stopTyping(roomId, threadId).catch(() => undefined), idleMs);
    if (state && now - state.sentAt < renewMs) {
      state.stopTimer = stopTimer;
      return;
    }
    typing.set(key, { sentAt: now, stopTimer });
    await client.request(StartTypingDocument, { roomId, threadId: threadId ?? null });
  }

  function onTyping(roomId: string, listener: Listener<TypingUser[]>, onError?: OnError): Subscription {
    return client.subscribe(OnTypingDocument, { roomId }, {
      next: (d) => listener(d.realtime_typing.filter((t) => t.user_id !== o.userId)),
      ...(onError ? { error: onError } : {}),
    });
  }

  async function updatePresence(opts: { roomId?: string | null; idle?: boolean } = {}) {
    return (await client.request(HeartbeatDocument, { deviceId, roomId: opts.roomId ?? null, idle: opts.idle ?? false })).realtimeHeartbeat;
  }

  /**
   * Heartbeats every `heartbeatMs` while the page is visible; hidden, one `idle` heartbeat (the device shows away)
   * and none after; visible again, one at once. Returns the function that stops it.
   */
  function startPresence(opts: { roomId?: string | null; onError?: OnError } = {}): () => void {
    const every = o.heartbeatMs ?? 20_000;
    const doc = browser().document;
    const beat = (idle: boolean) => void updatePresence({ roomId: opts.roomId ?? null, idle }).catch((e: NselfError) => opts.onError?.(e));
    let timer: ReturnType<typeof setInterval> | undefined;
    const run = () => {
      clearInterval(timer);
      if (doc?.visibilityState === 'hidden') return beat(true);
      beat(false);
      timer = setInterval(() => beat(false), every);
    };
    doc?.addEventListener('visibilitychange', run);
    run();
    return () => {
      clearInterval(timer);
      doc?.removeEventListener('visibilitychange', run);
    };
  }

  /** Room events after the id `after` (default 0: every retained event), resuming from the last id seen after a reconnect. */
  function onRoomEvents(roomId: string, listener: Listener<RoomEvent>, opts: { after?: number | string; onError?: OnError } = {}): Subscription {
    let cursor: string | number = opts.after ?? 0;
    return client.subscribe(OnRoomEventsDocument, () => ({ roomId, after: cursor }), {
      next: (d) => {
        for (const e of d.realtime_event_stream) {
          cursor = e.id as string | number;
          listener(e);
        }
      },
      ...(opts.onError ? { error: opts.onError } : {}),
    });
  }

  return {
    deviceId,
    joinRoom: async (roomId: string) => (await client.request(JoinRoomDocument, { roomId })).realtimeJoinRoom,
    leaveRoom: async (roomId: string) => (await client.request(LeaveRoomDocument, { roomId })).realtimeLeaveRoom,
    onRoomMembers: (roomId: string, listener: Listener<RoomMember[]>, onError?: OnError) =>
      client.subscribe(OnRoomMembersDocument, { roomId }, { next: (d) => listener(d.realtime_room_member), ...(onError ? { error: onError } : {}) }),
    sendTyping,
    stopTyping,
    onTyping,
    updatePresence,
    startPresence,
    setStatus: async (v: { status: RealtimeStatus } & Omit<SetStatusMutationVariables, 'status'>) => (await client.request(SetStatusDocument, v)).realtimeSetStatus,
    onPresenceChange: (roomId: string, listener: Listener<PresenceEntry[]>, onError?: OnError) =>
      client.subscribe(OnPresenceChangeDocument, { roomId }, { next: (d) => listener(d.realtime_user_presence), ...(onError ? { error: onError } : {}) }),
    onUsersPresence: (userIds: string[], listener: Listener<PresenceEntry[]>, onError?: OnError) =>
      client.subscribe(OnUsersPresenceDocument, { userIds }, { next: (d) => listener(d.realtime_user_presence), ...(onError ? { error: onError } : {}) }),
    broadcast: async (roomId: string, type: string, payload?: unknown, dedupKey?: string) =>
      (await client.request(BroadcastDocument, { roomId, type, payload: payload ?? null, dedupKey: dedupKey ?? null })).realtimeBroadcast,
    onRoomEvents,
    calls: {
      start: async (type: RealtimeCallType, to: { userIds?: string[]; roomId?: string }) =>
        (await client.request(StartCallDocument, { type, userIds: to.userIds ?? null, roomId: to.roomId ?? null })).realtimeStartCall,
      answer: async (callId: string) => (await client.request(AnswerCallDocument, { callId })).realtimeAnswerCall,
      decline: async (callId: string) => (await client.request(DeclineCallDocument, { callId })).realtimeDeclineCall,
      end: async (callId: string, reason?: string) => (await client.request(EndCallDocument, { callId, reason: reason ?? null })).realtimeEndCall,
      onIncoming: (me: string, listener: Listener<IncomingCall[]>, onError?: OnError) =>
        client.subscribe(OnIncomingCallDocument, { me }, { next: (d) => listener(d.realtime_call_participant), ...(onError ? { error: onError } : {}) }),
      onCall: (callId: string, listener: Listener<CallState | undefined>, onError?: OnError) =>
        client.subscribe(OnCallDocument, { callId }, { next: (d) => listener(d.realtime_call[0]), ...(onError ? { error: onError } : {}) }),
      signal: async (callId: string, kind: RealtimeSignalKind, payload: unknown, to?: string) =>
        (await client.request(SendSignalDocument, { callId, kind, payload, to: to ?? null })).realtimeSendSignal,
      /** Signals addressed to you, each once, resuming after the last one seen. */
      onSignals: (callId: string, listener: Listener<Signal>, onError?: OnError) => {
        let after: string | number = 0;
        return client.subscribe(OnSignalsDocument, () => ({ callId, after }), {
          next: (d) => {
            for (const s of d.realtime_signal_stream) {
              after = s.id as string | number;
              listener(s);
            }
          },
          ...(onError ? { error: onError } : {}),
        });
      },
      iceServers: async () => (await client.request(IceServersDocument, {})).realtimeIceServers,
    },
    /** Stops every typing indicator this client started (page unload, sign-out). */
    async dispose() {
      await Promise.all([...typing.keys()].map((k) => {
        const [roomId, threadId] = k.split('\u0000') as [string, string];
        return stopTyping(roomId, threadId || null).catch(() => undefined);
      }));
    },
  };
}

export type Realtime = ReturnType<typeof createRealtime>;
