import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  REDACTED,
  coreConfigSchema,
  isSecret,
  loadConfig,
  redactConfig,
  renderEnvExample,
  secret,
  withDynamicSettings,
} from '../../src/core/config.js';
import { definePlugin, type PluginManifest } from '../../src/core/plugin.js';
import { packageRoot } from '../../src/core/paths.js';
import { ALL_PLUGINS } from '../../src/plugins/index.js';

const mail = definePlugin({
  name: 'mail',
  version: '1.0.0',
  description: 'Test mail plugin',
  config: z.object({
    MAIL_FROM: z.email().describe('Sender address'),
    MAIL_SMTP_PASSWORD: secret(z.string().min(8)).optional().describe('SMTP password'),
    MAIL_RETRIES: z.coerce.number().int().min(0).default(3),
  }),
});
const sms = definePlugin({
  name: 'sms',
  version: '1.0.0',
  description: 'Test sms plugin',
  dependsOn: ['mail'],
  config: z.object({ SMS_TOKEN: secret(z.string().min(1)).describe('Provider token') }),
});
const plugins: PluginManifest[] = [mail, sms];

describe('loadConfig', () => {
  it('applies defaults with nothing configured', () => {
    const c = loadConfig({}, []);
    expect(c.core).toMatchObject({
      PORT: 3100,
      HOST: '0.0.0.0',
      PUBLIC_URL: 'http://localhost:3100',
      LOG_LEVEL: 'info',
      BODY_LIMIT_BYTES: 1048576,
      DATA_DIR: './.data',
      PLUGINS_ENABLED: [],
    });
    expect(c.core.DATABASE_URL).toBeUndefined();
    expect(c.core.NSELF_PLUGINS_WEBHOOK_SECRET).toBeUndefined();
  });

  it('parses values, derives PUBLIC_URL from PORT and treats empty strings as unset', () => {
    const c = loadConfig({ PORT: '8080', DATABASE_URL: 'postgres://u@db:5432/app', REDIS_URL: '', MAIL_FROM: 'a@b.co', SMS_TOKEN: 't' }, plugins);
    expect(c.core.PORT).toBe(8080);
    expect(c.core.PUBLIC_URL).toBe('http://localhost:8080');
    expect(c.core.REDIS_URL).toBeUndefined();
    expect(c.core.PLUGINS_ENABLED).toEqual(['mail', 'sms']);
    expect(c.pluginConfig.get('mail')).toEqual({ MAIL_FROM: 'a@b.co', MAIL_RETRIES: 3 });
  });

  it('returns frozen settings', () => {
    const c = loadConfig({ MAIL_FROM: 'a@b.co', SMS_TOKEN: 't' }, plugins);
    expect(Object.isFrozen(c.core)).toBe(true);
    expect(Object.isFrozen(c.core.PLUGINS_ENABLED)).toBe(true);
    expect(Object.isFrozen(c.pluginConfig.get('mail'))).toBe(true);
    expect(() => {
      (c.core as { PORT: number }).PORT = 1;
    }).toThrow(TypeError);
  });

  it('reports every problem at once, naming variable and plugin', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', MAIL_FROM: 'not-an-email', MAIL_RETRIES: '-1' }, plugins);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    const vars = e.problems.map((p) => `${p.plugin ?? 'core'}:${p.variable}`).sort();
    expect(vars).toEqual(
      ['core:DATABASE_URL', 'core:LOG_LEVEL', 'core:PORT', 'mail:MAIL_FROM', 'mail:MAIL_RETRIES', 'sms:SMS_TOKEN'].sort(),
    );
    expect(e.message).toContain('6 problems');
    expect(e.message).toContain('SMS_TOKEN (plugin sms): is required');
    expect(e.message).toContain('DATABASE_URL (core): must be a PostgreSQL URL');
    expect(e.message).toContain('PORT (core): expected a number, got "eighty"');
  });

  it('reports unknown plugins and missing dependencies together with setting problems', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({ PLUGINS_ENABLED: 'sms, nope', PORT: 'x' }, plugins);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.message;
    expect(text).toContain('unknown plugin "nope"');
    expect(text).toContain('known plugins: mail, sms');
    expect(text).toContain('PORT (core)');
    // sms is known: its settings were still checked in the same pass.
    expect(text).toContain('SMS_TOKEN (plugin sms): is required');
  });

  it('never echoes a secret value in a problem message', () => {
    try {
      loadConfig({ NSELF_PLUGINS_WEBHOOK_SECRET: 'short-secret', MAIL_FROM: 'a@b.co', SMS_TOKEN: 't', MAIL_SMTP_PASSWORD: 'tiny' }, plugins);
      throw new Error('expected a ConfigError');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).not.toContain('short-secret');
      expect((e as Error).message).not.toContain('tiny');
      expect((e as Error).message).toContain('NSELF_PLUGINS_WEBHOOK_SECRET (core): must be at least 16 characters');
    }
  });
});

