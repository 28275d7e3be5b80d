import { definePlugin } from '../../src/core/plugin.js';
import { EnvelopeError } from '../../src/core/envelope.js';
import { createInputValidators, readActionsSdl } from '../../src/core/action-input.js';
import { ALL_PLUGINS } from '../../src/plugins/index.js';
import { HASURA_SCALAR_NAMES } from '../../src/core/hasura-scalars.js';
import fc from 'fast-check';

const noop = async () => null;
const shop = definePlugin({
  name: 'shop',
  version: '1.0.0',
  description: 'test',
  actions: { shopPlaceOrder: { handler: noop }, shopOrder: { handler: noop }, shopPing: { handler: noop } },
});
const SDL = `
extend type Mutation {
  shopPlaceOrder(items: [OrderItem!]!, note: String, priority: Priority, customerId: uuid!, placedAt: timestamptz, meta: jsonb): ShopOrderOutput!
}
extend type Query {
  shopOrder(id: uuid!): ShopOrderOutput
  shopPing: Boolean!
}
enum Priority { LOW HIGH }
input OrderItem { sku: String!, qty: Int!, gift: Boolean = false }
type ShopOrderOutput { id: uuid! }
`;
const validators = createInputValidators([shop], (p) => (p === 'shop' ? SDL : undefined));
const placeOrder = validators.get('shopPlaceOrder')!;
const UUID = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';

function rejection(input: Record<string, unknown>): string {
  try {
    placeOrder(input);
  } catch (e) {
    expect(e).toBeInstanceOf(EnvelopeError);
    return (e as Error).message;
  }
  throw new Error('expected the input to be rejected');
}

describe('action input validation from the SDL', () => {
  it('accepts valid input, leaves omitted optional arguments absent and fills input-object defaults', () => {
    const out = placeOrder({ items: [{ sku: 'a', qty: 2 }], customerId: UUID, priority: 'HIGH', meta: { any: ['json'] } });
    expect(out).toEqual({ items: [{ sku: 'a', qty: 2, gift: false }], customerId: UUID, priority: 'HIGH', meta: { any: ['json'] } });
    expect('note' in out).toBe(false);
    expect(validators.get('shopPing')!({})).toEqual({});
  });

  it('accepts explicit nulls for nullable arguments', () => {
    expect(placeOrder({ items: [], customerId: UUID, note: null })).toEqual({ items: [], customerId: UUID, note: null });
  });

  it('rejects unknown arguments, listing the real ones', () => {
    expect(rejection({ items: [], customerId: UUID, coupon: 'X' })).toBe(
      'input.coupon: unknown argument of shopPlaceOrder (takes items, note, priority, customerId, placedAt, meta)',
    );
  });

  it('rejects a missing non-null argument and an explicit null for it', () => {
    expect(rejection({ items: [] })).toBe('input.customerId: required argument of shopPlaceOrder is missing');
    expect(rejection({ items: null, customerId: UUID })).toContain('input.items: Expected non-nullable type "[OrderItem!]!" not to be null');
  });

  it('rejects wrong types with the path inside lists and input objects', () => {
    expect(rejection({ items: [{ sku: 'a', qty: 1.5 }], customerId: UUID })).toContain('input.items.0.qty: Int cannot represent non-integer value: 1.5');
    expect(rejection({ items: [{ sku: 'a' }], customerId: UUID })).toContain('input.items.0: Field "qty" of required type "Int!" was not provided');
    expect(rejection({ items: [{ sku: 'a', qty: 1, colour: 'red' }], customerId: UUID })).toContain('Field "colour" is not defined by type "OrderItem"');
    expect(rejection({ items: [], customerId: UUID, note: 42 })).toContain('input.note: String cannot represent a non string value: 42');
  });

  it('rejects unknown enum values', () => {
    expect(rejection({ items: [], customerId: UUID, priority: 'URGENT' })).toContain('input.priority: Value "URGENT" does not exist in "Priority" enum');
  });

  it("is never stricter than Hasura's own parse of PostgreSQL scalars: any string passes, the handler decides", () => {
    // Hasura forwards these (Schema/Action.hs customScalarParser → parsePGValue: a string is never refused).
    for (const customerId of ['not-a-uuid', '', '1b4e28ba2fa111d2883f0016d3cca427']) expect(placeOrder({ items: [], customerId }).customerId).toBe(customerId);
    for (const placedAt of ['infinity', '-infinity', 'tomorrow', '2024-05-01 22:00', '2024-05-01', 'tuesday']) {
      expect(placeOrder({ items: [], customerId: UUID, placedAt }).placedAt).toBe(placedAt);
    }
    expect(placeOrder({ items: [], customerId: UUID, placedAt: '2024-05-01T22:00:00Z' }).placedAt).toBe('2024-05-01T22:00:00Z');
  });

  it('refuses what Hasura refuses too: a non-string for a text-like PostgreSQL scalar', () => {
    expect(rejection({ items: [], customerId: 5 })).toBe('input.customerId: expected a string for uuid');
    expect(rejection({ items: [], customerId: UUID, placedAt: 1714600000000 })).toBe('input.placedAt: expected a string for timestamptz');
    expect(rejection({ items: [], customerId: null })).toContain('input.customerId: Expected non-nullable type "uuid!" not to be null');
  });

  it('keeps messages short when a huge value is quoted', () => {
    expect(rejection({ items: [], customerId: UUID, priority: 'x'.repeat(100_000) }).length).toBeLessThan(400);
  });

  it('fails at boot when a manifest action has no SDL field, or no SDL file', () => {
    const extra = definePlugin({ name: 'shop', version: '1', description: 't', actions: { shopMissing: { handler: noop } } });
    expect(() => createInputValidators([extra], () => SDL)).toThrow('action "shopMissing" of plugin "shop" has no field in actions/shop/actions.graphql');
    expect(() => createInputValidators([extra], () => undefined)).toThrow('declares actions but has no actions/shop/actions.graphql');
    expect(() => createInputValidators([extra], () => 'type {')).toThrow('actions/shop/actions.graphql: Syntax Error');
  });

  it("builds validators for every action of the suite's own plugins", () => {
    const all = createInputValidators(ALL_PLUGINS, readActionsSdl);
    for (const p of ALL_PLUGINS) for (const name of Object.keys(p.actions ?? {})) expect(all.has(name)).toBe(true);
  });
});

