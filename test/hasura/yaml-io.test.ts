import fc from 'fast-check';
import YAML from 'yaml';
import { appendToSequence, parseYaml, removeFromSequence, renderYaml } from '../../src/hasura/yaml-io.js';

const isNamed = (names: string[]) => (it: unknown) => typeof it === 'object' && it !== null && names.includes((it as { name: string }).name);

describe('appendToSequence / removeFromSequence', () => {
  const layouts: Record<string, { text: string; path: (string | number)[] }> = {
    'indented block': { text: 'actions:\n  - name: a\n    definition:\n      kind: synchronous\n  - name: b # trailing\ncustom_types: {}\n', path: ['actions'] },
    'compact block (go-yaml v2)': { text: 'actions:\n- name: a\n  definition:\n    kind: synchronous\ncustom_types: {}\n', path: ['actions'] },
    'empty flow under a key': { text: 'actions: []\ncustom_types:\n  enums: []\n', path: ['actions'] },
    'nested with comments': {
      text: 'custom_types:\n  enums: []\n  objects:\n    - name: A\n    # about B\n    - name: B\n      relationships: []\n  scalars: []\n',
      path: ['custom_types', 'objects'],
    },
    'empty root list': { text: '[]\n', path: [] },
    'root list of includes with a header comment': { text: '# sorted\n- "!include a.yaml"\n- "!include b.yaml"\n', path: [] },
    'root list without a final newline': { text: '- name: x\n  schedule: 1 * * * *', path: [] },
  };

  for (const [label, { text, path }] of Object.entries(layouts)) {
    test(`${label}: append then remove is the identity, and the result parses`, () => {
      const items = [{ name: 'p1', definition: { handler: '{{URL}}/x', headers: [{ name: 'h', value_from_env: 'E' }] } }, { name: 'p2' }];
      const added = appendToSequence(text, 'f.yaml', path, items);
      const parsed = YAML.parse(added);
      const seq = path.reduce((v: any, k) => v[k], parsed) as Array<{ name: string }>;
      expect(seq.slice(-2).map((x) => x.name)).toEqual(['p1', 'p2']);
      // A file without a final newline gets one (the appended lines end with one).
      expect(removeFromSequence(added, 'f.yaml', path, isNamed(['p1', 'p2']))).toBe(text.endsWith('\n') ? text : text + '\n');
    });
  }

  test('removing an item added between two others', () => {
    const base = 'actions:\n  - name: a\n';
    let t = appendToSequence(base, 'f', ['actions'], [{ name: 'p1' }]);
    const withP1 = t;
    t = appendToSequence(t, 'f', ['actions'], [{ name: 'p2' }]);
    t = removeFromSequence(t, 'f', ['actions'], isNamed(['p2']));
    expect(t).toBe(withP1);
    t = appendToSequence(t, 'f', ['actions'], [{ name: 'p2' }]);
    expect(removeFromSequence(t, 'f', ['actions'], isNamed(['p1']))).toBe(appendToSequence(base, 'f', ['actions'], [{ name: 'p2' }]));
  });

  test('a missing key is added at the end of its map', () => {
    const t = appendToSequence('custom_types:\n  enums: []\n', 'f', ['custom_types', 'objects'], [{ name: 'X' }]);
    expect(t).toBe('custom_types:\n  enums: []\n  objects:\n    - name: X\n');
  });

  test('nothing to remove leaves the text alone', () => {
    const t = 'actions:\n  - name: a\n';
    expect(removeFromSequence(t, 'f', ['actions'], isNamed(['zz']))).toBe(t);
  });

  test('property: appending any items to any list and removing them gives the original text back', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/);
    const item = fc.record({ name, value: fc.oneof(fc.integer(), fc.string(), fc.constant('{{X}}/y'), fc.constant('*')) });
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 5 }),
        fc.array(item, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('indented', 'compact', 'flow'),
        fc.boolean(),
        (existing, added, style, comment) => {
          const ownNames = added.map((a, i) => `zz_${i}_${a.name}`);
          const mine = added.map((a, i) => ({ ...a, name: ownNames[i]! }));
          let body: string;
          if (existing.length === 0 || style === 'flow') body = 'items: []\n';
          else {
            const rendered = renderYaml(existing);
            body = 'items:\n' + rendered.split('\n').filter(Boolean).map((l) => (style === 'indented' ? '  ' : '') + l).join('\n') + '\n';
          }
          const text = (comment ? '# header\n' : '') + body + 'other: 1\n';
          const after = appendToSequence(text, 'f', ['items'], mine);
          const parsed = parseYaml(after, 'f') as { items: unknown[]; other: number };
          expect(parsed.other).toBe(1);
          expect(parsed.items.slice(-mine.length)).toEqual(mine);
          expect(removeFromSequence(after, 'f', ['items'], isNamed(ownNames))).toBe(text);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('renderYaml / parseYaml', () => {
  test('canonical key order regardless of construction order; includes double-quoted', () => {
    const a = renderYaml({ tables: '!include x/tables.yaml', configuration: {}, kind: 'postgres', name: 'default' });
    expect(a).toBe('name: default\nkind: postgres\nconfiguration: {}\ntables: "!include x/tables.yaml"\n');
    expect(renderYaml({ event_triggers: [], select_permissions: [], table: { schema: 's', name: 'n' } })).toBe(
      'table:\n  name: n\n  schema: s\nselect_permissions: []\nevent_triggers: []\n',
    );
  });

  test('errors name the file and line', () => {
    expect(() => parseYaml('a: 1\na: 2\n', 'x.yaml')).toThrow(/^x\.yaml: invalid YAML: line 2: Map keys must be unique/);
    expect(() => parseYaml('a: 1\n---\nb: 2\n', 'x.yaml')).toThrow('x.yaml: holds several YAML documents');
    expect(() => parseYaml('a: [1,\n', 'x.yaml')).toThrow(/^x\.yaml: invalid YAML/);
  });
});
