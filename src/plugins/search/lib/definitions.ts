/**
 * Index definitions: what is searchable, filterable and sortable in which table, in which language, and who may
 * see which rows (a Hasura boolean expression per role, evaluated with the caller's session). Definitions are
 * validated at boot (the shipped ones and the operator's `SEARCH_DEFINITIONS_FILE`), every problem at once.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { filterColumns, SqlBuilder, toSql } from './bool-exp.js';
import { SHIPPED_DEFINITIONS } from './shipped.js';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
const ident = z.string().regex(IDENT, 'must be a lower snake_case identifier');
const table = z.object({ schema: ident, name: ident }).strict();

const relationship = z
  .object({
    table,
    type: z.enum(['object', 'array']),
    /** Column of this table → column of the related table. */
    mapping: z.record(ident, ident).refine((m) => Object.keys(m).length > 0, 'mapping is empty'),
    /** Relationships of the related table, for filters that walk further (channel → members). */
    relationships: z.lazy((): z.ZodType => z.record(ident, relationship)).optional(),
  })
  .strict();

export type RelationshipDef = { table: { schema: string; name: string }; type: 'object' | 'array'; mapping: Record<string, string>; relationships?: Record<string, RelationshipDef> };

export const indexDefinition = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]{0,29}$/, 'index names are lower snake_case, at most 30 characters (the sync trigger is named after them)'),
    description: z.string().optional(),
    table,
    primaryKey: ident,
    searchable: z.array(z.object({ column: ident, weight: z.enum(['A', 'B', 'C', 'D']).default('B') }).strict()).min(1),
    filterable: z.array(ident).default([]),
    sortable: z.array(ident).default([]),
    /** Columns returned in hits besides the primary key, searchable, filterable and sortable ones. */
    display: z.array(ident).default([]),
    language: z.enum(['english', 'simple', 'unaccent']).default('simple'),
    tenantColumn: ident.optional(),
    /** A timestamp column: newer rows rank higher among equally relevant ones. */
    recencyColumn: ident.optional(),
    /**
     * Which rows are indexed at all (Hasura boolean expression on the table's own columns, no session
     * variables), e.g. `{"deleted_at": {"_is_null": true}}`: a row that stops matching leaves the index, for
     * every role including admin, and comes back when it matches again.
     */
    where: z.record(z.string(), z.unknown()).optional(),
    relationships: z.record(ident, relationship).default({}),
    /** Role → which rows it may find (Hasura boolean expression). A role not listed finds nothing; admin finds all. */
    permissions: z.record(z.string().min(1), z.object({ filter: z.record(z.string(), z.unknown()) }).strict()).default({}),
  })
  .strict()
  .superRefine((d, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (d.searchable.some((s) => s.column === d.primaryKey)) issue('the primary key cannot be searchable');
    const dup = d.searchable.map((s) => s.column).filter((c, i, a) => a.indexOf(c) !== i);
    if (dup.length) issue(`searchable column ${dup[0]} is listed twice`);
    if (d.where) {
      // Only the row's own columns: the sync trigger sees changes to this table, not to related ones.
      const own = filterColumns(d.where, {});
      const rels = [...own].filter((c) => c in d.relationships);
      if (rels.length) issue(`where reads relationship ${rels[0]}; it may only read the table's own columns`);
      else {
        try {
          toSql(d.where, { table: d.table }, 't', new SqlBuilder(), { session: {} });
        } catch (e) {
          issue(`where: ${(e as Error).message}`);
        }
      }
    }
  });

export type IndexDefinition = z.infer<typeof indexDefinition>;

export class DefinitionError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`search index definitions:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'DefinitionError';
  }
}

/** Validates raw definitions; throws `DefinitionError` listing every problem. */
export function parseDefinitions(raw: unknown, where: string): IndexDefinition[] {
  if (!Array.isArray(raw)) throw new DefinitionError([`${where}: expected a JSON array of index definitions`]);
  const problems: string[] = [];
  const out: IndexDefinition[] = [];
  raw.forEach((item, i) => {
    const r = indexDefinition.safeParse(item);
    const label = `${where}[${i}]${typeof (item as { name?: unknown })?.name === 'string' ? ` (${(item as { name: string }).name})` : ''}`;
    if (!r.success) problems.push(...r.error.issues.map((x) => `${label}${x.path.length ? `.${x.path.join('.')}` : ''}: ${x.message}`));
    else out.push(r.data);
  });
  if (problems.length) throw new DefinitionError(problems);
  return out;
}

/** The shipped definitions plus the operator's file; a name defined twice is an error. */
export function loadDefinitions(file: string): Map<string, IndexDefinition> {
  const defs = parseDefinitions(SHIPPED_DEFINITIONS, 'shipped definitions');
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new DefinitionError([`SEARCH_DEFINITIONS_FILE ${file}: ${(e as Error).message}`]);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new DefinitionError([`SEARCH_DEFINITIONS_FILE ${file}: not JSON (${(e as Error).message})`]);
    }
    defs.push(...parseDefinitions(json, file));
  }
  const byName = new Map<string, IndexDefinition>();
  const problems: string[] = [];
  for (const d of defs) {
    if (byName.has(d.name)) problems.push(`index ${d.name} is defined twice`);
    byName.set(d.name, d);
  }
  if (problems.length) throw new DefinitionError(problems);
  return byName;
}

/** Columns a hit carries: primary key, searchable, filterable, sortable and display columns. */
export function hitColumns(d: IndexDefinition): string[] {
  return [...new Set([d.primaryKey, ...d.searchable.map((s) => s.column), ...d.filterable, ...d.sortable, ...d.display, ...(d.tenantColumn ? [d.tenantColumn] : []), ...(d.recencyColumn ? [d.recencyColumn] : [])])];
}

/** PostgreSQL text search configuration of a language. */
export function tsConfig(d: IndexDefinition): string {
  return d.language === 'unaccent' ? 'search.unaccent' : d.language;
}

/** The definition's `where` on rows aliased `alias` (`true` without one). */
export function whereSql(d: IndexDefinition, alias: string, b: SqlBuilder): string {
  return d.where ? toSql(d.where, { table: d.table }, alias, b, { session: {} }) : 'true';
}

export const qualified = (t: { schema: string; name: string }) => `"${t.schema}"."${t.name}"`;

/** The definition's relationships, typed (zod's recursive schema infers `unknown` for the nested level). */
export const relationshipsOf = (d: IndexDefinition): Record<string, RelationshipDef> => d.relationships as Record<string, RelationshipDef>;
