/**
 * Runtime validation of action `input` against the actions SDL: the same GraphQL coercion Hasura applies
 * before calling us, repeated here because the handler server must not trust a caller that merely knows
 * the secret (and because a bad SDL/handler pairing should fail loudly, not deep inside a handler).
 */
import { existsSync, readFileSync } from 'node:fs';
import {
  GraphQLError,
  Kind,
  buildASTSchema,
  coerceInputValue,
  isNonNullType,
  isScalarType,
  parse,
  type DefinitionNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLSchema,
  type ObjectTypeDefinitionNode,
} from 'graphql';
import { HASURA_SCALARS_SDL, hasuraScalarTypes } from './hasura-scalars.js';
import { actionsSdlPath } from './paths.js';
import type { PluginManifest } from './plugin.js';
import { EnvelopeError } from './envelope.js';

/** Reads a plugin's actions SDL; `undefined` when it has none. */
export type SdlSource = (plugin: string) => string | undefined;

export const readActionsSdl: SdlSource = (plugin) => {
  const path = actionsSdlPath(plugin);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
};

const ROOTS = new Set(['Query', 'Mutation']);

/**
 * One document from every plugin's SDL. Plugins write `extend type Query/Mutation` (each file alone cannot
 * define the roots without clashing with the others), so root fields are gathered into single definitions.
 */
export function mergeActionsSdl(sdl: ReadonlyMap<string, string>): DocumentNode {
  const rootFields = new Map<string, FieldDefinitionNode[]>([
    ['Query', []],
    ['Mutation', []],
  ]);
  const others: DefinitionNode[] = [];
  for (const [plugin, text] of sdl) {
    let doc: DocumentNode;
    try {
      doc = parse(text);
    } catch (e) {
      throw new Error(`actions/${plugin}/actions.graphql: ${(e as Error).message}`);
    }
    for (const def of doc.definitions) {
      if ((def.kind === Kind.OBJECT_TYPE_DEFINITION || def.kind === Kind.OBJECT_TYPE_EXTENSION) && ROOTS.has(def.name.value)) {
        rootFields.get(def.name.value)!.push(...(def.fields ?? []));
      } else {
        others.push(def);
      }
    }
  }
  const roots: ObjectTypeDefinitionNode[] = [];
  for (const [root, fields] of rootFields) {
    // GraphQL needs a Query type even when every action is a mutation.
    if (fields.length === 0 && root === 'Mutation') continue;
    roots.push({
      kind: Kind.OBJECT_TYPE_DEFINITION,
      name: { kind: Kind.NAME, value: root },
      fields: fields.length ? fields : [placeholderField()],
    });
  }
  const scalars = parse(HASURA_SCALARS_SDL).definitions;
  return { kind: Kind.DOCUMENT, definitions: [...scalars, ...roots, ...others] };
}

function placeholderField(): FieldDefinitionNode {
  return {
    kind: Kind.FIELD_DEFINITION,
    name: { kind: Kind.NAME, value: '_unused' },
    type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'Boolean' } },
  };
}

export function buildActionsSchema(sdl: ReadonlyMap<string, string>): GraphQLSchema {
  const schema = buildASTSchema(mergeActionsSdl(sdl));
  // buildASTSchema makes pass-through scalars; give Hasura's PostgreSQL scalars their real input checks.
  for (const real of hasuraScalarTypes()) {
    const t = schema.getType(real.name);
    if (t && isScalarType(t)) t.parseValue = real.parseValue;
  }
  return schema;
}

/** Same code as a handler's own zod check failing: to the client both are "your input is wrong". */
const INVALID_INPUT = 'invalid-input';

export type InputValidator = (input: Record<string, unknown>) => Record<string, unknown>;

const MAX_INT = 2 ** 31 - 1;
const MIN_INT = -(2 ** 31);

/**
 * For arguments of a built-in scalar type (nullable or not), a check that accepts exactly the values
 * graphql's coercion accepts unchanged. Other types (lists, input objects, enums, ID, custom scalars) go
 * through `coerceInputValue`, as does any value the quick check refuses (to word the error).
 */
