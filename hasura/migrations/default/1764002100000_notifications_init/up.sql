-- notifications: the in-app centre, per-channel deliveries, preferences with quiet hours and digests, push
-- subscriptions, topics. Emails go through the email plugin (its migration comes first).
create schema if not exists notifications;

create table if not exists notifications.category (
  key                  text primary key check (key ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$'),
  description          text check (description is null or char_length(description) <= 1000),
  -- channels on for users who set no preference
  default_channels     text[] not null default '{in_app,push}' check (default_channels <@ '{in_app,push,email,sms}'::text[]),
  -- users cannot turn it off; it skips quiet hours and digests
  critical             boolean not null default false,
  -- email.template key of this category's emails (default notifications.notification)
  email_template       text,
  -- the push that replaces grouped ones, a template over {count, title, body, data}
  group_summary        text not null default '{{count}} new notifications' check (char_length(group_summary) <= 500),
  group_window_seconds integer not null default 300 check (group_window_seconds between 0 and 86400),
  created_at           timestamptz not null default now()
);

insert into notifications.category (key, description, default_channels, critical) values
  ('general', 'Everything without a category of its own', '{in_app,push}', false),
  ('security', 'Sign-ins, password and account changes', '{in_app,push,email}', true)
on conflict do nothing;

create table if not exists notifications.topic (
  key         text primary key check (key ~ '^[A-Za-z0-9_.:-]{1,200}$'),
  description text,
  -- public topics are open to every user; others only to the subscriptions a backend makes
  public      boolean not null default false,
  created_at  timestamptz not null default now()
);

create table if not exists notifications.topic_subscription (
  topic      text not null references notifications.topic (key) on delete cascade,
  user_id    text not null check (char_length(user_id) between 1 and 255),
  created_at timestamptz not null default now(),
  primary key (topic, user_id)
);
create index if not exists notifications_topic_subscription_user_idx on notifications.topic_subscription (user_id);

create table if not exists notifications.send (
  id              uuid primary key default gen_random_uuid(),
  idempotency_key text unique check (idempotency_key is null or char_length(idempotency_key) between 1 and 255),
  request_hash    text,
  category        text not null,
  topic           text,
  recipients      integer not null,
  created_by      text,
  created_at      timestamptz not null default now()
);

create table if not exists notifications.notification (
  id          uuid primary key default gen_random_uuid(),
  user_id     text not null check (char_length(user_id) between 1 and 255),
  category    text not null references notifications.category (key) on update cascade,
  title       text not null check (char_length(title) between 1 and 500),
  body        text check (body is null or char_length(body) <= 10000),
  data        jsonb not null default '{}'::jsonb check (jsonb_typeof(data) = 'object'),
  action_url  text check (action_url is null or char_length(action_url) <= 2000),
  group_key   text check (group_key is null or char_length(group_key) <= 200),
  priority    text not null default 'normal' check (priority in ('low', 'normal', 'high', 'critical')),
  actor_id    text check (actor_id is null or char_length(actor_id) <= 255),
  -- the channels the sender asked for; null: the category's defaults and the user's preferences
  channels    text[] check (channels is null or channels <@ '{in_app,push,email,sms}'::text[]),
  -- false: not shown in the centre (the user turned in-app off for the category); other channels still go
  in_app      boolean not null default true,
  send_id     uuid references notifications.send (id) on delete set null,
  topic       text,
  created_at  timestamptz not null default now(),
  seen_at     timestamptz,
  read_at     timestamptz,
  archived_at timestamptz,
  digest_id   uuid
);

create index if not exists notifications_notification_feed_idx on notifications.notification (user_id, created_at desc) where in_app;
create index if not exists notifications_notification_unread_idx on notifications.notification (user_id) where read_at is null and archived_at is null and in_app;
create index if not exists notifications_notification_group_idx on notifications.notification (user_id, group_key, created_at) where group_key is not null;
create index if not exists notifications_notification_send_idx on notifications.notification (send_id);
create index if not exists notifications_notification_created_idx on notifications.notification (created_at);

create table if not exists notifications.user_setting (
  user_id           text primary key check (char_length(user_id) between 1 and 255),
  time_zone         text not null default 'UTC' check (char_length(time_zone) <= 64),
  quiet_hours_start time,
  quiet_hours_end   time,
  locale            text check (locale is null or char_length(locale) <= 35),
  -- contact addresses are set by a backend (notificationsSetContact), never by the user
  email             text check (email is null or char_length(email) <= 320),
  phone             text check (phone is null or phone ~ '^\+[1-9][0-9]{6,14}$'),
  digest_hour       smallint not null default 8 check (digest_hour between 0 and 23),
  -- ISO weekday of the weekly digest: 1 Monday … 7 Sunday
  digest_weekday    smallint not null default 1 check (digest_weekday between 1 and 7),
  updated_at        timestamptz not null default now(),
  check ((quiet_hours_start is null) = (quiet_hours_end is null))
);

-- category '*': the user's setting for every category without one of its own
create table if not exists notifications.preference (
  user_id    text not null check (char_length(user_id) between 1 and 255),
  category   text not null,
  channel    text not null check (channel in ('in_app', 'push', 'email', 'sms')),
  enabled    boolean not null default true,
  digest     text not null default 'off' check (digest in ('off', 'hourly', 'daily', 'weekly')),
  updated_at timestamptz not null default now(),
  primary key (user_id, category, channel)
);
create index if not exists notifications_preference_digest_idx on notifications.preference (channel, digest) where digest <> 'off';

create table if not exists notifications.delivery (
  id              uuid primary key default gen_random_uuid(),
  notification_id uuid not null references notifications.notification (id) on delete cascade,
  user_id         text not null,
  channel         text not null check (channel in ('push', 'email', 'sms')),
  status          text not null check (status in ('pending', 'deferred', 'sending', 'sent', 'failed', 'skipped', 'digest', 'grouped')),
  -- why it was skipped, deferred or grouped
  reason          text,
  -- the digest period of a `digest` delivery
  digest          text check (digest is null or digest in ('hourly', 'daily', 'weekly')),
  scheduled_for   timestamptz,
  attempts        integer not null default 0,
  error           text,
  provider_ref    text,
  -- per-device results of a push
  detail          jsonb not null default '{}'::jsonb,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  sent_at         timestamptz,
  unique (notification_id, channel)
);
create index if not exists notifications_delivery_user_idx on notifications.delivery (user_id, channel, status);
create index if not exists notifications_delivery_status_idx on notifications.delivery (status, scheduled_for);

create table if not exists notifications.push_subscription (
  id              uuid primary key default gen_random_uuid(),
  user_id         text not null check (char_length(user_id) between 1 and 255),
  kind            text not null check (kind in ('webpush', 'fcm', 'apns')),
  endpoint        text check (endpoint is null or char_length(endpoint) <= 2048),
  p256dh          text,
  auth            text,
  token           text check (token is null or char_length(token) <= 4096),
  device_id       text check (device_id is null or char_length(device_id) <= 255),
  platform        text check (platform is null or platform in ('web', 'android', 'ios', 'macos', 'windows', 'linux')),
  user_agent      text check (user_agent is null or char_length(user_agent) <= 500),
  created_at      timestamptz not null default now(),
  last_used_at    timestamptz,
  last_success_at timestamptz,
  failures        integer not null default 0,
  last_error      text,
  check ((kind = 'webpush') = (endpoint is not null and p256dh is not null and auth is not null)),
  check ((kind <> 'webpush') = (token is not null))
);
create unique index if not exists notifications_push_subscription_target_idx on notifications.push_subscription (kind, coalesce(endpoint, token));
create index if not exists notifications_push_subscription_user_idx on notifications.push_subscription (user_id);

create table if not exists notifications.digest (
  id                 uuid primary key default gen_random_uuid(),
  user_id            text not null,
  period             text not null check (period in ('hourly', 'daily', 'weekly')),
  period_key         text not null,
  notification_count integer not null default 0,
  email_message_id   uuid,
  created_at         timestamptz not null default now(),
  unique (user_id, period, period_key)
);

-- SMS as stored by the outbox transport (and the record of Twilio sends)
create table if not exists notifications.sms_message (
  id              uuid primary key default gen_random_uuid(),
  delivery_id     uuid unique references notifications.delivery (id) on delete set null,
  to_number       text not null,
  body            text not null,
  transport       text not null,
  status          text not null default 'sending' check (status in ('sending', 'sent', 'failed')),
  provider_ref    text,
  attempts        integer not null default 0,
  last_error      text,
  created_at      timestamptz not null default now(),
  sent_at         timestamptz
);

-- The Web Push VAPID key pair, generated on first start and shared by every replica.
create table if not exists notifications.vapid_key (
  id          smallint primary key default 1 check (id = 1),
  public_key  text not null,
  private_key text not null,
  created_at  timestamptz not null default now()
);

-- Email templates of the notifications (the email plugin's table): one mail per notification, one per digest.
insert into email.template (key, locale, subject, html, text, schema, layout, transactional, category) values
(
  'notifications.notification', 'en', '{{title}}',
  '<h2 style="font-size:18px;margin:0 0 12px">{{title}}</h2>{{#if body}}<p style="margin:0 0 16px;white-space:pre-line">{{body}}</p>{{/if}}{{#if actionUrl}}<p><a href="{{actionUrl}}" style="display:inline-block;padding:8px 16px;background:#0969da;color:#fff;border-radius:6px;text-decoration:none">Open</a></p>{{/if}}',
  null,
  '{"type":"object","properties":{"title":{"type":"string"},"body":{"type":["string","null"]},"actionUrl":{"type":["string","null"]},"category":{"type":"string"},"data":{"type":"object"}},"required":["title"],"additionalProperties":false}',
  'default', false, 'notifications'
),
(
  'notifications.digest', 'en', '{{count}} new notification{{#if plural}}s{{/if}}',
  '<h2 style="font-size:18px;margin:0 0 12px">{{count}} new notification{{#if plural}}s{{/if}}</h2><ul style="padding-left:18px">{{#each items}}<li style="margin:0 0 10px"><b>{{title}}</b>{{#if body}}<br>{{body}}{{/if}}{{#if actionUrl}}<br><a href="{{actionUrl}}">Open</a>{{/if}}</li>{{/each}}</ul>',
  null,
  '{"type":"object","properties":{"count":{"type":"integer"},"plural":{"type":"boolean"},"period":{"type":"string"},"items":{"type":"array"}},"required":["count","items"],"additionalProperties":false}',
  'default', false, 'notifications.digest'
)
on conflict (key, locale) do nothing;
