/** Feature flags: `<PLUGIN>_FEATURES` parsing, the manifest as it runs with a set of features, settings per feature. */
import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { ConfigError, forFeature, loadConfig, renderEnvExample } from '../../src/core/config.js';
import { activeFeatures, featureTagProblems, parseFeatures, withFeatures } from '../../src/core/features.js';
import { definePlugin } from '../../src/core/plugin.js';
import { handlerTables } from '../../src/core/registry.js';
import { mediaPlugin, notesPlugin } from '../fixtures/plugins/catalog.js';

const names = (o: Record<string, unknown> | undefined) => Object.keys(o ?? {}).sort();

describe('parseFeatures', () => {
  it('reads unset and empty as the defaults, `none` as none and `all` as all', () => {
    expect(parseFeatures(mediaPlugin, undefined)).toEqual({ features: ['thumbnails'], problems: [] });
    expect(parseFeatures(mediaPlugin, '  ')).toEqual({ features: ['thumbnails'], problems: [] });
    expect(parseFeatures(mediaPlugin, 'none')).toEqual({ features: [], problems: [] });
    expect(parseFeatures(mediaPlugin, 'all')).toEqual({ features: ['scan', 'thumbnails', 'transcode'], problems: [] });
    expect(parseFeatures(mediaPlugin, ' scan , thumbnails,scan')).toEqual({ features: ['scan', 'thumbnails'], problems: [] });
  });

  it('names unknown features and unmet requirements', () => {
    expect(parseFeatures(mediaPlugin, 'scan,warp').problems).toEqual(['unknown feature "warp" of plugin media; available: scan, thumbnails, transcode']);
    expect(parseFeatures(mediaPlugin, 'transcode').problems).toEqual(['feature "transcode" of plugin media needs feature "thumbnails"']);
  });
});

describe('withFeatures', () => {
  it('leaves out every part of a feature that is off', () => {
    const m = withFeatures(mediaPlugin, ['scan']);
    expect(names(m.actions)).toEqual(['mediaScan', 'mediaUpload']);
    expect(m.tables!.map((t) => t.table.name)).toEqual(['item']);
    expect(m.tables![0]!.event_triggers!.map((e) => e.name)).toEqual(['media_item_uploaded', 'media_item_scan']);
    expect(names(m.crons)).toEqual(['media_prune', 'media_rescan']);
    expect(m.functions!.map((f) => f.function.name)).toEqual(['search_items']);
    expect(m.jobs!.map((j) => j.name)).toEqual(['media.scan']);
    expect(m.services!.map((s) => s.name)).toEqual(['store', 'scanner']);
    expect(Object.keys(m.config!.shape).sort()).toEqual(['MEDIA_BUCKET', 'MEDIA_SCAN_HOST']);
    expect([...activeFeatures(m)]).toEqual(['scan']);
  });

  it('keeps everything with every feature on, and the manifest itself when it has no features', () => {
    const all = withFeatures(mediaPlugin, ['scan', 'thumbnails', 'transcode']);
    expect(names(all.actions)).toEqual(['mediaScan', 'mediaThumbnail', 'mediaUpload']);
    expect(all.jobs).toHaveLength(2);
    const plain = definePlugin({ ...notesPlugin, features: undefined });
    expect(withFeatures(plain, [])).toBe(plain);
  });

  it('routes only the handlers of features that are on', () => {
    const t = handlerTables([withFeatures(mediaPlugin, ['thumbnails'])]);
    expect([...t.actions.keys()].sort()).toEqual(['mediaThumbnail', 'mediaUpload']);
    expect([...t.events.keys()].sort()).toEqual(['media_item_uploaded', 'media_thumbnail_made']);
    expect([...t.crons.keys()]).toEqual(['media_prune']);
  });
});

describe('featureTagProblems', () => {
  it('finds parts tagged with a feature the manifest does not declare', () => {
    const bad = definePlugin({
      name: 'bad',
      version: '1',
      description: 'x',
      features: { a: { description: 'A', requires: ['zz'] } },
      config: z.object({ BAD_X: z.string().meta({ feature: 'b' }) }),
      actions: { badDo: { handler: async () => ({}), feature: 'c' } },
    });
    expect(featureTagProblems(bad)).toEqual([
      'plugin bad: feature "a" requires "zz", which the manifest does not declare',
      'plugin bad: action badDo belongs to feature "c", which the manifest does not declare',
      'plugin bad: setting BAD_X belongs to feature "b", which the manifest does not declare',
    ]);
    expect(featureTagProblems(mediaPlugin)).toEqual([]);
  });
});

