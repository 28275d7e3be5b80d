/**
 * The SQL Hasura installs in a source database for event triggers (schema `hdb_catalog`), plus the metadata-DB
 * tables it keeps for async actions and cron events, which the harness keeps in the same database.
 * Shapes follow reference/hasura.md §2.5, §1.4 and §3.3.
 */
import { HarnessConfigError } from './errors.js';
import type { EventTriggerMeta, OperationSpecMeta, QualifiedTable } from './metadata.js';

export const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;
export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;
export const qualified = (t: QualifiedTable): string => `${ident(t.schema)}.${ident(t.name)}`;

export const CATALOG_SQL = `
CREATE SCHEMA IF NOT EXISTS hdb_catalog;

CREATE OR REPLACE FUNCTION hdb_catalog.gen_hasura_uuid() RETURNS uuid LANGUAGE sql AS 'select gen_random_uuid()';

CREATE TABLE IF NOT EXISTS hdb_catalog.hdb_source_catalog_version (
  version     text NOT NULL,
  upgraded_on timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS hdb_catalog.event_log (
  id            text PRIMARY KEY DEFAULT hdb_catalog.gen_hasura_uuid(),
  schema_name   text NOT NULL,
  table_name    text NOT NULL,
  trigger_name  text NOT NULL,
  payload       jsonb NOT NULL,
  delivered     boolean NOT NULL DEFAULT false,
  error         boolean NOT NULL DEFAULT false,
  tries         integer NOT NULL DEFAULT 0,
  created_at    timestamp DEFAULT now(),
  locked        timestamptz,
  next_retry_at timestamp,
  archived      boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS event_log_trigger_name_idx ON hdb_catalog.event_log (trigger_name);
CREATE INDEX IF NOT EXISTS event_log_fetch_events
  ON hdb_catalog.event_log (locked NULLS FIRST, next_retry_at NULLS FIRST, created_at)
  WHERE delivered = 'f' AND error = 'f' AND archived = 'f';

-- No foreign key to event_log, as in Hasura v2: cleanup deletes either table independently.
CREATE TABLE IF NOT EXISTS hdb_catalog.event_invocation_logs (
  id           text PRIMARY KEY DEFAULT hdb_catalog.gen_hasura_uuid(),
  trigger_name text,
  event_id     text,
  status       integer,
  request      json,
  response     json,
  created_at   timestamp DEFAULT now()
);
CREATE INDEX IF NOT EXISTS event_invocation_logs_event_id_idx ON hdb_catalog.event_invocation_logs (event_id);

CREATE TABLE IF NOT EXISTS hdb_catalog.hdb_event_log_cleanups (
  id                            text PRIMARY KEY DEFAULT hdb_catalog.gen_hasura_uuid(),
  trigger_name                  text NOT NULL,
  scheduled_at                  timestamp NOT NULL,
  deleted_event_logs            integer,
  deleted_event_invocation_logs integer,
  status text NOT NULL CHECK (status IN ('scheduled', 'paused', 'completed', 'dead')),
  UNIQUE (trigger_name, scheduled_at)
);

-- NULLIF: after a SET LOCAL ends, the placeholder setting reads back as '' for the rest of the session (#8498).
CREATE OR REPLACE FUNCTION hdb_catalog.insert_event_log(schema_name text, table_name text, trigger_name text, op text, row_data json)
RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
  id text;
  payload json;
  session_variables json;
  trace_context json;
BEGIN
  id := gen_random_uuid();
  session_variables := NULLIF(current_setting('hasura.user', true), '');
  trace_context := NULLIF(current_setting('hasura.tracecontext', true), '');
  payload := json_build_object(
    'op', op,
    'data', row_data,
    'session_variables', session_variables,
    'trace_context', trace_context
  );
  INSERT INTO hdb_catalog.event_log (id, schema_name, table_name, trigger_name, payload)
  VALUES (id, schema_name, table_name, trigger_name, payload);
  RETURN id;
END;
$fn$;

CREATE TABLE IF NOT EXISTS hdb_catalog.hdb_action_log (
  id                   uuid PRIMARY KEY DEFAULT hdb_catalog.gen_hasura_uuid(),
  action_name          text,
  input_payload        jsonb NOT NULL,
  request_headers      jsonb NOT NULL,
  session_variables    jsonb NOT NULL,
  response_payload     jsonb,
  errors               jsonb,
  created_at           timestamptz NOT NULL DEFAULT now(),
  response_received_at timestamptz,
  status text NOT NULL CHECK (status IN ('created', 'processing', 'completed', 'error'))
);

CREATE TABLE IF NOT EXISTS hdb_catalog.hdb_cron_events (
  id             text PRIMARY KEY DEFAULT hdb_catalog.gen_hasura_uuid(),
  trigger_name   text NOT NULL,
  scheduled_time timestamptz NOT NULL,
  status         text NOT NULL DEFAULT 'scheduled'
                 CHECK (status IN ('scheduled', 'locked', 'delivered', 'error', 'dead')),
  tries          integer NOT NULL DEFAULT 0,
  created_at     timestamptz DEFAULT now(),
  next_retry_at  timestamptz
);
CREATE INDEX IF NOT EXISTS hdb_cron_event_status ON hdb_catalog.hdb_cron_events (status);
CREATE UNIQUE INDEX IF NOT EXISTS hdb_cron_events_unique_scheduled
  ON hdb_catalog.hdb_cron_events (trigger_name, scheduled_time) WHERE status = 'scheduled';

CREATE TABLE IF NOT EXISTS hdb_catalog.hdb_cron_event_invocation_logs (
  id         text PRIMARY KEY DEFAULT hdb_catalog.gen_hasura_uuid(),
  event_id   text REFERENCES hdb_catalog.hdb_cron_events (id) ON DELETE CASCADE,
  status     integer,
  request    json,
  response   json,
  created_at timestamptz DEFAULT now()
);
`;

