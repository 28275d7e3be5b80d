-- Search plugin: index state, the lexicon behind typo tolerance and suggestions, and the outbox of changes
-- waiting for Meilisearch. Idempotent.
create extension if not exists pg_trgm;
create extension if not exists unaccent;
create extension if not exists fuzzystrmatch;
create schema if not exists search;

-- unaccent() is only STABLE (it reads its dictionary by name); index expressions need IMMUTABLE, so the
-- dictionary is named explicitly in a wrapper.
create or replace function search.immutable_unaccent(value text) returns text
  language sql immutable parallel safe strict
  as $$ select public.unaccent('public.unaccent'::regdictionary, value) $$;

do $$
begin
  if not exists (select 1 from pg_ts_config c join pg_namespace n on n.oid = c.cfgnamespace where n.nspname = 'search' and c.cfgname = 'unaccent') then
    create text search configuration search.unaccent (copy = pg_catalog.simple);
    alter text search configuration search.unaccent alter mapping for hword, hword_part, word with public.unaccent, simple;
  end if;
end $$;

create table if not exists search.index_state (
  name            text primary key,
  engine          text not null check (engine in ('postgres', 'meilisearch')),
  -- settings hash of what was last set up (GIN indexes, Meilisearch settings)
  settings_hash   text,
  status          text not null default 'idle' check (status in ('idle', 'backfilling', 'failed')),
  backfill_cursor text,
  backfilled      bigint not null default 0,
  backfill_total  bigint,
  last_error      text,
  started_at      timestamptz,
  finished_at     timestamptz,
  updated_at      timestamptz not null default now()
);

-- Words of the indexed text with how often they occur: typo correction and prefix suggestions look here
-- before confirming a candidate against the rows the caller may see.
create table if not exists search.lexicon (
  index_name text not null,
  term       text not null,
  frequency  bigint not null default 0,
  primary key (index_name, term)
);
create index if not exists lexicon_term_trgm on search.lexicon using gin (term gin_trgm_ops);
create index if not exists lexicon_prefix on search.lexicon (index_name, term text_pattern_ops);

-- Changes waiting for Meilisearch: one row per document (the latest change wins), flushed in batches.
create table if not exists search.pending (
  index_name  text not null,
  doc_id      text not null,
  op          text not null check (op in ('upsert', 'delete')),
  enqueued_at timestamptz not null default now(),
  primary key (index_name, doc_id)
);
create index if not exists pending_order on search.pending (enqueued_at);
