/**
 * Hasura's treatment of an action webhook's 2xx body (GraphQL/Execute/Action.hs `validateResponse`,
 * `validateResponseObject`, `makeActionResponseNoRelations`; reference/hasura.md §1.2), quirks included:
 * only the top level is validated, a JSON number against a non-numeric type is reported as "scalar String",
 * and nested objects are looked up by their alias. A selected field the handler left out comes back as
 * `null` (Hasura's server/tests-py/queries/actions/sync/omitted_field_response_for_nullable_field.yaml:
 * the handler answers `{"country": "India"}`, the client gets `{city: null, country: "India"}`; issue
 * #9191). reference/hasura.md §1.2 still describes the older engine, which dropped such fields.
 */
import {
  getNamedType,
  getNullableType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLObjectType,
  type GraphQLOutputType,
} from 'graphql';
import { HASURA_SCALAR_NAMES } from '../core/hasura-scalars.js';
import { HasuraError } from './errors.js';

const BUILTIN_SCALARS = new Set(['Int', 'Float', 'String', 'Boolean', 'ID']);
const PG_SCALARS = new Set(HASURA_SCALAR_NAMES);

/** A selected field: response key, field name, and its sub-selection when the field is an object. */
export interface Selected {
  key: string;
  field: string;
  sub: Selected[] | null;
  /** The object type of a field with a sub-selection (answers `__typename` inside it). */
  typename?: string;
}

const unexpected = (message: string): HasuraError => new HasuraError(message, 'unexpected');

/** The fields of the action's output object type, or none for a scalar/enum output. */
function outputFieldsOf(type: GraphQLOutputType): Map<string, GraphQLOutputType> {
  const named = getNamedType(type);
  const out = new Map<string, GraphQLOutputType>();
  if (isObjectType(named)) for (const [n, f] of Object.entries((named as GraphQLObjectType).getFields())) out.set(n, f.type);
  return out;
}

/** Hasura's `isCustomScalar`: PG scalars, and any non-builtin named type when the output has no fields (enums, custom scalars). */
function isCustomScalar(type: GraphQLOutputType, outputFields: Map<string, GraphQLOutputType>): boolean {
  const t = getNullableType(type);
  if (isListType(t)) return false;
  const name = getNamedType(t).name;
  return PG_SCALARS.has(name) || (outputFields.size === 0 && !BUILTIN_SCALARS.has(name));
}

function containsCustomScalar(type: GraphQLOutputType, outputFields: Map<string, GraphQLOutputType>): boolean {
  const t = getNullableType(type);
  return isListType(t) ? containsCustomScalar(t.ofType, outputFields) : isCustomScalar(t, outputFields);
}

function validateObject(obj: Record<string, unknown>, outputFields: Map<string, GraphQLOutputType>): void {
  // Fields not in the output type are ignored.
  for (const [name, type] of outputFields) {
    if (!isNonNullType(type)) continue;
    if (!Object.prototype.hasOwnProperty.call(obj, name)) throw unexpected(`field "${name}" expected in webhook response, but not found`);
    if (obj[name] === null) throw unexpected(`expecting not null value for field "${name}"`);
  }
}

function validateValue(value: unknown, type: GraphQLOutputType, outputFields: Map<string, GraphQLOutputType>): void {
  if (isCustomScalar(type, outputFields)) return;
  if (value === null) {
    if (isNonNullType(type)) throw unexpected('got null for the action webhook response');
    return;
  }
  const t = getNullableType(type);
  if (isListType(t)) {
    if (!Array.isArray(value)) throw unexpected('expecting array for the action webhook response');
    for (const v of value) validateValue(v, t.ofType, outputFields);
    return;
  }
  const name = getNamedType(t).name;
  if (Array.isArray(value)) throw unexpected(`got array for the action webhook response, expecting ${name}`);
  switch (typeof value) {
    case 'number':
      // Hasura's message really says "String" here.
      if (name !== 'Int' && name !== 'Float') throw unexpected(`got scalar String for the action webhook response, expecting ${name}`);
      return;
    case 'boolean':
      if (name !== 'Boolean') throw unexpected(`got scalar Boolean for the action webhook response, expecting ${name}`);
      return;
    case 'string':
      if (name !== 'String' && name !== 'ID') throw unexpected(`got scalar String for the action webhook response, expecting ${name}`);
      return;
    default:
      if (BUILTIN_SCALARS.has(name)) throw unexpected(`got object for the action webhook response, expecting ${name}`);
      validateObject(value as Record<string, unknown>, outputFields);
  }
}

/** Throws Hasura's `unexpected` error when a 2xx body does not fit the action's output type. */
export function validateActionResponse(value: unknown, outputType: GraphQLOutputType): void {
  validateValue(value, outputType, outputFieldsOf(outputType));
}

function projectObject(obj: Record<string, unknown>, selection: Selected[], typename: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of selection) {
    if (s.field === '__typename') {
      out[s.key] = typename;
      continue;
    }
    if (s.sub === null) {
      out[s.key] = Object.prototype.hasOwnProperty.call(obj, s.field) ? obj[s.field] : null;
      continue;
    }
    // Hasura looks nested objects up by the response key, so an aliased nested object is not found: null.
    if (!Object.prototype.hasOwnProperty.call(obj, s.key)) {
      out[s.key] = null;
      continue;
    }
    const v = projectNested(obj[s.key], s.sub, s.typename ?? typename);
    if (v !== undefined) out[s.key] = v;
  }
  return out;
}

function projectNested(v: unknown, selection: Selected[], typename: string): unknown {
  if (v === null) return null;
  if (Array.isArray(v)) return v.map((x) => projectNested(x, selection, typename)).filter((x) => x !== undefined);
  if (typeof v === 'object') return projectObject(v as Record<string, unknown>, selection, typename);
  return undefined;
}

/**
 * The GraphQL value for a validated body: the body itself when the type holds a custom scalar, otherwise
 * objects (and arrays of objects) projected onto the selection.
 * `checkCustomScalar` is false for async results, where Hasura projects without the output-field check.
 */
export function projectActionResponse(value: unknown, outputType: GraphQLOutputType, selection: Selected[], checkCustomScalar = true): unknown {
  const outputFields = checkCustomScalar ? outputFieldsOf(outputType) : new Map<string, GraphQLOutputType>();
  if (checkCustomScalar && containsCustomScalar(outputType, outputFields)) return value;
  const typename = getNamedType(outputType).name;
  if (Array.isArray(value)) return value.map((x) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? projectObject(x as Record<string, unknown>, selection, typename) : x));
  if (value !== null && typeof value === 'object') return projectObject(value as Record<string, unknown>, selection, typename);
  return value;
}
