/**
 * PostgreSQL scalars that Hasura exposes and action SDL may use without declaring them (they come from the
 * tracked database). `actions.graphql` must NOT declare them; our validators, codegen and harness add
 * these definitions beside the SDL instead.
 */
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i;
const ISO_TIME = /^\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i;

type Check = (v: unknown) => boolean;

const isString: Check = (v) => typeof v === 'string';
const isFiniteNumber: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const isNumberOrNumericString: Check = (v) =>
  isFiniteNumber(v) || (typeof v === 'string' && /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(v));
const isInteger: Check = (v) =>
  (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^-?\d{1,19}$/.test(v));
const isTimestamp: Check = (v) => typeof v === 'string' && ISO_TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v.replace(' ', 'T')));

/** name → runtime check of the JSON value Hasura passes in `input` (and accepts in output). */
const CHECKS: Record<string, { check: Check; ts: string; what: string }> = {
  uuid: { check: (v) => typeof v === 'string' && UUID.test(v), ts: 'string', what: 'a UUID string' },
  json: { check: () => true, ts: 'unknown', what: 'JSON' },
  jsonb: { check: () => true, ts: 'unknown', what: 'JSON' },
  timestamptz: { check: isTimestamp, ts: 'string', what: 'an ISO-8601 timestamp' },
  timestamp: { check: isTimestamp, ts: 'string', what: 'an ISO-8601 timestamp' },
  date: { check: (v) => typeof v === 'string' && ISO_DATE.test(v) && !Number.isNaN(Date.parse(v)), ts: 'string', what: 'a YYYY-MM-DD date' },
  time: { check: (v) => typeof v === 'string' && ISO_TIME.test(v), ts: 'string', what: 'a time' },
  timetz: { check: (v) => typeof v === 'string' && ISO_TIME.test(v), ts: 'string', what: 'a time' },
  interval: { check: isString, ts: 'string', what: 'an interval string' },
  numeric: { check: isNumberOrNumericString, ts: 'number | string', what: 'a number' },
  float8: { check: isFiniteNumber, ts: 'number', what: 'a number' },
  bigint: { check: isInteger, ts: 'number | string', what: 'an integer' },
  smallint: { check: (v) => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 32767, ts: 'number', what: 'a small integer' },
  citext: { check: isString, ts: 'string', what: 'a string' },
  bpchar: { check: isString, ts: 'string', what: 'a string' },
  inet: { check: isString, ts: 'string', what: 'an address string' },
};

export const HASURA_SCALAR_NAMES = Object.keys(CHECKS);

/** SDL declaring the scalars, to put beside `actions.graphql` when building a schema from it. */
export const HASURA_SCALARS_SDL = HASURA_SCALAR_NAMES.map((n) => `scalar ${n}`).join('\n') + '\n';

/** TypeScript types for codegen's `scalars` map. */
export const HASURA_SCALARS_TS: Record<string, string> = Object.fromEntries(
  Object.entries(CHECKS).map(([n, c]) => [n, c.ts]),
);

/** Runtime check of a JSON value against a Hasura scalar; `undefined` when `name` is not a Hasura scalar. */
export function checkHasuraScalar(name: string, value: unknown): boolean | undefined {
  const c = CHECKS[name];
  return c ? c.check(value) : undefined;
}

function literalToJson(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.ENUM:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map(literalToJson);
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value)]));
    default:
      throw new GraphQLError('variables are not allowed here');
  }
}

/** GraphQLScalarType instances that validate like Hasura's PG scalars (used to build executable schemas). */
export function hasuraScalarTypes(): GraphQLScalarType[] {
  return Object.entries(CHECKS).map(
    ([name, c]) =>
      new GraphQLScalarType({
        name,
        serialize: (v) => v,
        parseValue: (v) => {
          if (!c.check(v)) throw new GraphQLError(`expected ${c.what} for ${name}`);
          return v;
        },
        parseLiteral: (ast) => {
          const v = literalToJson(ast);
          if (!c.check(v)) throw new GraphQLError(`expected ${c.what} for ${name}`);
          return v;
        },
      }),
  );
}
