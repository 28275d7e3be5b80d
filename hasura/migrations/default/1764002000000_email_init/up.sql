-- email: templates and layouts, every message with its delivery status, provider events, the suppression list.
create schema if not exists email;

-- A layout wraps a template's HTML ({{{body}}}) and, when it has one, its text ({{body}}).
create table if not exists email.layout (
  key        text not null check (key ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
  locale     text not null check (locale ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$' and char_length(locale) <= 35),
  html       text not null check (char_length(html) <= 200000),
  text       text check (text is null or char_length(text) <= 100000),
  updated_at timestamptz not null default now(),
  primary key (key, locale)
);

create table if not exists email.template (
  id            uuid primary key default gen_random_uuid(),
  key           text not null check (key ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
  locale        text not null check (locale ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$' and char_length(locale) <= 35),
  subject       text not null check (char_length(subject) between 1 and 2000),
  html          text check (html is null or char_length(html) <= 500000),
  text          text check (text is null or char_length(text) <= 200000),
  -- JSON Schema of the variables; the default accepts any object
  schema        jsonb not null default '{"type": "object"}'::jsonb check (jsonb_typeof(schema) = 'object'),
  -- layout key (email.layout); null: none
  layout        text default 'default',
  -- non-transactional mail carries List-Unsubscribe and honours unsubscribes of its category
  transactional boolean not null default true,
  category      text check (category is null or category ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$'),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  unique (key, locale),
  check (html is not null or text is not null)
);

create table if not exists email.message (
  id                  uuid primary key default gen_random_uuid(),
  idempotency_key     text unique check (idempotency_key is null or char_length(idempotency_key) between 1 and 255),
  -- sha256 of the request an idempotency key was first used with: the same key with other content is refused
  request_hash        text,
  status              text not null default 'queued'
                      check (status in ('queued', 'sending', 'sent', 'delivered', 'bounced', 'complained', 'failed', 'suppressed')),
  transport           text not null,
  to_addresses        text[] not null,
  cc_addresses        text[] not null default '{}',
  bcc_addresses       text[] not null default '{}',
  from_address        text not null,
  reply_to            text,
  subject             text not null,
  html                text,
  text                text,
  headers             jsonb not null default '{}'::jsonb,
  -- [{fileId, filename}] read from the files plugin at send time
  attachments         jsonb not null default '[]'::jsonb,
  template_key        text,
  locale              text,
  category            text,
  transactional       boolean not null default true,
  -- recipients left out because they are on the suppression list
  suppressed          text[] not null default '{}',
  metadata            jsonb not null default '{}'::jsonb,
  provider_message_id text,
  attempts            integer not null default 0,
  last_error          text,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  sent_at             timestamptz,
  delivered_at        timestamptz
);

create index if not exists email_message_provider_id_idx on email.message (provider_message_id) where provider_message_id is not null;
create index if not exists email_message_status_idx on email.message (status, created_at);
create index if not exists email_message_created_at_idx on email.message (created_at);

-- Provider events (delivered, bounce, complaint, …) as received; the provider's event id makes redelivery harmless.
create table if not exists email.event (
  id                bigint generated always as identity primary key,
  message_id        uuid references email.message (id) on delete cascade,
  provider          text not null,
  type              text not null,
  provider_event_id text not null,
  recipient         text,
  payload           jsonb not null,
  occurred_at       timestamptz,
  received_at       timestamptz not null default now(),
  unique (provider, provider_event_id)
);

create index if not exists email_event_message_idx on email.event (message_id);

-- scope '*': no mail at all (bounces, complaints); otherwise a category of non-transactional mail (unsubscribes).
create table if not exists email.suppression (
  address    text not null check (address = lower(address) and char_length(address) <= 320),
  scope      text not null default '*',
  reason     text not null check (reason in ('bounce', 'complaint', 'unsubscribe', 'manual')),
  source     text,
  message_id uuid,
  created_at timestamptz not null default now(),
  primary key (address, scope)
);

insert into email.layout (key, locale, html, text) values (
  'default', 'en',
  '<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{{subject}}</title></head>
<body style="margin:0;padding:24px;background:#f6f7f9;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1f2328">
<div style="max-width:600px;margin:0 auto;background:#ffffff;border-radius:8px;padding:24px">{{{body}}}</div>
{{#if unsubscribeUrl}}<p style="max-width:600px;margin:12px auto;font-size:12px;color:#656d76;text-align:center"><a href="{{unsubscribeUrl}}" style="color:#656d76">Unsubscribe</a></p>{{/if}}
</body></html>',
  '{{body}}{{#if unsubscribeUrl}}

Unsubscribe: {{unsubscribeUrl}}{{/if}}'
) on conflict do nothing;
