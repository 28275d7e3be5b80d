/**
 * One GraphQL schema per role, named and shaped as Hasura generates it for tracked PostgreSQL tables, joined
 * with the role's actions: only what the role's permissions allow exists in it, so introspection, validation
 * and "field not found" errors read as Hasura's do.
 */
import { buildSchema, type GraphQLSchema } from 'graphql';
import { HASURA_SCALAR_NAMES, hasuraScalarTypes } from '../core/hasura-scalars.js';
import { remoteSdlFor, type RemoteSchemaModel } from './remote-schemas.js';
import type { ActionEngine } from '../testing/actions.js';
import { HarnessConfigError, HarnessUnsupportedError } from '../testing/errors.js';
import { NUMERIC_SCALARS, ORDERED_SCALARS, TEXT_SCALARS, type Column, type FunctionModel, type TableModel } from './model.js';

/** A relationship of an action's output object type to a table, joined under the caller's select permission. */
export interface ActionRelationship {
  name: string;
  kind: 'object' | 'array';
  table: TableModel;
  /** [output field, table column] pairs. */
  mapping: [string, string][];
}

/** What a root field of a role's schema does. */
export type RootField =
  | { kind: 'select' | 'select_by_pk' | 'select_aggregate' | 'select_stream'; table: TableModel }
  | { kind: 'insert' | 'insert_one' | 'update' | 'update_by_pk' | 'update_many' | 'delete' | 'delete_by_pk'; table: TableModel }
  | { kind: 'action'; name: string }
  | { kind: 'function' | 'function_aggregate'; table: TableModel; fn: FunctionModel }
  | { kind: 'remote'; remote: string; field: string };

export interface RoleSchema {
  role: string;
  schema: GraphQLSchema;
  query: Map<string, RootField>;
  mutation: Map<string, RootField>;
  subscription: Map<string, RootField>;
  /** GraphQL object type name → table. */
  types: Map<string, TableModel>;
}

const BUILTIN = new Set(['Int', 'Float', 'String', 'Boolean', 'ID']);
const COMMON_OPS = ['_eq', '_gt', '_gte', '_lt', '_lte', '_neq'];
const TEXT_OPS = ['_ilike', '_iregex', '_like', '_nilike', '_niregex', '_nlike', '_nregex', '_nsimilar', '_regex', '_similar'];
/** A description as a GraphQL string (Hasura's mention quoted table names). */
const d = (text: string): string => JSON.stringify(text);
const JSONB_AGG_FIELDS = ['avg', 'stddev', 'stddev_pop', 'stddev_samp', 'var_pop', 'var_samp', 'variance'];

/** The role's view of a table. */
interface View {
  t: TableModel;
  select?: Column[];
  aggregations: boolean;
}

export class SchemaBuilder {
  private readonly cache = new Map<string, RoleSchema>();

  constructor(
    private readonly tables: ReadonlyMap<string, TableModel>,
    private readonly actions: ActionEngine,
    private readonly inheritedRoles: ReadonlyMap<string, readonly string[]>,
    /** Relationships of action output types to tables (`custom_types.objects[].relationships`), by type name. */
    readonly actionRelationships: ReadonlyMap<string, ActionRelationship[]> = new Map(),
    private readonly functions: readonly FunctionModel[] = [],
    private readonly remote: readonly RemoteSchemaModel[] = [],
  ) {}

  /** Every role the metadata mentions (permissions of tables and actions), plus admin. */
  roles(): string[] {
    const out = new Set(['admin']);
    for (const t of this.tables.values()) for (const m of [t.select, t.insert, t.update, t.delete]) for (const r of m.keys()) out.add(r);
    for (const a of this.actions.actions.values()) for (const r of a.roles) out.add(r);
    return [...out];
  }

  forRole(role: string): RoleSchema {
    // Every role the metadata never mentions sees the same (empty) schema: build it once, whatever the name.
    this.known ??= new Set(this.roles());
    const key = this.known.has(role) || this.inheritedRoles.has(role) ? role : '\u0000unknown';
    const hit = this.cache.get(key);
    if (hit) return hit;
    const built = this.build(role);
    this.cache.set(key, built);
    return built;
  }

  private known: Set<string> | undefined;