export interface ColumnInfo {
  name: string;
  /** `pg_type.typname` (udt name), e.g. `int8`, `geometry`. */
  type: string;
}

export type Op = 'INSERT' | 'UPDATE' | 'DELETE';
export const OPS: readonly Op[] = ['INSERT', 'UPDATE', 'DELETE'];

export function opSpec(t: EventTriggerMeta, op: Op): OperationSpecMeta | undefined {
  return op === 'INSERT' ? t.definition.insert : op === 'UPDATE' ? t.definition.update : t.definition.delete;
}

export const notifyName = (trigger: string, op: Op | string): string => `notify_hasura_${trigger}_${op}`;

const NUMERIC_TYPES = new Set(['int8', 'numeric']);
const GEO_TYPES = new Set(['geometry', 'geography']);

function pickColumns(spec: '*' | string[] | undefined, columns: readonly ColumnInfo[], what: string): ColumnInfo[] {
  if (spec === undefined || spec === '*') return [...columns];
  return spec.map((name) => {
    const c = columns.find((col) => col.name === name);
    if (!c) throw new HarnessConfigError(`${what}: column "${name}" does not exist`);
    return c;
  });
}

/** Hasura's `toJSONableExp`: geo columns become GeoJSON; bigint/numeric become text when numbers are stringified. */
function columnExp(row: 'OLD' | 'NEW', c: ColumnInfo, stringifyNumbers: boolean): string {
  const ref = `${row}.${ident(c.name)}`;
  if (GEO_TYPES.has(c.type)) return `ST_AsGeoJSON(${ref})::json AS ${ident(c.name)}`;
  if (stringifyNumbers && NUMERIC_TYPES.has(c.type)) return `CAST(${ref} AS text) AS ${ident(c.name)}`;
  return ref;
}

const rowJson = (row: 'OLD' | 'NEW', cols: ColumnInfo[], s: boolean): string =>
  `row_to_json((SELECT "e" FROM (SELECT ${cols.map((c) => columnExp(row, c, s)).join(', ')}) AS "e"))`;