describe('the quick scalar checks agree with graphql coercion', () => {
  it('accept exactly what coerceInputValue accepts unchanged', async () => {
    const { default: fc } = await import('fast-check');
    const { buildSchema, coerceInputValue } = await import('graphql');
    const schema = buildSchema('type Query { f(s: String, sn: String!, i: Int, b: Boolean, f: Float): Int }');
    const field = schema.getQueryType()!.getFields().f!;
    const quickValidators = createInputValidators(
      [definePlugin({ name: 'q', version: '1', description: 't', actions: { f: { handler: noop } } })],
      () => 'extend type Query { f(s: String, sn: String!, i: Int, b: Boolean, f: Float): Int }',
    ).get('f')!;
    const values = fc.oneof(fc.jsonValue(), fc.constantFrom(2 ** 31, -(2 ** 31), 2 ** 31 - 1, -(2 ** 31) - 1, 1.5, -0, 1e300));
    fc.assert(
      fc.property(fc.constantFrom('s', 'sn', 'i', 'b', 'f'), values, (arg, value) => {
        const type = field.args.find((a) => a.name === arg)!.type;
        let graphqlOk = true;
        let coerced: unknown;
        try {
          coerced = coerceInputValue(value, type);
        } catch {
          graphqlOk = false;
        }
        const input = arg === 'sn' ? { sn: value } : { sn: 'x', [arg]: value };
        let oursOk = true;
        let out: Record<string, unknown> = {};
        try {
          out = quickValidators(input);
        } catch {
          oursOk = false;
        }
        expect(oursOk).toBe(graphqlOk);
        if (graphqlOk) expect(out[arg]).toEqual(coerced);
      }),
      { numRuns: 2000 },
    );
  });
});

/**
 * Hasura's parsePGValue (server/src-lib/Hasura/Backends/Postgres/SQL/Value.hs), restated: a string always
 * parses (`parseTyped <|> pure (PGValUnknown t)`); otherwise integers must be integral and within their
 * Haskell type (Int16/Int64 through scientificToInteger), floats finite, numeric a number, json anything, and
 * the text-like types (uuid, dates, times, citext, inet, interval…) nothing but a string.
 */
function hasuraAccepts(type: string, v: unknown): boolean {
  if (typeof v === 'string') return true;
  const isNum = typeof v === 'number' && Number.isFinite(v);
  switch (type) {
    case 'json':
    case 'jsonb':
      return true;
    case 'numeric':
    case 'float8':
      return isNum;
    case 'smallint':
      return isNum && Number.isInteger(v) && (v as number) >= -32768 && (v as number) <= 32767;
    case 'bigint':
      // 2^63 itself: JSON.parse rounds int8's largest values up to it, and those Hasura accepts.
      return isNum && Number.isInteger(v) && (v as number) >= -(2 ** 63) && (v as number) <= 2 ** 63;
    default:
      return false;
  }
}

describe('PostgreSQL scalars: accepted exactly when Hasura would forward them', () => {
  it('agrees with parsePGValue for every scalar and any JSON value', () => {
    const args = HASURA_SCALAR_NAMES.map((n) => `${n}: ${n}`).join(', ');
    const v = createInputValidators(
      [definePlugin({ name: 'pg', version: '1', description: 't', actions: { pgAll: { handler: noop } } })],
      () => `extend type Query { pgAll(${args}): Int }`,
    ).get('pgAll')!;
    const edges = fc.constantFrom(32767, 32768, -32768, -32769, 2 ** 53, 2 ** 63, -(2 ** 63), 2 ** 64, 1.5, -0, 1e21, 'infinity', 'NaN', '', '123', 'not-a-uuid');
    fc.assert(
      fc.property(fc.constantFrom(...HASURA_SCALAR_NAMES), fc.oneof(fc.jsonValue(), edges), (type, value) => {
        fc.pre(value !== null);
        let ok = true;
        let out: Record<string, unknown> = {};
        try {
          out = v({ [type]: value });
        } catch (e) {
          expect(e).toBeInstanceOf(EnvelopeError);
          ok = false;
        }
        expect(ok).toBe(hasuraAccepts(type, value));
        // forwarded unchanged, as Hasura forwards the client's JSON
        if (ok) expect(out[type]).toBe(value);
      }),
      { numRuns: 3000 },
    );
  });
});
