/**
 * Action root fields through the harness's action engine (webhook call, Hasura's body and output checks).
 * Relationship fields of an action's output type (`custom_types.objects[].relationships`) are taken out of the
 * selection, their mapped output fields asked for instead, and joined to their tables here under the caller's
 * select permission — as Hasura joins the webhook's JSON to tables in SQL.
 */
import { Kind, getNamedType, isObjectType, print, type FieldNode, type GraphQLObjectType } from 'graphql';
import { subDocument, subFields } from './ast.js';
import { SqlCompiler } from './compile.js';
import { GraphQLFailure, type GraphQLErrorJson } from './errors.js';
import type { Executor, Prepared } from './execute.js';
import type { ActionRelationship } from './schema.js';

type Json = Record<string, unknown>;

interface RelationshipPlan {
  key: string;
  nodes: FieldNode[];
  type: GraphQLObjectType;
  /** Response keys of the output object in selection order. */
  order: string[];
  joins: { key: string; rel: ActionRelationship; nodes: FieldNode[]; aliases: string[] }[];
}

export async function runActionFields(ex: Executor, p: Prepared, keys: string[], headers: Record<string, string>): Promise<Map<string, string>> {
  const plans = keys.map((k) => relationshipPlan(ex, p, k));
  const nodes = plans.flatMap((pl) => pl.nodes);
  const operation = p.op.operation === 'subscription' ? 'query' : p.op.operation;
  const doc = subDocument({ ...p.op, operation: operation as never }, nodes, p.fragments);
  const r = await ex.harness.engines.actions.execute(print(doc), p.rawVariables, p.session, { headers, requestQuery: p.query });
  if (r.errors?.length) throw new GraphQLFailure(r.errors as GraphQLErrorJson[]);
  const out = new Map<string, string>();
  for (const plan of plans) {
    let value = (r.data as Record<string, unknown>)[plan.key] ?? null;
    if (plan.joins.length && value !== null) value = Array.isArray(value) ? await Promise.all(value.map((o) => join(ex, p, o as Json, plan))) : await join(ex, p, value as Json, plan);
    out.set(plan.key, JSON.stringify(value));
  }
  return out;
}

function relationshipPlan(ex: Executor, p: Prepared, key: string): RelationshipPlan {
  const fieldNodes = p.fields.get(key)!;
  const def = p.rootType.getFields()[fieldNodes[0]!.name.value]!;
  const output = getNamedType(def.type);
  const rels = isObjectType(output) ? ex.schemas.actionRelationships.get(output.name) : undefined;
  const plan: RelationshipPlan = { key, nodes: fieldNodes, joins: [], order: [], type: output as GraphQLObjectType };
  if (!rels) return plan;
  const sub = subFields(fieldNodes, p.fragments, p.vars);
  const kept: FieldNode[] = [];
  let n = 0;
  for (const [subKey, subNodes] of sub) {
    plan.order.push(subKey);
    const rel = rels.find((r) => r.name === subNodes[0]!.name.value);
    if (!rel) {
      kept.push(...subNodes);
      continue;
    }
    const aliases = rel.mapping.map(([field]) => {
      const alias = `_nself_rel_${n++}`;
      kept.push({ kind: Kind.FIELD, alias: { kind: Kind.NAME, value: alias }, name: { kind: Kind.NAME, value: field } });
      return alias;
    });
    plan.joins.push({ key: subKey, rel, nodes: subNodes, aliases });
  }
  if (!plan.joins.length) return plan;
  plan.nodes = [{ ...fieldNodes[0]!, alias: { kind: Kind.NAME, value: key }, selectionSet: { kind: Kind.SELECTION_SET, selections: kept } }];
  return plan;
}

async function join(ex: Executor, p: Prepared, o: Json, plan: RelationshipPlan): Promise<Json> {
  const joined = new Map<string, unknown>();
  for (const j of plan.joins) {
    const values = j.aliases.map((a) => o[a]);
    if (values.some((v) => v === null || v === undefined)) {
      joined.set(j.key, j.rel.kind === 'object' ? null : []);
      continue;
    }
    const c = new SqlCompiler(ex.harness.engines.permissions, p.session, p.vars, p.fragments);
    const type = getNamedType(plan.type.getFields()[j.rel.name]!.type) as GraphQLObjectType;
    const expr = await c.related(j.rel.table, type, j.nodes, j.rel.kind, j.rel.mapping.map(([, col], i) => [col, values[i]]));
    const r = await ex.harness.pool.query<{ root: string | null }>(`SELECT (${expr})::text AS root`, c.params);
    joined.set(j.key, JSON.parse(r.rows[0]?.root ?? 'null'));
  }
  const out: Json = {};
  for (const k of plan.order) out[k] = joined.has(k) ? joined.get(k) : o[k];
  return out;
}
