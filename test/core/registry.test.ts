import { z } from 'zod';
import { definePlugin, type PluginManifest } from '../../src/core/plugin.js';
import { RegistryError, handlerTables, resolvePlugins } from '../../src/core/registry.js';

const noop = async () => undefined;
const plugin = (name: string, extra: Partial<PluginManifest> = {}): PluginManifest =>
  definePlugin({ name, version: '1.0.0', description: name, ...extra });

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof RegistryError) return [...e.problems];
    throw e;
  }
  throw new Error('expected a RegistryError');
}

describe('resolvePlugins', () => {
  const a = plugin('a');
  const b = plugin('b', { dependsOn: ['a'] });
  const c = plugin('c', { dependsOn: ['b'] });

  it('enables everything by default, dependencies first', () => {
    expect(resolvePlugins([c, b, a]).map((p) => p.name)).toEqual(['a', 'b', 'c']);
  });

  it('keeps catalogue order for independent plugins and honours a selection', () => {
    const x = plugin('x');
    expect(resolvePlugins([x, a, b], ['b', 'a']).map((p) => p.name)).toEqual(['a', 'b']);
    expect(resolvePlugins([x, a, b], ['x']).map((p) => p.name)).toEqual(['x']);
  });

  it('names the unknown plugin and lists the known ones', () => {
    expect(problemsOf(() => resolvePlugins([a, b], ['a', 'zzz']))).toEqual(['unknown plugin "zzz" in PLUGINS_ENABLED; known plugins: a, b']);
  });

  it('names both plugins when a dependency is not enabled', () => {
    expect(problemsOf(() => resolvePlugins([a, b, c], ['c']))).toEqual([
      'plugin "c" depends on plugin "b", which is not enabled; add it to PLUGINS_ENABLED',
    ]);
  });

  it('names both plugins when a dependency does not exist at all', () => {
    const d = plugin('d', { dependsOn: ['ghost'] });
    expect(problemsOf(() => resolvePlugins([d]))[0]).toContain('plugin "d" depends on plugin "ghost", which does not exist');
  });

  it('reports a dependency cycle with its path', () => {
    const p = plugin('p', { dependsOn: ['q'] });
    const q = plugin('q', { dependsOn: ['p'] });
    expect(problemsOf(() => resolvePlugins([p, q]))[0]).toMatch(/cycle: (p -> q -> p|q -> p -> q)/);
  });

  it('rejects duplicate plugin names, bad names and settings outside the plugin prefix', () => {
    const bad = plugin('Bad-Name');
    const leaky = plugin('leaky', { config: z.object({ PORT: z.string().optional() }) });
    const problems = problemsOf(() => resolvePlugins([a, a, bad, leaky]));
    expect(problems).toEqual(
      expect.arrayContaining([
        'plugin "a" is listed twice',
        'plugin name "Bad-Name" must be lower snake_case (it is a PostgreSQL schema)',
        'plugin "leaky": setting PORT must start with LEAKY_',
      ]),
    );
  });

  it('rejects the same action, trigger or cron name in two plugins', () => {
    const one = plugin('one', {
      actions: { sharedAction: { handler: noop } },
      crons: { shared_cron: { schedule: '* * * * *', handler: noop } },
      tables: [{ table: { schema: 'one', name: 't' }, event_triggers: [{ name: 'shared_trigger', definition: { insert: { columns: '*' } }, handler: noop }] }],
    });
    const two = plugin('two', {
      actions: { sharedAction: { handler: noop } },
      crons: { shared_cron: { schedule: '* * * * *', handler: noop } },
      tables: [{ table: { schema: 'two', name: 't' }, event_triggers: [{ name: 'shared_trigger', definition: { insert: { columns: '*' } }, handler: noop }] }],
    });
    expect(problemsOf(() => resolvePlugins([one, two])).sort()).toEqual([
      'action "sharedAction" is declared by plugin "one" and by plugin "two"',
      'cron trigger "shared_cron" is declared by plugin "one" and by plugin "two"',
      'event trigger "shared_trigger" is declared by plugin "one" and by plugin "two"',
    ]);
  });
});

describe('handlerTables', () => {
  it('maps every name to its plugin and spec', () => {
    const p = plugin('p', {
      actions: { pDo: { handler: noop } },
      crons: { p_tick: { schedule: '* * * * *', handler: noop } },
      tables: [{ table: { schema: 'p', name: 't' }, event_triggers: [{ name: 'p_t_inserted', definition: { insert: { columns: '*' } }, handler: noop }] }],
    });
    const t = handlerTables([p]);
    expect(t.actions.get('pDo')?.plugin.name).toBe('p');
    expect(t.events.get('p_t_inserted')?.spec.name).toBe('p_t_inserted');
    expect(t.crons.get('p_tick')?.spec.schedule).toBe('* * * * *');
  });
});