  private view(t: TableModel, role: string): View | undefined {
    if (role === 'admin') return { t, select: t.columns, aggregations: true };
    const p = t.select.get(role);
    if (!p) return undefined;
    const cols = t.columns.filter((c) => p.columns.includes(c.name));
    return cols.length ? { t, select: cols, aggregations: p.allowAggregations } : undefined;
  }

  private build(role: string): RoleSchema {
    if (this.inheritedRoles.has(role)) throw new HarnessUnsupportedError(`role "${role}" is an inherited role; nself-plugins dev does not combine the permissions of inherited roles`);
    const admin = role === 'admin';
    const defs = new Map<string, string>();
    const def = (name: string, text: string) => {
      if (!defs.has(name)) defs.set(name, text);
    };
    const scalars = new Set<string>();
    const useScalar = (s: string) => {
      const named = /^\[?(\w+)/.exec(s)![1]!;
      if (!BUILTIN.has(named)) scalars.add(named);
      return s;
    };
    const query: string[] = [];
    const mutation: string[] = [];
    const subscription: string[] = [];
    const rq = new Map<string, RootField>();
    const rm = new Map<string, RootField>();
    const rs = new Map<string, RootField>();
    const types = new Map<string, TableModel>();
    const views = new Map<TableModel, View | undefined>();
    const viewOf = (t: TableModel) => {
      if (!views.has(t)) views.set(t, this.view(t, role));
      return views.get(t);
    };

    def('order_by', `"""column ordering options"""\nenum order_by {\n  asc\n  asc_nulls_first\n  asc_nulls_last\n  desc\n  desc_nulls_first\n  desc_nulls_last\n}`);

    const comparison = (s: string): string => {
      const name = `${s}_comparison_exp`;
      const fields = COMMON_OPS.map((op) => `${op}: ${s}`);
      fields.push(`_in: [${s}!]`, `_is_null: Boolean`, `_nin: [${s}!]`);
      if (TEXT_SCALARS.has(s)) fields.push(...TEXT_OPS.map((op) => `${op}: String`));
      if (s === 'jsonb') {
        def('jsonb_cast_exp', `input jsonb_cast_exp {\n  String: String_comparison_exp\n}`);
        comparison('String');
        fields.push('_cast: jsonb_cast_exp', '_contained_in: jsonb', '_contains: jsonb', '_has_key: String', '_has_keys_all: [String!]', '_has_keys_any: [String!]');
      }
      fields.sort();
      def(name, `"""Boolean expression to compare columns of type "${s}". All fields are combined with logical 'AND'."""\ninput ${name} {\n  ${fields.join('\n  ')}\n}`);
      useScalar(s);
      return name;
    };

    const boolExp = (t: TableModel): string => {
      const name = `${t.typeName}_bool_exp`;
      if (defs.has(name)) return name;
      def(name, '');
      const v = viewOf(t);
      const fields = [`_and: [${name}!]`, `_not: ${name}`, `_or: [${name}!]`];
      for (const c of v?.select ?? []) fields.push(`${c.field}: ${comparison(c.scalar)}`);
      for (const r of t.relationships.values()) if (viewOf(r.target)) fields.push(`${r.name}: ${boolExp(r.target)}`);
      defs.set(name, `"""Boolean expression to filter rows from the table "${t.table.name}". All fields are combined with a logical 'AND'."""\ninput ${name} {\n  ${fields.join('\n  ')}\n}`);
      return name;
    };

    const selectColumn = (v: View): string => {
      const name = `${v.t.typeName}_select_column`;
      def(name, `${d(`select columns of table "${v.t.table.name}"`)}\nenum ${name} {\n  ${v.select!.map((c) => c.field).join('\n  ')}\n}`);
      return name;
    };

    const aggregateOrderBy = (v: View): string => {
      const name = `${v.t.typeName}_aggregate_order_by`;
      if (defs.has(name)) return name;
      const fields = ['count: order_by'];
      const per = (kind: string, cols: Column[]) => {
        if (!cols.length) return;
        const tn = `${v.t.typeName}_${kind}_order_by`;
        def(tn, `input ${tn} {\n  ${cols.map((c) => `${c.field}: order_by`).join('\n  ')}\n}`);
        fields.push(`${kind}: ${tn}`);
      };
      const numeric = v.select!.filter((c) => NUMERIC_SCALARS.has(c.scalar));
      const ordered = v.select!.filter((c) => ORDERED_SCALARS.has(c.scalar));
      per('avg', numeric);
      per('max', ordered);
      per('min', ordered);
      per('sum', numeric);
      def(name, `${d(`order by aggregate values of table "${v.t.table.name}"`)}\ninput ${name} {\n  ${fields.join('\n  ')}\n}`);
      return name;
    };

    const orderBy = (v: View): string => {
      const name = `${v.t.typeName}_order_by`;
      if (defs.has(name)) return name;
      def(name, '');
      const fields = v.select!.map((c) => `${c.field}: order_by`);
      for (const r of v.t.relationships.values()) {
        const rv = viewOf(r.target);
        if (!rv) continue;
        if (r.kind === 'object') fields.push(`${r.name}: ${orderBy(rv)}`);
        else if (rv.aggregations) fields.push(`${r.name}_aggregate: ${aggregateOrderBy(rv)}`);
      }
      defs.set(name, `"""Ordering options when selecting data from "${v.t.table.name}"."""\ninput ${name} {\n  ${fields.join('\n  ')}\n}`);
      return name;
    };

    const selectArgs = (v: View) =>
      `(\n    """distinct select on columns"""\n    distinct_on: [${selectColumn(v)}!]\n    """limit the number of rows returned"""\n    limit: Int\n    """skip the first n rows. Use only with order_by"""\n    offset: Int\n    """sort the rows by one or more columns"""\n    order_by: [${orderBy(v)}!]\n    """filter the rows returned"""\n    where: ${boolExp(v.t)}\n  )`;

    const aggregate = (v: View): string => {
      const name = `${v.t.typeName}_aggregate`;
      if (defs.has(name)) return name;
      const fieldsName = `${v.t.typeName}_aggregate_fields`;
      const fields = [`count(columns: [${selectColumn(v)}!], distinct: Boolean): Int!`];
      const per = (kind: string, cols: Column[], type: (c: Column) => string) => {
        if (!cols.length) return;
        const tn = `${v.t.typeName}_${kind}_fields`;
        def(tn, `"""aggregate ${kind} on columns"""\ntype ${tn} {\n  ${cols.map((c) => `${c.field}: ${useScalar(type(c))}`).join('\n  ')}\n}`);
        fields.push(`${kind}: ${tn}`);
      };
      const numeric = v.select!.filter((c) => NUMERIC_SCALARS.has(c.scalar));
      const ordered = v.select!.filter((c) => ORDERED_SCALARS.has(c.scalar));
      for (const k of JSONB_AGG_FIELDS) per(k, numeric, () => 'Float');
      per('max', ordered, (c) => c.scalar);
      per('min', ordered, (c) => c.scalar);
      per('sum', numeric, (c) => c.scalar);
      fields.sort();
      def(fieldsName, `${d(`aggregate fields of "${v.t.table.name}"`)}\ntype ${fieldsName} {\n  ${fields.join('\n  ')}\n}`);
      def(name, `${d(`aggregated selection of "${v.t.table.name}"`)}\ntype ${name} {\n  aggregate: ${fieldsName}\n  nodes: [${objectType(v)}!]!\n}`);
      return name;
    };

    const objectType = (v: View): string => {
      const name = v.t.typeName;
      if (defs.has(name)) return name;
      def(name, '');
      types.set(name, v.t);
      const fields = v.select!.map((c) => `${c.field}: ${useScalar(c.scalar)}${c.notNull ? '!' : ''}`);
      for (const r of v.t.relationships.values()) {
        const rv = viewOf(r.target);
        if (!rv) continue;
        if (r.kind === 'object') fields.push(`"""An object relationship"""\n  ${r.name}: ${objectType(rv)}`);
        else {
          fields.push(`"""An array relationship"""\n  ${r.name}${selectArgs(rv)}: [${objectType(rv)}!]!`);
          if (rv.aggregations) fields.push(`"""An aggregate relationship"""\n  ${r.name}_aggregate${selectArgs(rv)}: ${aggregate(rv)}!`);
        }
      }
      defs.set(name, `${d(`columns and relationships of "${v.t.table.name}"`)}\ntype ${name} {\n  ${fields.join('\n  ')}\n}`);
      return name;
    };

    const pkArgs = (t: TableModel) => t.primaryKey.map((c) => `${t.byName.get(c)!.field}: ${useScalar(t.byName.get(c)!.scalar)}!`).join(', ');

    const inputOf = (t: TableModel, suffix: string, cols: Column[], type: (c: Column) => string, doc: string): string | undefined => {
      if (!cols.length) return undefined;
      const name = `${t.typeName}_${suffix}`;
      def(name, `${d(doc)}\ninput ${name} {\n  ${cols.map((c) => `${c.field}: ${useScalar(type(c))}`).join('\n  ')}\n}`);
      return name;
    };

    for (const t of this.tables.values()) {
      const v = viewOf(t);
      if (v) {
        const obj = objectType(v);
        const args = selectArgs(v);
        query.push(`${d(`fetch data from the table: "${t.table.name}"`)}\n  ${t.roots.select}${args}: [${obj}!]!`);
        rq.set(t.roots.select, { kind: 'select', table: t });
        subscription.push(`${d(`fetch data from the table: "${t.table.name}"`)}\n  ${t.roots.select}${args}: [${obj}!]!`);
        rs.set(t.roots.select, { kind: 'select', table: t });
        if (v.aggregations) {
          const agg = aggregate(v);
          query.push(`${t.roots.select_aggregate}${args}: ${agg}!`);
          subscription.push(`${t.roots.select_aggregate}${args}: ${agg}!`);
          rq.set(t.roots.select_aggregate, { kind: 'select_aggregate', table: t });
          rs.set(t.roots.select_aggregate, { kind: 'select_aggregate', table: t });
        }
        const pkVisible = t.primaryKey.length > 0 && t.primaryKey.every((c) => v.select!.some((s) => s.name === c));
        if (pkVisible) {
          query.push(`"""fetch data from the table: "${t.table.name}" using primary key columns"""\n  ${t.roots.select_by_pk}(${pkArgs(t)}): ${obj}`);
          subscription.push(`${t.roots.select_by_pk}(${pkArgs(t)}): ${obj}`);
          rq.set(t.roots.select_by_pk, { kind: 'select_by_pk', table: t });
          rs.set(t.roots.select_by_pk, { kind: 'select_by_pk', table: t });
        }
        const cursorValue = inputOf(t, 'stream_cursor_value_input', v.select!, (c) => c.scalar, 'Initial value of the column from where the streaming should start');
        def('cursor_ordering', `"""ordering argument of a cursor"""\nenum cursor_ordering {\n  """ascending ordering of the cursor"""\n  ASC\n  """descending ordering of the cursor"""\n  DESC\n}`);
        const cursor = `${t.typeName}_stream_cursor_input`;
        def(cursor, `${d(`Streaming cursor of the table "${t.table.name}"`)}\ninput ${cursor} {\n  """Stream column input with initial value"""\n  initial_value: ${cursorValue}!\n  """cursor ordering"""\n  ordering: cursor_ordering\n}`);
        subscription.push(
          `${d(`fetch data from the table in a streaming manner: "${t.table.name}"`)}\n  ${t.roots.select_stream}(\n    """maximum number of rows returned in a single batch"""\n    batch_size: Int!\n    """cursor to stream the results returned by the query"""\n    cursor: [${cursor}]!\n    """filter the rows returned"""\n    where: ${boolExp(t)}\n  ): [${obj}!]!`,
        );
        rs.set(t.roots.select_stream, { kind: 'select_stream', table: t });
      }

      // Mutations. `returning` and the *_one / *_by_pk fields need the select permission too.
      const writable = (cols: Column[], presets: Record<string, unknown>) => cols.filter((c) => !c.generated && !(c.name in presets));
      let response: string | undefined;
      const mutationResponse = () => {
        if (response) return response;
        response = `${t.typeName}_mutation_response`;
        def(response, `${d(`response of any mutation on the table "${t.table.name}"`)}\ntype ${response} {\n  """number of rows affected by the mutation"""\n  affected_rows: Int!${v ? `\n  """data from the rows affected by the mutation"""\n  returning: [${objectType(v)}!]!` : ''}\n}`);
        return response;
      };
      const ip = admin ? { columns: t.columns.map((c) => c.name), set: {} } : t.insert.get(role);
      const up = admin ? { columns: t.columns.map((c) => c.name), set: {} } : t.update.get(role);
      if (ip && (admin || !t.insert.get(role)!.backendOnly)) {
        const cols = writable(t.columns.filter((c) => ip.columns.includes(c.name)), ip.set);
        const insertInput = `${t.typeName}_insert_input`;
        def(insertInput, `${d(`input type for inserting data into table "${t.table.name}"`)}\ninput ${insertInput} {\n  ${cols.length ? cols.map((c) => `${c.field}: ${useScalar(c.scalar)}`).join('\n  ') : '_placeholder: Boolean'}\n}`);
        let onConflict = '';
        if (up && t.constraints.length) {
          const oc = `${t.typeName}_on_conflict`;
          const updatable = writable(t.columns.filter((c) => up.columns.includes(c.name)), up.set);
          def(`${t.typeName}_constraint`, `${d(`unique or primary key constraints on table "${t.table.name}"`)}\nenum ${t.typeName}_constraint {\n  ${t.constraints.map((c) => c.name).join('\n  ')}\n}`);
          def(`${t.typeName}_update_column`, `${d(`update columns of table "${t.table.name}"`)}\nenum ${t.typeName}_update_column {\n  ${updatable.length ? updatable.map((c) => c.field).join('\n  ') : '"""placeholder (do not use)"""\n  _PLACEHOLDER'}\n}`);
          def(oc, `${d(`on_conflict condition type for table "${t.table.name}"`)}\ninput ${oc} {\n  constraint: ${t.typeName}_constraint!\n  update_columns: [${t.typeName}_update_column!]! = []\n  where: ${boolExp(t)}\n}`);
          onConflict = `\n    """upsert condition"""\n    on_conflict: ${oc}`;
        }
        mutation.push(`${d(`insert data into the table: "${t.table.name}"`)}\n  ${t.roots.insert}(\n    """the rows to be inserted"""\n    objects: [${insertInput}!]!${onConflict}\n  ): ${mutationResponse()}`);
        rm.set(t.roots.insert, { kind: 'insert', table: t });
        if (v) {
          mutation.push(`${d(`insert a single row into the table: "${t.table.name}"`)}\n  ${t.roots.insert_one}(\n    """the row to be inserted"""\n    object: ${insertInput}!${onConflict}\n  ): ${objectType(v)}`);
          rm.set(t.roots.insert_one, { kind: 'insert_one', table: t });
        }
      }
      if (up && (admin || !t.update.get(role)!.backendOnly)) {
        const cols = writable(t.columns.filter((c) => up.columns.includes(c.name)), up.set);
        const ops: string[] = [];
        const add = (arg: string, input: string | undefined, doc: string) => input && ops.push(`${d(doc)}\n    ${arg}: ${input}`);
        const jsonb = cols.filter((c) => c.scalar === 'jsonb');
        add('_append', inputOf(t, 'append_input', jsonb, () => 'jsonb', 'append existing jsonb value of filtered columns with new jsonb value'), 'append existing jsonb value of filtered columns with new jsonb value');
        add('_delete_at_path', inputOf(t, 'delete_at_path_input', jsonb, () => '[String!]', 'delete the field or element with specified path (for JSON arrays, negative integers count from the end)'), 'delete the field or element with specified path (for JSON arrays, negative integers count from the end)');
        add('_delete_elem', inputOf(t, 'delete_elem_input', jsonb, () => 'Int', 'delete the array element with specified index (negative integers count from the end). throws an error if top level container is not an array'), 'delete the array element with specified index (negative integers count from the end). throws an error if top level container is not an array');
        add('_delete_key', inputOf(t, 'delete_key_input', jsonb, () => 'String', 'delete key/value pair or string element. key/value pairs are matched based on their key value'), 'delete key/value pair or string element. key/value pairs are matched based on their key value');
        add('_inc', inputOf(t, 'inc_input', cols.filter((c) => NUMERIC_SCALARS.has(c.scalar)), (c) => c.scalar, 'input type for incrementing numeric columns in table'), 'increments the numeric columns with given value of the filtered values');
        add('_prepend', inputOf(t, 'prepend_input', jsonb, () => 'jsonb', 'prepend existing jsonb value of filtered columns with new jsonb value'), 'prepend existing jsonb value of filtered columns with new jsonb value');
        add('_set', inputOf(t, 'set_input', cols, (c) => c.scalar, `input type for updating data in table "${t.table.name}"`), 'sets the columns of the filtered rows to the given values');
        if (ops.length) {
          mutation.push(`${d(`update data of the table: "${t.table.name}"`)}\n  ${t.roots.update}(\n    ${ops.join('\n    ')}\n    """filter the rows which have to be updated"""\n    where: ${boolExp(t)}!\n  ): ${mutationResponse()}`);
          rm.set(t.roots.update, { kind: 'update', table: t });
          const updates = `${t.typeName}_updates`;
          def(updates, `input ${updates} {\n  ${ops.map((o) => o.replace(/\n    /g, '\n  ')).join('\n  ')}\n  """filter the rows which have to be updated"""\n  where: ${boolExp(t)}!\n}`);
          mutation.push(`${d(`update multiples rows of table: "${t.table.name}"`)}\n  ${t.roots.update_many}(\n    """updates to execute, in order"""\n    updates: [${updates}!]!\n  ): [${mutationResponse()}]`);
          rm.set(t.roots.update_many, { kind: 'update_many', table: t });
          if (v && t.primaryKey.length) {
            const pkInput = `${t.typeName}_pk_columns_input`;
            def(pkInput, `"""primary key columns input for table: ${t.table.name}"""\ninput ${pkInput} {\n  ${pkArgs(t).split(', ').join('\n  ')}\n}`);
            mutation.push(`${d(`update single row of the table: "${t.table.name}"`)}\n  ${t.roots.update_by_pk}(\n    ${ops.join('\n    ')}\n    pk_columns: ${pkInput}!\n  ): ${objectType(v)}`);
            rm.set(t.roots.update_by_pk, { kind: 'update_by_pk', table: t });
          }
        }
      }
      const dp = admin ? { backendOnly: false } : t.delete.get(role);
      if (dp && (admin || !dp.backendOnly)) {
        mutation.push(`${d(`delete data from the table: "${t.table.name}"`)}\n  ${t.roots.delete}(\n    """filter the rows which have to be deleted"""\n    where: ${boolExp(t)}!\n  ): ${mutationResponse()}`);
        rm.set(t.roots.delete, { kind: 'delete', table: t });
        if (v && t.primaryKey.length) {
          mutation.push(`${d(`delete single row from the table: "${t.table.name}"`)}\n  ${t.roots.delete_by_pk}(${pkArgs(t)}): ${objectType(v)}`);
          rm.set(t.roots.delete_by_pk, { kind: 'delete_by_pk', table: t });
        }
      }
    }

    // Tracked functions: rows of their table under its select permission; `permissions` (when listed) narrow the roles.
    for (const fn of this.functions) {
      const v = viewOf(fn.table);
      if (!v || (!admin && fn.roles && !fn.roles.has(role))) continue;
      const inputs = fn.args.filter((a) => a.name !== fn.sessionArgument);
      let argsArg = '';
      if (inputs.length) {
        const name = `${fn.field}_args`;
        def(name, `${d(`input parameters for function "${fn.name}"`)}\ninput ${name} {\n  ${inputs.map((a) => `${a.name}: ${useScalar(a.scalar)}`).join('\n  ')}\n}`);
        argsArg = `\n    ${d(`input parameters for function "${fn.name}"`)}\n    args: ${name}${inputs.some((a) => !a.hasDefault) ? '!' : ''}`;
      }
      const args = `(${argsArg}${selectArgs(v).slice(1)}`;
      const line = `${d(`execute function "${fn.name}" which returns "${fn.table.table.name}"`)}\n  ${fn.field}${args}: [${objectType(v)}!]!`;
      if (fn.exposedAs === 'mutation') {
        mutation.push(line);
        rm.set(fn.field, { kind: 'function', table: fn.table, fn });
        continue;
      }
      query.push(line);
      subscription.push(line);
      rq.set(fn.field, { kind: 'function', table: fn.table, fn });
      rs.set(fn.field, { kind: 'function', table: fn.table, fn });
      if (v.aggregations) {
        const agg = `${fn.aggregateField}${args}: ${aggregate(v)}!`;
        query.push(agg);
        subscription.push(agg);
        rq.set(fn.aggregateField, { kind: 'function_aggregate', table: fn.table, fn });
        rs.set(fn.aggregateField, { kind: 'function_aggregate', table: fn.table, fn });
      }
    }

    // Action output types joined to tables: the field exists when the role may select the table.
    const extensions: string[] = [];
    for (const [typeName, rels] of this.actionRelationships) {
      const fields: string[] = [];
      for (const r of rels) {
        const v = viewOf(r.table);
        if (!v) continue;
        fields.push(r.kind === 'object' ? `${r.name}: ${objectType(v)}` : `${r.name}: [${objectType(v)}!]!`);
      }
      if (fields.length) extensions.push(`extend type ${typeName} {\n  ${fields.join('\n  ')}\n}`);
    }
    const actions = this.actions.rootFieldsFor(role);
    for (const line of actions.query) rq.set(fieldName(line), { kind: 'action', name: fieldName(line) });
    for (const line of actions.mutation) rm.set(fieldName(line), { kind: 'action', name: fieldName(line) });
    // Async action results can be subscribed to, as in Hasura.
    for (const line of actions.query) {
      const a = this.actions.actions.get(fieldName(line));
      if (a?.async) {
        subscription.push(line);
        rs.set(a.name, { kind: 'action', name: a.name });
      }
    }
    query.push(...actions.query);
    mutation.push(...actions.mutation);

    // Remote schemas: their root fields beside ours, their types as they are (names must not clash, as in Hasura).
    const remote = remoteSdlFor(role, this.remote);
    for (const f of remote.query) {
      query.push(f.line);
      rq.set(f.field, { kind: 'remote', remote: f.remote, field: f.field });
    }
    for (const f of remote.mutation) {
      mutation.push(f.line);
      rm.set(f.field, { kind: 'remote', remote: f.remote, field: f.field });
    }

    const declared = new Set(HASURA_SCALAR_NAMES);
    const extraScalars = [...scalars].filter((s) => !declared.has(s) && !new RegExp(`^(scalar|type|enum|input)\\s+${s}\\b`, 'm').test(this.actions.sdlTypes));
    if (query.length === 0) query.push('no_queries_available: String!');
    // A scalar both sides declare (uuid, jsonb…) is one type; anything else of the same name is a clash.
    const declaredScalars = new Set([...declared, ...scalars, ...[...this.actions.sdlTypes.matchAll(/^scalar\s+(\w+)/gm)].map((m) => m[1]!)]);
    const remoteTypes = remote.types.filter((t) => !declaredScalars.has(/^scalar\s+(\w+)/m.exec(t)?.[1] ?? ""));
    const sdl = [
      ...remoteTypes,
      this.actions.sdlTypes,
      ...actions.types,
      ...extraScalars.map((s) => `scalar ${s}`),
      ...[...defs.values()],
      ...extensions,
      `type query_root {\n  ${query.join('\n  ')}\n}`,
      mutation.length ? `type mutation_root {\n  ${mutation.join('\n  ')}\n}` : '',
      subscription.length ? `type subscription_root {\n  ${subscription.join('\n  ')}\n}` : '',
      `schema {\n  query: query_root${mutation.length ? '\n  mutation: mutation_root' : ''}${subscription.length ? '\n  subscription: subscription_root' : ''}\n}`,
    ].join('\n\n');
    let schema: GraphQLSchema;
    try {
      schema = buildSchema(sdl);
    } catch (e) {
      throw new HarnessConfigError(`the GraphQL schema of role "${role}" does not build: ${(e as Error).message}`);
    }
    for (const s of hasuraScalarTypes()) {
      const t = schema.getType(s.name);
      if (t && t.constructor === s.constructor) Object.assign(t, { parseValue: s.parseValue, parseLiteral: s.parseLiteral, serialize: s.serialize });
    }
    return { role, schema, query: rq, mutation: rm, subscription: rs, types };
  }
}

function fieldName(sdlLine: string): string {
  return /^\s*(?:(?:"""[\s\S]*?"""|"(?:[^"\\]|\\.)*")\s*)?([_A-Za-z][_0-9A-Za-z]*)/.exec(sdlLine)![1]!;
}
