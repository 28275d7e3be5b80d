-- core: installation self-test runs (an action writes one; an event trigger marks it delivered).
create schema if not exists core;

create table if not exists core.selftest_runs (
  id                 uuid primary key default gen_random_uuid(),
  requested_by       text,
  note               text check (note is null or char_length(note) <= 500),
  created_at         timestamptz not null default now(),
  -- filled by the core_selftest_run_inserted event handler: proves Hasura → handler delivery works
  delivered_at       timestamptz,
  delivered_event_id text
);

create index if not exists core_selftest_runs_requested_by_idx on core.selftest_runs (requested_by, created_at desc);
create index if not exists core_selftest_runs_created_at_idx on core.selftest_runs (created_at);