const rowRecord = (row: 'OLD' | 'NEW', cols: ColumnInfo[]): string =>
  `row((SELECT "e" FROM (SELECT ${cols.map((c) => `${row}.${ident(c.name)}`).join(', ')}) AS "e"))`;

/**
 * The function and trigger for one operation of one event trigger. `update.columns` are the listen columns
 * (compared old vs new); `payload` picks the columns that appear in `data.old`/`data.new`.
 */
export function notifySql(
  table: QualifiedTable,
  trigger: EventTriggerMeta,
  op: Op,
  columns: readonly ColumnInfo[],
  opts: { stringifyNumbers: boolean },
): string {
  const spec = opSpec(trigger, op)!;
  const what = `event trigger ${trigger.name} (${op.toLowerCase()})`;
  const listen = pickColumns(spec.columns, columns, what);
  const payload = pickColumns(spec.payload, columns, `${what} payload`);
  const fn = `hdb_catalog.${ident(notifyName(trigger.name, op))}`;
  const oldExp = op === 'INSERT' ? 'NULL' : rowJson('OLD', payload, opts.stringifyNumbers);
  const newExp = op === 'DELETE' ? 'NULL' : rowJson('NEW', payload, opts.stringifyNumbers);
  const insert = `PERFORM hdb_catalog.insert_event_log(CAST(${literal(table.schema)} AS text), CAST(${literal(table.name)} AS text), CAST(${literal(trigger.name)} AS text), TG_OP, _data);`;
  return `
CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $hasura$
DECLARE
  _old record;
  _new record;
  _data json;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    _old := ${op === 'UPDATE' ? rowRecord('OLD', listen) : 'row((select 1))'};
    _new := ${op === 'UPDATE' ? rowRecord('NEW', listen) : 'row((select 1))'};
  ELSE
    -- INSERT and DELETE never compare; the records only need to exist.
    _old := row((select 1));
    _new := row((select 1));
  END IF;
  _data := json_build_object('old', ${oldExp}, 'new', ${newExp});
  BEGIN
    IF (TG_OP <> 'UPDATE') OR (_old <> _new) THEN
      ${insert}
    END IF;
  EXCEPTION WHEN undefined_function THEN
    -- column types without an equality operator (json, …): fall back to a binary comparison
    IF (TG_OP <> 'UPDATE') OR (_old *<> _new) THEN
      ${insert}
    END IF;
  END;
  RETURN NULL;
END;
$hasura$;
DROP TRIGGER IF EXISTS ${ident(notifyName(trigger.name, op))} ON ${qualified(table)};
CREATE TRIGGER ${ident(notifyName(trigger.name, op))} AFTER ${op} ON ${qualified(table)}
  FOR EACH ROW EXECUTE PROCEDURE ${fn}();
${trigger.trigger_on_replication ? `ALTER TABLE ${qualified(table)} ENABLE ALWAYS TRIGGER ${ident(notifyName(trigger.name, op))};` : ''}`;
}

/** Hasura's event fetch (reference/hasura.md §2.5) with the harness clock standing in for NOW(). */
export const FETCH_EVENTS_SQL = `
UPDATE hdb_catalog.event_log SET locked = $3::timestamptz
WHERE id IN (SELECT l.id FROM hdb_catalog.event_log l
             WHERE l.delivered = 'f' AND l.error = 'f'
               AND (l.locked IS NULL OR l.locked < $3::timestamptz - interval '30 minute')
               AND (l.next_retry_at IS NULL OR l.next_retry_at <= ($3::timestamptz AT TIME ZONE 'UTC'))
               AND l.archived = 'f'
               AND l.trigger_name = ANY($2)
             ORDER BY locked NULLS FIRST, next_retry_at NULLS FIRST, created_at
             LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, schema_name, table_name, trigger_name, payload::json, tries, created_at, next_retry_at`;
