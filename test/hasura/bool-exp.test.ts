/**
 * The shared boolean-expression compiler on a real PostgreSQL: the same expressions through a typed schema (as
 * the harness and dev endpoint describe tracked tables) and an untyped one (as search definitions do), with
 * relationships nested and side by side, session variables, the operator allow-list, limits and refusals.
 */
import pg from 'pg';
import { boolExpColumns, BoolExpError, compileBoolExp, type BoolExpColumn, type BoolExpOptions, type BoolExpSchema } from '../../src/hasura/bool-exp.js';
import { createScratchDatabase, type ScratchDatabase } from '../support/db.js';

interface Table {
  name: string;
  columns: BoolExpColumn[];
  relationships: Record<string, { target: string; mapping: [string, string][] }>;
}

const TABLES: Record<string, Table> = {
  rooms: {
    name: 'rooms',
    columns: [{ name: 'id', type: 'int4' }, { name: 'name', type: 'text' }, { name: 'is_public', type: 'bool' }, { name: 'tags', type: 'jsonb' }],
    relationships: { members: { target: 'members', mapping: [['id', 'room_id']] } },
  },
  members: { name: 'members', columns: [{ name: 'room_id', type: 'int4' }, { name: 'user_id', type: 'uuid' }], relationships: {} },
  messages: {
    name: 'messages',
    columns: [{ name: 'id', type: 'int4' }, { name: 'room_id', type: 'int4' }, { name: 'author_id', type: 'uuid' }, { name: 'body', type: 'text' }, { name: 'deleted_at', type: 'timestamptz' }],
    relationships: { room: { target: 'rooms', mapping: [['room_id', 'id']] }, author_room: { target: 'members', mapping: [['author_id', 'user_id']] } },
  },
};

/** Tracked tables with their types (harness, dev endpoint), or by column name alone (search definitions). */
function schemaOf(typed: boolean): BoolExpSchema<Table> {
  return {
    sql: (t) => `"public"."${t.name}"`,
    relationship: (t, name) => {
      const r = t.relationships[name];
      return r && { target: TABLES[r.target]!, mapping: r.mapping };
    },
    column: (t, name) => {
      const c = t.columns.find((x) => x.name === name);
      if (!c) throw new Error(`no column ${name} in ${t.name}`);
      return typed ? c : { name: c.name };
    },
    table: (name) => {
      const t = TABLES[String((name as { name?: unknown }).name)];
      if (!t) throw new Error('unknown table');
      return t;
    },
  };
}

const ANN = '00000000-0000-4000-8000-00000000000a';
const BOB = '00000000-0000-4000-8000-00000000000b';
let db: ScratchDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createScratchDatabase('bool_exp');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  pool.on('error', () => undefined); // the scratch database is dropped WITH (FORCE)
  await pool.query(`
    create table rooms (id int primary key, name text, is_public bool, tags jsonb);
    create table members (room_id int, user_id uuid);
    create table messages (id int primary key, room_id int, author_id uuid, body text, deleted_at timestamptz);
    insert into rooms values (1, 'general', true, '["news"]'), (2, 'ann-only', false, '[]'), (3, 'bob-only', false, null);
    insert into members values (1, '${ANN}'), (1, '${BOB}'), (2, '${ANN}'), (3, '${BOB}');
    insert into messages values (1, 1, '${ANN}', 'hello all', null), (2, 2, '${ANN}', 'ann note', null),
      (3, 3, '${BOB}', 'bob note', null), (4, 1, '${BOB}', 'gone', now());
  `);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/** Ids of the messages an expression admits, compiled with the given schema and options. */
async function ids(exp: unknown, opts: Partial<BoolExpOptions<Table>> & { typed?: boolean } = {}): Promise<number[]> {
  const params: unknown[] = [];
  const cond = compileBoolExp(exp, TABLES.messages!, 'm', { schema: schemaOf(opts.typed ?? true), params, session: opts.session ?? null, ...opts });
  const r = await pool.query<{ id: number }>(`select m.id from messages m where ${cond} order by m.id`, params);
  return r.rows.map((x) => x.id);
}
const refusal = (exp: unknown, opts: Partial<BoolExpOptions<Table>> & { typed?: boolean } = {}): BoolExpError => {
  try {
    compileBoolExp(exp, TABLES.messages!, 'm', { schema: schemaOf(opts.typed ?? true), params: [], session: opts.session ?? null, ...opts });
  } catch (e) {
    if (e instanceof BoolExpError) return e;
    throw e;
  }
  throw new Error('compiled');
};

const VISIBLE = { _and: [{ deleted_at: { _is_null: true } }, { room: { _or: [{ is_public: { _eq: true } }, { members: { user_id: { _eq: 'X-Hasura-User-Id' } } }] } }] };