describe('loadConfig with features', () => {
  const base = { DATABASE_URL: 'postgres://u@h/db' };

  it('runs the default features and does not require a disabled feature’s settings', () => {
    const c = loadConfig(base, [mediaPlugin]);
    expect(c.features.get('media')).toEqual(['thumbnails']);
    expect(c.pluginConfig.get('media')).toEqual({ MEDIA_BUCKET: 'media', MEDIA_THUMB_SIZE: 256 });
    expect(names(c.plugins[0]!.actions)).toEqual(['mediaThumbnail', 'mediaUpload']);
  });

  it('requires the settings of a feature that is on, naming the variable', () => {
    let err: unknown;
    try {
      loadConfig({ ...base, MEDIA_FEATURES: 'scan' }, [mediaPlugin]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([{ plugin: 'media', variable: 'MEDIA_SCAN_HOST', message: 'is required' }]);
    const c = loadConfig({ ...base, MEDIA_FEATURES: 'scan', MEDIA_SCAN_HOST: 'clamd' }, [mediaPlugin]);
    expect(c.pluginConfig.get('media')).toEqual({ MEDIA_BUCKET: 'media', MEDIA_SCAN_HOST: 'clamd' });
  });

  it('reports unknown features and unmet requirements with every other problem at once', () => {
    let err: unknown;
    try {
      loadConfig({ ...base, PORT: 'x', MEDIA_FEATURES: 'warp,transcode' }, [mediaPlugin]);
    } catch (e) {
      err = e;
    }
    const problems = (err as ConfigError).problems;
    expect(problems).toContainEqual({ plugin: 'media', variable: 'MEDIA_FEATURES', message: 'unknown feature "warp" of plugin media; available: scan, thumbnails, transcode' });
    expect(problems).toContainEqual({ plugin: 'media', variable: 'MEDIA_FEATURES', message: 'feature "transcode" of plugin media needs feature "thumbnails"' });
    expect(problems.some((p) => p.variable === 'PORT')).toBe(true);
  });

  it('documents the features and feature settings in .env.example', () => {
    const text = renderEnvExample([mediaPlugin]);
    expect(text).toContain('# Features switched on, comma-separated (none: none, all: all): scan (Scan uploads), thumbnails (Make thumbnails), transcode (Transcode videos).\n# (default: thumbnails)\n# MEDIA_FEATURES=thumbnails');
    expect(text).toContain('# (feature: scan; required with the feature)\n# MEDIA_SCAN_HOST=');
    expect(text).toContain('# (feature: thumbnails; default: 256)\n# MEDIA_THUMB_SIZE=256');
  });
});

describe('settings of a switched-off feature in a refined config', () => {
  it('drops them and keeps the cross-setting checks of the settings that stay', () => {
    const refined = definePlugin({
      name: 'refined',
      version: '1.0.0',
      description: 'a config with a refinement and a feature setting',
      features: { extra: { description: 'extra' } },
      config: z
        .object({
          REFINED_A: z.string().optional(),
          REFINED_B: z.string().optional(),
          REFINED_EXTRA: forFeature('extra', z.string()),
        })
        .superRefine((c, ctx) => {
          if (c.REFINED_A !== undefined && c.REFINED_B === undefined) ctx.addIssue({ code: 'custom', path: ['REFINED_B'], message: 'is required with REFINED_A' });
        }),
    });
    const off = withFeatures(refined, []);
    expect(Object.keys(off.config!.shape)).toEqual(['REFINED_A', 'REFINED_B']);
    expect(off.config!.safeParse({}).success).toBe(true);
    expect(off.config!.safeParse({ REFINED_A: 'x' }).error?.issues.map((i) => i.path[0])).toEqual(['REFINED_B']);
    const on = withFeatures(refined, ['extra']);
    expect(on.config!.safeParse({}).success).toBe(false);
  });
});
