import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkPluginSdl } from '../../src/hasura/fragment.js';
import { appendSdl, parseSdlDocument, printActionSdl, printCustomTypeSdl, removeFromSdl, sdlToJson } from '../../src/hasura/sdl.js';
import { CUSTOM_TYPE_KINDS, type AnyCustomType } from '../../src/hasura/types.js';
import { fixturesDir } from './helpers.js';

const notesSdl = readFileSync(join(fixturesDir, 'plugins/notes/actions.graphql'), 'utf8');

describe('SDL ↔ JSON', () => {
  test('actions and custom types in Hasura’s JSON form', () => {
    const { parsed } = checkPluginSdl(notesSdl, 'notes.graphql');
    expect(parsed.actions).toEqual([
      {
        name: 'notesCreate',
        type: 'mutation',
        arguments: [
          { name: 'body', type: 'String!', description: 'Markdown text' },
          { name: 'tags', type: '[String!]' },
        ],
        output_type: 'NotesNote!',
        description: 'Creates a note owned by the caller.',
      },
      { name: 'notesSearch', type: 'query', arguments: [{ name: 'input', type: 'NotesSearchInput!' }], output_type: '[NotesNote!]!' },
    ]);
    expect(parsed.customTypes.enums).toEqual([{ name: 'NotesOrder', values: [{ value: 'NEWEST', description: 'Newest first' }, { value: 'OLDEST' }] }]);
    expect(parsed.customTypes.objects[0]).toEqual({
      name: 'NotesNote',
      description: 'A note.',
      fields: [
        { name: 'id', type: 'uuid!' },
        { name: 'body', type: 'String!' },
        { name: 'createdAt', type: 'timestamptz!' },
        { name: 'order', type: 'NotesOrder' },
      ],
    });
  });

  test('printing the JSON back (CLI layout) parses to the same JSON', () => {
    const { parsed } = checkPluginSdl(notesSdl, 'notes.graphql');
    const printed = [
      ...parsed.actions.map((a) => printActionSdl(a)),
      ...CUSTOM_TYPE_KINDS.flatMap((k) => (parsed.customTypes[k] as AnyCustomType[]).map((t) => printCustomTypeSdl(k, t))),
    ].join('\n\n');
    const again = sdlToJson(parseSdlDocument(printed, 'printed'), 'printed');
    expect(again.actions).toEqual(parsed.actions);
    expect(again.customTypes).toEqual(parsed.customTypes);
    const multiline = printCustomTypeSdl('objects', { name: 'X', description: 'line one\nline "two" """', fields: [{ name: 'a', type: 'Int' }] });
    expect(sdlToJson(parseSdlDocument(multiline, 'm'), 'm').customTypes.objects[0]!.description).toBe('line one\nline "two" """');
  });

  test('PostgreSQL scalars are Hasura’s: used freely, never declared', () => {
    expect(() => checkPluginSdl('scalar uuid\nextend type Query { a: uuid }', 'p.graphql')).toThrow(
      'p.graphql: declares uuid, a PostgreSQL scalar Hasura already provides; remove the declaration',
    );
  });

  test.each([
    ['extend type Query { a: Missing }', 'Unknown type "Missing"'],
    ['extend type Query { a(x: Out): Int }\ntype Out { b: Int }', 'must be Input Type'],
    ['interface I { a: Int }\nextend type Query { a: Int }', 'interface type definition I is not supported'],
    ['union U = Int\nextend type Query { a: Int }', 'union type definition U is not supported'],
    ['extend type Query { a(x: Int = 1): Int }', 'argument x has a default value'],
    ['extend type Query { a: Int @deprecated }', 'directives are not supported'],
    ['extend type Query { a: Int }\nextend type Mutation { a: Int }', 'action a is defined twice'],
    ['extend type Query { a: T }\ntype T { b(x: Int): Int }', 'field T.b has arguments'],
    ['extend type Query { a: Int', 'GraphQL syntax error at line 1, column 27: Expected Name, found <EOF>'],
    ['extend type Foo { a: Int }\nextend type Query { a: Int }', 'only Query and Mutation may be extended'],
  ])('%s is rejected', (sdl, message) => {
    expect(() => checkPluginSdl(sdl, 'p.graphql')).toThrow(message);
  });

  test('`type Query`/`type Mutation` and extensions are both accepted', () => {
    expect(checkPluginSdl('type Mutation { a: Int }\nextend type Mutation { b: Int }', 'p').parsed.actions.map((a) => a.name)).toEqual(['a', 'b']);
  });
});

describe('editing actions.graphql text', () => {
  const user = 'type Query {\n  own: Int\n}\n\n# the chat app\'s types\ntype Own {\n  id: ID\n}\n';

  test('appended definitions come out again byte-for-byte, in any order', () => {
    const a = printActionSdl({ name: 'pA', type: 'mutation', arguments: [], output_type: 'PT' });
    const t = printCustomTypeSdl('objects', { name: 'PT', fields: [{ name: 'x', type: 'Int' }] });
    for (const base of [user, '', 'type Query { own: Int }', '\n', '# only a comment\n']) {
      const one = appendSdl(base, a);
      const two = appendSdl(one, t);
      expect(removeFromSdl(two, 'f', new Set(['pA']), new Set(['PT']))).toBe(base);
      expect(removeFromSdl(two, 'f', new Set(), new Set(['PT']))).toBe(one);
      expect(removeFromSdl(two, 'f', new Set(['pA']), new Set())).toBe(appendSdl(base, t));
    }
  });

  test('a field is cut out of a shared root type block', () => {
    const text = 'type Mutation {\n  mine: Int\n  theirs: Int\n}\n';
    expect(removeFromSdl(text, 'f', new Set(['theirs']), new Set())).toBe('type Mutation {\n  mine: Int\n}\n');
    expect(removeFromSdl(text, 'f', new Set(['mine']), new Set())).toBe('type Mutation {\n  theirs: Int\n}\n');
  });
});