describe.each([true, false])('typed columns: %s', (typed) => {
  it('a permission filter through nested relationships reads the session', async () => {
    expect(await ids(VISIBLE, { typed, session: { 'x-hasura-user-id': ANN } })).toEqual([1, 2]);
    expect(await ids(VISIBLE, { typed, session: { 'x-hasura-user-id': BOB } })).toEqual([1, 3]);
  });

  it('sibling and nested relationships get their own aliases', async () => {
    const both = { _and: [{ room: { members: { user_id: { _eq: BOB } } } }, { room: { members: { user_id: { _eq: ANN } } } }, { author_room: { room_id: { _eq: 2 } } }] };
    expect(await ids(both, { typed })).toEqual([1]);
  });

  it('without a session, X-Hasura-* strings are literals; missing variables are refused', async () => {
    expect(await ids({ body: { _eq: 'X-Hasura-User-Id' } }, { typed })).toEqual([]);
    expect(refusal(VISIBLE, { typed, session: {} })).toMatchObject({ code: 'not-found', message: 'missing session variable: "x-hasura-user-id"' });
  });

  it('_in, _nin, _like, comparisons, _not, empty lists and empty expressions', async () => {
    expect(await ids({ id: { _in: [2, 3, 99] } }, { typed })).toEqual([2, 3]);
    expect(await ids({ id: { _nin: [2, 3] } }, { typed })).toEqual([1, 4]);
    expect(await ids({ id: { _in: [] } }, { typed })).toEqual([]);
    expect(await ids({ body: { _like: '%note' }, id: { _gt: 2 } }, { typed })).toEqual([3]);
    expect(await ids({ _not: { body: { _ilike: 'HELLO%' } } }, { typed })).toEqual([2, 3, 4]);
    expect(await ids({}, { typed })).toEqual([1, 2, 3, 4]);
    expect(await ids({ _or: [] }, { typed })).toEqual([]);
  });

  it('values are parameters: an injection attempt is only a string', async () => {
    expect(await ids({ body: { _eq: "x' or 1=1 --" } }, { typed })).toEqual([]);
  });

  it('the operator allow-list, depth and list limits, and malformed input are refused with a code', () => {
    expect(refusal({ body: { _like: '%' } }, { typed, operators: new Set(['_eq']) }).code).toBe('validation-failed');
    let deep: Record<string, unknown> = { id: { _eq: 1 } };
    for (let i = 0; i < 20; i++) deep = { _not: deep };
    expect(refusal(deep, { typed, maxDepth: 16 }).code).toBe('unsupported');
    expect(refusal({ id: { _in: [1, 2, 3] } }, { typed, maxListLength: 2 }).code).toBe('validation-failed');
    expect(refusal({ id: { _eq: null } }, { typed }).code).toBe('unsupported');
    expect(refusal({ id: { _eq: { a: 1 } } }, { typed }).code).toBe('validation-failed');
    expect(refusal({ id: 5 }, { typed }).code).toBe('parse-failed');
    expect(refusal({ _bogus: {} }, { typed, unsupportedBy: 'the test' }).message).toBe('boolean operator "_bogus" is not supported by the test');
  });
});

describe('typed and untyped differ where types matter', () => {
  it('untyped: a string of another shape compares as text and matches nothing; typed: PostgreSQL refuses it', async () => {
    expect(await ids({ author_id: { _eq: 'not-a-uuid' } }, { typed: false })).toEqual([]);
    expect(await ids({ author_id: { _in: ['not-a-uuid', ANN] } }, { typed: false })).toEqual([1, 2]);
    await expect(ids({ author_id: { _eq: 'not-a-uuid' } }, { typed: true })).rejects.toThrow(/invalid input syntax for type uuid/);
  });

  it('typed: jsonb operators and a session variable holding an array literal', async () => {
    const params: unknown[] = [];
    const cond = compileBoolExp({ tags: { _contains: ['news'] } }, TABLES.rooms!, 'r', { schema: schemaOf(true), params, session: null });
    expect((await pool.query(`select r.id from rooms r where ${cond}`, params)).rows).toEqual([{ id: 1 }]);
    expect(await ids({ room_id: { _in: 'X-Hasura-Rooms' } }, { session: { 'x-hasura-rooms': '{2,3}' } })).toEqual([2, 3]);
    expect(refusal({ body: { _contains: 'x' } }).code).toBe('validation-failed');
    expect(refusal({ room_id: { _regex: '1' } }).code).toBe('unsupported');
  });

  it('_exists reads another table when the schema names it', async () => {
    expect(await ids({ _exists: { _table: { schema: 'public', name: 'rooms' }, _where: { name: { _eq: 'bob-only' } } }, id: { _lt: 3 } })).toEqual([1, 2]);
  });
});

it('boolExpColumns: the own columns an expression reads, relationships as their mapped columns', () => {
  const rel = (n: string) => TABLES.messages!.relationships[n]?.mapping.map(([mine]) => mine);
  expect([...boolExpColumns(VISIBLE, rel)].sort()).toEqual(['deleted_at', 'room_id']);
});