function quickScalarCheck(type: GraphQLInputType): ((v: unknown) => boolean) | undefined {
  const nonNull = isNonNullType(type);
  const named = nonNull ? type.ofType : type;
  if (!isScalarType(named)) return undefined;
  let check: (v: unknown) => boolean;
  switch (named.name) {
    case 'String':
      check = (v) => typeof v === 'string';
      break;
    case 'Boolean':
      check = (v) => typeof v === 'boolean';
      break;
    case 'Int':
      check = (v) => typeof v === 'number' && Number.isInteger(v) && v <= MAX_INT && v >= MIN_INT;
      break;
    case 'Float':
      check = (v) => typeof v === 'number' && Number.isFinite(v);
      break;
    default:
      return undefined;
  }
  return nonNull ? check : (v) => v === null || check(v);
}

function validatorFor(action: string, args: readonly GraphQLArgument[]): InputValidator {
  const byName = new Map(args.map((a) => [a.name, a]));
  const quick = args.map((a) => quickScalarCheck(a.type));
  const required = args.filter((a) => isNonNullType(a.type) && a.defaultValue === undefined);
  const list = args.map((a) => a.name).join(', ') || 'no arguments';
  // One error collector per validator, not per request: validation is synchronous, so it is never shared.
  const problems: string[] = [];
  let current = '';
  const onError = (path: ReadonlyArray<string | number>, _invalid: unknown, error: GraphQLError) => {
    // Messages quote the bad value; keep a huge string from flooding the response.
    const msg = `${['input', current, ...path.map(String)].join('.')}: ${error.message}`;
    problems.push(msg.length > 300 ? msg.slice(0, 297) + '...' : msg);
  };
  return (input) => {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(input)) {
      if (!byName.has(key)) throw new EnvelopeError(`input.${key}: unknown argument of ${action} (takes ${list})`, 400, INVALID_INPUT);
    }
    for (const a of required) {
      if (input[a.name] === undefined) throw new EnvelopeError(`input.${a.name}: required argument of ${action} is missing`, 400, INVALID_INPUT);
    }
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const value = input[a.name];
      // Hasura leaves out optional arguments the caller omitted: absent is valid and stays absent.
      if (value === undefined) continue;
      if (quick[i]?.(value)) {
        out[a.name] = value;
        continue;
      }
      problems.length = 0;
      current = a.name;
      const coerced = coerceInputValue(value, a.type, onError);
      if (problems.length) throw new EnvelopeError(problems.slice(0, 5).join('; '), 400, INVALID_INPUT);
      out[a.name] = coerced;
    }
    return out;
  };
}

/**
 * A validator per action of the enabled plugins. Throws at boot when a manifest action has no SDL field,
 * so a handler is never served without its input contract.
 */
export function createInputValidators(
  plugins: readonly PluginManifest[],
  source: SdlSource = readActionsSdl,
): Map<string, InputValidator> {
  const sdl = new Map<string, string>();
  for (const p of plugins) {
    if (!p.actions || Object.keys(p.actions).length === 0) continue;
    const text = source(p.name);
    if (text === undefined) throw new Error(`plugin "${p.name}" declares actions but has no actions/${p.name}/actions.graphql`);
    sdl.set(p.name, text);
  }
  const validators = new Map<string, InputValidator>();
  if (sdl.size === 0) return validators;
  const schema = buildActionsSchema(sdl);
  const fields = { ...schema.getQueryType()?.getFields(), ...schema.getMutationType()?.getFields() };
  const missing: string[] = [];
  for (const p of plugins) {
    for (const action of Object.keys(p.actions ?? {})) {
      const field = fields[action];
      if (!field) missing.push(`action "${action}" of plugin "${p.name}" has no field in actions/${p.name}/actions.graphql`);
      else validators.set(action, validatorFor(action, field.args));
    }
  }
  if (missing.length) throw new Error(missing.join('\n'));
  return validators;
}
