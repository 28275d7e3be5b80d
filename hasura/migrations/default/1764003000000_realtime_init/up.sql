-- realtime plugin: rooms and members, presence per device, typing, broadcast events, calls and WebRTC signals.
-- Actions write these small rows; clients read them through Hasura subscriptions (live queries and _stream),
-- so Hasura's multiplexed subscriptions do the fan-out and no state lives in the handler process.
CREATE SCHEMA IF NOT EXISTS realtime;

-- Room ids name their kind: channel:<id>, thread:<id>, dm:<id>, user:<id> (the chat app's Socket.io room names).
CREATE TABLE IF NOT EXISTS realtime.room (
  id text PRIMARY KEY,
  type text GENERATED ALWAYS AS (split_part(id, ':', 1)) STORED,
  private boolean NOT NULL DEFAULT false,
  -- A thread's channel: members of the parent may join it; removing the parent removes its threads.
  parent_id text REFERENCES realtime.room (id) ON DELETE CASCADE,
  name text CHECK (name IS NULL OR char_length(name) <= 200),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT room_id_format CHECK (id ~ '^(channel|thread|dm|user):[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$')
);
CREATE INDEX IF NOT EXISTS room_parent_idx ON realtime.room (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS realtime.room_member (
  room_id text NOT NULL REFERENCES realtime.room (id) ON DELETE CASCADE,
  user_id text NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 128),
  role text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
  added_by text,
  joined_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, user_id)
);
-- "my rooms", and the permission walk from a user to the rooms they share.
CREATE INDEX IF NOT EXISTS room_member_user_idx ON realtime.room_member (user_id, room_id);

-- One row per user and device. `status` is what the device shows (its heartbeat, or the status the user
-- chose); `chosen_status` is a status the user set that heartbeats keep (away, dnd, offline = invisible).
CREATE TABLE IF NOT EXISTS realtime.presence (
  user_id text NOT NULL CHECK (char_length(user_id) BETWEEN 1 AND 128),
  device_id text NOT NULL CHECK (char_length(device_id) BETWEEN 1 AND 128),
  status text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away', 'dnd', 'offline')),
  chosen_status text CHECK (chosen_status IN ('away', 'dnd', 'offline')),
  -- Which device speaks for the user: dnd over online over away over offline.
  status_rank smallint GENERATED ALWAYS AS (
    CASE status WHEN 'dnd' THEN 4 WHEN 'online' THEN 3 WHEN 'away' THEN 2 ELSE 1 END
  ) STORED,
  custom_status text CHECK (custom_status IS NULL OR char_length(custom_status) <= 200),
  custom_emoji text CHECK (custom_emoji IS NULL OR char_length(custom_emoji) <= 64),
  custom_status_expires_at timestamptz,
  platform text CHECK (platform IS NULL OR char_length(platform) <= 32),
  current_room_id text,
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, device_id)
) WITH (fillfactor = 80);
-- A heartbeat changes only last_seen_at, which no index holds (updated_at moves only when the status or room
-- does): with room left on each page (fillfactor) it is a HOT update that writes no index entry. The expiry
-- cron reads the table once a minute instead of through an index on last_seen_at.
CREATE INDEX IF NOT EXISTS presence_fold_idx ON realtime.presence (user_id, status_rank DESC, updated_at DESC, device_id);
CREATE INDEX IF NOT EXISTS presence_custom_expiry_idx ON realtime.presence (custom_status_expires_at)
  WHERE custom_status_expires_at IS NOT NULL;

-- One status per user, folded from their devices: the highest-ranked device speaks, last_seen_at is the latest
-- of any device. Written without GROUP BY so a filter on user_id (or a join from room_member) reaches the
-- presence indexes instead of folding every row.
CREATE OR REPLACE VIEW realtime.user_presence AS
SELECT p.user_id,
       p.status,
       -- an expired custom status is gone at once, before the cron clears it
       CASE WHEN p.custom_status_expires_at IS NULL OR p.custom_status_expires_at > now() THEN p.custom_status END AS custom_status,
       CASE WHEN p.custom_status_expires_at IS NULL OR p.custom_status_expires_at > now() THEN p.custom_emoji END AS custom_emoji,
       p.custom_status_expires_at,
       p.platform,
       p.current_room_id,
       (SELECT max(q.last_seen_at) FROM realtime.presence q WHERE q.user_id = p.user_id) AS last_seen_at,
       (SELECT count(*) FROM realtime.presence q WHERE q.user_id = p.user_id AND q.status <> 'offline')::int AS devices_online,
       p.updated_at
  FROM realtime.presence p
 WHERE p.device_id = (
         SELECT q.device_id FROM realtime.presence q
          WHERE q.user_id = p.user_id
          ORDER BY q.status_rank DESC, q.updated_at DESC, q.device_id
          LIMIT 1);

-- Typing indicators: short-lived, rewritten every few seconds, worthless after a crash, so unlogged.
-- thread_id is null for the room itself, or the thread the user types in (a thread shown inside a channel).
CREATE UNLOGGED TABLE IF NOT EXISTS realtime.typing (
  room_id text NOT NULL,
  user_id text NOT NULL,
  thread_id text CHECK (thread_id IS NULL OR char_length(thread_id) BETWEEN 1 AND 128),
  started_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
) WITH (fillfactor = 70);
-- Renewing an indicator changes only times no index holds: a HOT update. The prune cron reads the (small)
-- table once a minute.
CREATE UNIQUE INDEX IF NOT EXISTS typing_key ON realtime.typing (room_id, (coalesce(thread_id, '')), user_id);

