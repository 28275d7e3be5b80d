/**
 * PostgreSQL scalars that Hasura exposes and action SDL may use without declaring them (they come from the
 * tracked database). `actions.graphql` must NOT declare them; our validators, codegen and harness add
 * these definitions beside the SDL instead.
 */
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

/*
 * What Hasura forwards. An action argument of a PostgreSQL scalar is parsed by Hasura only to validate it and
 * then forwarded exactly as the client sent it (server/src-lib/Hasura/GraphQL/Schema/Action.hs,
 * `customScalarParser`, `ASTReusedScalar`). The parse is `parsePGValue` (Backends/Postgres/SQL/Value.hs):
 *   (_, String t) -> parseTyped <|> pure (PGValUnknown t)
 * so ANY string passes for every type here (a `uuid` "abc", a `timestamptz` "infinity" or "tomorrow", a
 * `bigint` "123"): PostgreSQL would be the one to judge it. A non-string must parse as the Haskell type:
 * integers within their bounds, finite floats, numbers for numeric, anything for json/jsonb, and nothing
 * else for the text-like types. Our checks accept exactly that: never stricter than Hasura, so a request
 * Hasura forwards is never refused here; the handler's own parsing (e.g. `parseHasuraTimestamp`, a zod
 * uuid) turns a text PostgreSQL would reject into a clear 4xx.
 */

type Check = (v: unknown) => boolean;

const isString: Check = (v) => typeof v === 'string';
const anyJson: Check = () => true;
const stringOrFinite: Check = (v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
const stringOrIntegerIn =
  (min: number, max: number): Check =>
  (v) =>
    typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max);

/** TypeScript type of the value: what a handler receives (`input`) and what it should answer (`output`). */
export type ScalarTs = string | { input: string; output: string };

/** name → runtime check of the JSON value Hasura forwards in `input`, its TypeScript type, and its wording. */
const CHECKS: Record<string, { check: Check; ts: ScalarTs; what: string }> = {
  uuid: { check: isString, ts: 'string', what: 'a string' },
  json: { check: anyJson, ts: 'unknown', what: 'JSON' },
  jsonb: { check: anyJson, ts: 'unknown', what: 'JSON' },
  timestamptz: { check: isString, ts: 'string', what: 'a string' },
  timestamp: { check: isString, ts: 'string', what: 'a string' },
  date: { check: isString, ts: 'string', what: 'a string' },
  time: { check: isString, ts: 'string', what: 'a string' },
  timetz: { check: isString, ts: 'string', what: 'a string' },
  interval: { check: isString, ts: 'string', what: 'a string' },
  numeric: { check: stringOrFinite, ts: 'number | string', what: 'a number or a string' },
  float8: { check: stringOrFinite, ts: { input: 'number | string', output: 'number' }, what: 'a number or a string' },
  // JSON.parse rounds int8's largest values (2^63 - 512 … 2^63 - 1) up to 2^63, so that double is allowed too.
  bigint: { check: stringOrIntegerIn(-(2 ** 63), 2 ** 63), ts: 'number | string', what: 'an integer within 64 bits or a string' },
  smallint: { check: stringOrIntegerIn(-32768, 32767), ts: { input: 'number | string', output: 'number' }, what: 'an integer within 16 bits or a string' },
  citext: { check: isString, ts: 'string', what: 'a string' },
  bpchar: { check: isString, ts: 'string', what: 'a string' },
  inet: { check: isString, ts: 'string', what: 'a string' },
};

export const HASURA_SCALAR_NAMES = Object.keys(CHECKS);

/** SDL declaring the scalars, to put beside `actions.graphql` when building a schema from it. */
export const HASURA_SCALARS_SDL = HASURA_SCALAR_NAMES.map((n) => `scalar ${n}`).join('\n') + '\n';

/** TypeScript types for codegen's `scalars` map. */
export const HASURA_SCALARS_TS: Record<string, ScalarTs> = Object.fromEntries(
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

/** Hasura reports a PostgreSQL scalar it cannot parse with `parseErrorWith ParseFailed`: code `parse-failed`. */
export const SCALAR_PARSE_FAILED = 'parse-failed';

/**
 * GraphQLScalarType instances that validate like Hasura's PG scalars (used to build executable schemas). They
 * return the value unchanged: Hasura forwards the client's JSON as sent.
 */
export function hasuraScalarTypes(): GraphQLScalarType[] {
  return Object.entries(CHECKS).map(([name, c]) => {
    const fail = () => new GraphQLError(`expected ${c.what} for ${name}`, { extensions: { code: SCALAR_PARSE_FAILED } });
    return new GraphQLScalarType({
      name,
      serialize: (v) => v,
      parseValue: (v) => {
        if (!c.check(v)) throw fail();
        return v;
      },
      parseLiteral: (ast) => {
        const v = literalToJson(ast);
        if (!c.check(v)) throw fail();
        return v;
      },
    });
  });
}
