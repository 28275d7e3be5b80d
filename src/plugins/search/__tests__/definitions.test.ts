/** Definition checks at boot: a `where` reads only the table's own columns and no session variables. */
import { describe, expect, test } from '@jest/globals';
import { DefinitionError, parseDefinitions } from '../lib/definitions.js';

const base = {
  name: 'notes',
  table: { schema: 'public', name: 'notes' },
  primaryKey: 'id',
  searchable: [{ column: 'body' }],
  relationships: { owner: { table: { schema: 'public', name: 'users' }, type: 'object', mapping: { owner_id: 'id' } } },
};
const problems = (where: unknown): string[] => {
  try {
    parseDefinitions([{ ...base, where }], 'test');
    return [];
  } catch (e) {
    if (e instanceof DefinitionError) return [...e.problems];
    throw e;
  }
};

describe('index definition where', () => {
  test('a condition on the table’s own columns is accepted', () => {
    expect(problems({ _and: [{ deleted_at: { _is_null: true } }, { status: { _in: ['ready', 'shared'] } }] })).toEqual([]);
  });

  test('a relationship, a session variable, an unknown operator or a bad column name is refused with its reason', () => {
    expect(problems({ owner: { active: { _eq: true } } })).toEqual([expect.stringMatching(/where reads relationship owner/)]);
    expect(problems({ owner_id: { _eq: 'X-Hasura-User-Id' } })).toEqual([expect.stringMatching(/where: missing session variable: "x-hasura-user-id"/)]);
    expect(problems({ status: { _nonsense: 'x' } })).toEqual([expect.stringMatching(/where: column operator "_nonsense" is not supported/)]);
    expect(problems({ 'a"; drop table x; --': { _eq: 1 } })).toEqual([expect.stringMatching(/where: .*is not a column name/)]);
    expect(problems({ _or: ['x'] })).toEqual([expect.stringMatching(/where: expecting an object for boolean expression/)]);
  });
});