-- What clients subscribe to: rows past their expiry vanish from the live query at once, before the prune cron.
CREATE OR REPLACE VIEW realtime.active_typing AS
SELECT room_id, thread_id, user_id, started_at, expires_at
  FROM realtime.typing
 WHERE expires_at > now();

-- Broadcasts for _stream subscriptions (cursor: id). Inserts into one room are serialised by an advisory lock
-- held to commit, so ids become visible in order within a room and a stream cursor never skips one.
CREATE TABLE IF NOT EXISTS realtime.event (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  room_id text NOT NULL REFERENCES realtime.room (id) ON DELETE CASCADE,
  type text NOT NULL CHECK (char_length(type) BETWEEN 1 AND 100),
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  sender_id text,
  -- The app's event id: a repeated broadcast with the same key in the same room is stored once.
  dedup_key text CHECK (dedup_key IS NULL OR char_length(dedup_key) <= 200),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_room_idx ON realtime.event (room_id, id);
CREATE UNIQUE INDEX IF NOT EXISTS event_dedup_idx ON realtime.event (room_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS event_created_brin ON realtime.event USING brin (created_at);

-- Fixed-window counters of rate limits that must hold across replicas (a user's broadcasts per minute).
-- Unlogged: losing the counters in a crash only resets a window.
CREATE UNLOGGED TABLE IF NOT EXISTS realtime.rate_limit (
  key text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL
);

CREATE TABLE IF NOT EXISTS realtime.call (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  room_id text REFERENCES realtime.room (id) ON DELETE SET NULL,
  type text NOT NULL CHECK (type IN ('audio', 'video', 'screen')),
  state text NOT NULL DEFAULT 'ringing'
    CHECK (state IN ('ringing', 'active', 'ended', 'declined', 'missed', 'busy', 'cancelled')),
  initiator_id text NOT NULL,
  ring_expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  answered_at timestamptz,
  ended_at timestamptz,
  ended_by text,
  end_reason text CHECK (end_reason IS NULL OR char_length(end_reason) <= 200),
  duration_seconds integer GENERATED ALWAYS AS (
    CASE WHEN answered_at IS NOT NULL AND ended_at IS NOT NULL
         THEN greatest(0, floor(extract(epoch FROM ended_at - answered_at)))::integer END
  ) STORED,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS call_ringing_idx ON realtime.call (ring_expires_at) WHERE state = 'ringing';
CREATE INDEX IF NOT EXISTS call_room_idx ON realtime.call (room_id, created_at DESC) WHERE room_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS call_ended_brin ON realtime.call USING brin (created_at);

CREATE TABLE IF NOT EXISTS realtime.call_participant (
  call_id uuid NOT NULL REFERENCES realtime.call (id) ON DELETE CASCADE,
  user_id text NOT NULL,
  role text NOT NULL CHECK (role IN ('caller', 'callee')),
  state text NOT NULL CHECK (state IN ('invited', 'joined', 'left', 'declined', 'missed', 'busy')),
  invited_at timestamptz NOT NULL DEFAULT now(),
  joined_at timestamptz,
  left_at timestamptz,
  audio_muted boolean NOT NULL DEFAULT false,
  video_enabled boolean NOT NULL DEFAULT false,
  screen_sharing boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (call_id, user_id)
);
-- Incoming calls of a user, call history, and busy detection (a user in a ringing or active call).
CREATE INDEX IF NOT EXISTS call_participant_user_idx ON realtime.call_participant (user_id, state, call_id);
-- The time-out cron's walk over callees still ringing.
CREATE INDEX IF NOT EXISTS call_participant_invited_idx ON realtime.call_participant (call_id) WHERE state = 'invited';

CREATE TABLE IF NOT EXISTS realtime.signal (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  call_id uuid NOT NULL REFERENCES realtime.call (id) ON DELETE CASCADE,
  from_user_id text NOT NULL,
  to_user_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('offer', 'answer', 'ice', 'renegotiate', 'hangup', 'mute', 'video', 'screen-share')),
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- A user's _stream of signals, per call or all: the permission (to_user_id) and the cursor (id) in one index.
CREATE INDEX IF NOT EXISTS signal_to_idx ON realtime.signal (to_user_id, call_id, id);
CREATE INDEX IF NOT EXISTS signal_to_all_idx ON realtime.signal (to_user_id, id);
CREATE INDEX IF NOT EXISTS signal_created_brin ON realtime.signal USING brin (created_at);

COMMENT ON TABLE realtime.room IS 'Rooms (channel:, thread:, dm:, user: ids); private rooms are joined only through a grant.';
COMMENT ON TABLE realtime.presence IS 'Presence per user and device; realtime.user_presence folds it to one status per user.';
COMMENT ON TABLE realtime.typing IS 'Typing indicators (unlogged); read through realtime.active_typing; pruned by realtime_typing_prune.';
COMMENT ON TABLE realtime.event IS 'Room broadcasts for _stream subscriptions; pruned by age (realtime_events_prune).';
COMMENT ON TABLE realtime.call IS 'Voice/video/screen calls and their state machine.';
COMMENT ON TABLE realtime.signal IS 'WebRTC signals between call participants; pruned by age (realtime_signals_prune).';
