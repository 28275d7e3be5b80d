/**
 * Table → event mappings as project triggers (the core's install-options mechanism): one Hasura event trigger
 * per mapped table of the user's project, with the operations its mappings name, all served by `map_row`.
 */
import { createHash } from 'node:crypto';
import type { ProjectTrigger } from '../../../core/plugin.js';
import type { TableMapping } from '../config.js';

const MAX_TRIGGER_NAME = 42;

/** `webhooks_map_<table>` (`webhooks_map_<schema>_<table>` outside public), shortened with a hash when too long. */
export function mappingTriggerName(schema: string, table: string): string {
  const name = `webhooks_map_${schema === 'public' ? '' : `${schema}_`}${table}`.replace(/_+/g, '_').replace(/_$/, '');
  if (name.length <= MAX_TRIGGER_NAME) return name;
  const hash = createHash('sha256').update(`${schema}.${table}`).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_TRIGGER_NAME - 9).replace(/_+$/, '')}_${hash}`;
}

export function mappingTriggers(mappings: readonly TableMapping[]): ProjectTrigger[] {
  const byTable = new Map<string, { schema: string; table: string; ops: Set<TableMapping['op']> }>();
  for (const m of mappings) {
    const key = `${m.schema}.${m.table}`;
    const entry = byTable.get(key) ?? { schema: m.schema, table: m.table, ops: new Set() };
    entry.ops.add(m.op);
    byTable.set(key, entry);
  }
  return [...byTable.values()].map((t) => ({
    name: mappingTriggerName(t.schema, t.table),
    table: { schema: t.schema, name: t.table },
    ...(t.ops.has('insert') ? { insert: { columns: '*' as const } } : {}),
    ...(t.ops.has('update') ? { update: { columns: '*' as const } } : {}),
    ...(t.ops.has('delete') ? { delete: { columns: '*' as const } } : {}),
    handler: 'map_row',
    retry_conf: { num_retries: 10, interval_sec: 10, timeout_sec: 60 },
  }));
}