describe('withDynamicSettings', () => {
  const dynamic = definePlugin({
    name: 'dyn',
    version: '0.0.0',
    description: 'operator-named settings',
    config: withDynamicSettings(
      ['DYN_ITEM_'],
      z
        .object({ DYN_ITEMS: z.string().default('') })
        .catchall(z.string())
        .superRefine((c, ctx) => {
          for (const name of c.DYN_ITEMS.split(',').filter(Boolean)) {
            const key = `DYN_ITEM_${name.toUpperCase()}_URL`;
            if ((c as Record<string, unknown>)[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'is required' });
          }
        }),
    ),
  });

  it('passes variables with a declared prefix to the schema, and no others', () => {
    const loaded = loadConfig({ PLUGINS_ENABLED: 'dyn', DYN_ITEMS: 'a', DYN_ITEM_A_URL: 'https://a.example', DYN_OTHER: 'x', PATH: '/bin' }, [dynamic]);
    expect(loaded.pluginConfig.get('dyn')).toEqual({ DYN_ITEMS: 'a', DYN_ITEM_A_URL: 'https://a.example' });
  });

  it('reports a missing operator-named setting by its name', () => {
    expect(() => loadConfig({ PLUGINS_ENABLED: 'dyn', DYN_ITEMS: 'b' }, [dynamic])).toThrow(/DYN_ITEM_B_URL \(plugin dyn\): is required/);
  });

  it('leaves plugins without the mark reading only their declared keys', () => {
    const plain = definePlugin({ name: 'plain', version: '0.0.0', description: 'x', config: z.object({ PLAIN_A: z.string().optional() }).catchall(z.string()) });
    expect(loadConfig({ PLUGINS_ENABLED: 'plain', PLAIN_A: '1', PLAIN_B: '2' }, [plain]).pluginConfig.get('plain')).toEqual({ PLAIN_A: '1' });
  });
});

describe('redactConfig', () => {
  it('replaces secrets, keeps everything else', () => {
    const c = loadConfig({ NSELF_PLUGINS_WEBHOOK_SECRET: 'x'.repeat(32), MAIL_FROM: 'a@b.co', SMS_TOKEN: 'tok', MAIL_SMTP_PASSWORD: 'hunter2hunter2' }, plugins);
    const core = redactConfig(c.core);
    expect(core.NSELF_PLUGINS_WEBHOOK_SECRET).toBe(REDACTED);
    expect(core.PORT).toBe(3100);
    expect(JSON.stringify(core)).not.toContain('xxxx');
    expect(redactConfig(c.pluginConfig.get('mail')!, mail.config!)).toEqual({ MAIL_FROM: 'a@b.co', MAIL_SMTP_PASSWORD: REDACTED, MAIL_RETRIES: 3 });
    expect(redactConfig(c.pluginConfig.get('sms')!, sms.config!)).toEqual({ SMS_TOKEN: REDACTED });
  });

  it('finds the secret marker through optional/default wrappers', () => {
    expect(isSecret(secret(z.string()).optional().default('a'))).toBe(true);
    expect(isSecret(z.string().optional())).toBe(false);
    expect(isSecret(coreConfigSchema.shape.NSELF_PLUGINS_WEBHOOK_SECRET)).toBe(true);
  });
});

describe('.env.example', () => {
  it('renders descriptions, defaults, secret and required markers, deterministically', () => {
    const a = renderEnvExample(plugins);
    expect(renderEnvExample([...plugins].reverse())).toBe(a);
    expect(a).toContain('# HTTP port of the handler server.\n# (default: 3100)\n# PORT=3100');
    expect(a).toContain('## plugin mail');
    expect(a).toContain('# Sender address\n# (required)\nMAIL_FROM=');
    expect(a).toContain('# SMTP password\n# (secret)\n# MAIL_SMTP_PASSWORD=');
    expect(a).toContain('# Provider token\n# (secret; required)\nSMS_TOKEN=');
  });

  it('matches the committed .env.example (regenerate with `nself-plugins config env-example --write`)', () => {
    const committed = readFileSync(join(packageRoot, '.env.example'), 'utf8');
    expect(committed).toBe(renderEnvExample(ALL_PLUGINS));
  });
});
