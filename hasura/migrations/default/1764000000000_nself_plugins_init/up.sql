-- Foundation schema of nself-plugins. Idempotent: safe to re-apply with `hasura migrate apply` or by
-- several replicas starting at once.
create schema if not exists nself_plugins;

-- Exactly-once ledger for event/cron deliveries (`ctx.once`) and record of deliveries acknowledged
-- without effect (`SkipEvent` / `{skipped}`).
-- The key is scoped by (kind, handler): a business key such as `invoice:42` used by two handlers must not
-- make the second one skip its own effect. A 'skipped' row is upgraded to 'done' when a later delivery of the
-- same key does run its effect (a manual redelivery after the cause of the skip was fixed).
create table if not exists nself_plugins.event_receipt (
  kind        text        not null check (kind in ('action', 'event', 'cron')),
  handler     text        not null,
  key         text        not null,
  status      text        not null check (status in ('done', 'skipped')),
  reason      text,
  created_at  timestamptz not null default now(),
  primary key (kind, handler, key),
  check (status = 'done' or reason is not null)
);

-- Pruning (core housekeeping) deletes by age. Rows arrive in created_at order, so a BRIN index serves the
-- range delete while costing next to nothing on the insert every event delivery does (a btree would be a
-- second full index update per receipt).
create index if not exists event_receipt_created_at_idx on nself_plugins.event_receipt using brin (created_at);

comment on table nself_plugins.event_receipt is
  'One row per (kind, handler, key) whose effect ran (done) or that was acknowledged without effect (skipped, with reason).';
