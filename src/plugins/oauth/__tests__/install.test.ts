/**
 * `nself-plugins install oauth --providers …` through the CLI, with the suite's own catalogue: the option is
 * recorded, each chosen provider's credentials are asked for (unless --yes) and written to the project's .env,
 * and unknown providers are refused before anything is asked or written.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliContext } from '../../../cli/context.js';
import { runCli } from '../../../cli/main.js';
import { loadConfig } from '../../../core/config.js';
import { envKeys, envValue } from '../../../hasura/env-file.js';
import { copyFixture, diffTrees, hashTree } from '../../../../test/hasura/helpers.js';
import { oauthPlugin } from '../plugin.js';

interface Asked {
  question: string;
  secret: boolean;
}

/** Runs the CLI with `answers` as the operator's replies (by setting name); records every question. */
async function install(argv: string[], cwd: string, answers: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const asked: Asked[] = [];
  const ctx: CliContext = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    cwd,
    env: {},
    async ask(question, opts) {
      asked.push({ question, secret: opts.secret });
      return answers[question.split(' ')[0]!.replace(/:$/, '')] ?? '';
    },
  };
  const code = await runCli(['install', 'oauth', '--project', 'hasura', ...argv], ctx);
  return { code, out: out.join('\n'), err: err.join('\n'), asked, keys: asked.map((a) => a.question.split(' ')[0]!.replace(/:$/, '')) };
}

const JWT = JSON.stringify({ type: 'HS256', key: 'install-test-key-0123456789abcdefghij' });
const ANSWERS = {
  OAUTH_JWT_SECRET: JWT,
  OAUTH_REDIRECT_ALLOWLIST: 'https://app.example.com/auth/',
  OAUTH_GOOGLE_CLIENT_ID: 'google-id.apps.googleusercontent.com',
  OAUTH_GOOGLE_CLIENT_SECRET: 'google secret with spaces',
  OAUTH_GITHUB_CLIENT_ID: 'Iv1.github',
  OAUTH_GITHUB_CLIENT_SECRET: 'gh-secret',
  OAUTH_APPLE_CLIENT_ID: 'com.example.web',
  OAUTH_APPLE_TEAM_ID: 'TEAM123456',
  OAUTH_APPLE_KEY_ID: 'KEY1234567',
  OAUTH_APPLE_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----\\nMIGH\\n-----END PRIVATE KEY-----',
};

/** The oauth settings the server would read from this .env (every assignment in it). */
function settingsOf(envText: string): Record<string, string> {
  return Object.fromEntries([...envKeys(envText)].map((k) => [k, envValue(envText, k)!]));
}

describe('nself-plugins install oauth --providers', () => {
  it('records the providers and writes the credentials the operator gives, so the server boots with them', async () => {
    const t = copyFixture('empty');
    try {
      const r = await install(['--providers', 'google,github'], t.root, ANSWERS);
      expect(r.code).toBe(0);
      // In the order the settings are declared (and listed in .env.example).
      expect(r.keys).toEqual(['OAUTH_GOOGLE_CLIENT_ID', 'OAUTH_GOOGLE_CLIENT_SECRET', 'OAUTH_GITHUB_CLIENT_ID', 'OAUTH_GITHUB_CLIENT_SECRET', 'OAUTH_JWT_SECRET', 'OAUTH_REDIRECT_ALLOWLIST']);
      expect(r.asked.filter((a) => a.secret).map((a) => a.question.split(' ')[0])).toEqual(['OAUTH_GOOGLE_CLIENT_SECRET', 'OAUTH_GITHUB_CLIENT_SECRET', 'OAUTH_JWT_SECRET']);
      expect(r.err).toBe('');
      const env = readFileSync(join(t.root, '.env'), 'utf8');
      const settings = settingsOf(env);
      expect(settings).toMatchObject({
        OAUTH_PROVIDERS: 'google,github',
        OAUTH_JWT_SECRET: JWT,
        OAUTH_GOOGLE_CLIENT_SECRET: 'google secret with spaces',
        OAUTH_GITHUB_CLIENT_ID: 'Iv1.github',
      });
      expect(env).not.toMatch(/^OAUTH_APPLE/m);
      expect(JSON.parse(readFileSync(join(t.dir, 'nself-plugins.json'), 'utf8')).plugins.oauth.options).toEqual({ providers: 'google,github' });
      // What was written is what the server needs: its settings check passes.
      const cfg = loadConfig({ ...settings, PLUGINS_ENABLED: 'oauth' }, [oauthPlugin]).pluginConfig.get('oauth') as Record<string, unknown>;
      expect(cfg.OAUTH_PROVIDERS).toEqual(['google', 'github']);
    } finally {
      t.cleanup();
    }
  });

  it('refuses an unknown provider before asking or writing anything', async () => {
    const t = copyFixture('empty');
    try {
      const before = hashTree(t.root);
      const r = await install(['--providers', 'google,myspace'], t.root, ANSWERS);
      expect(r.code).toBe(1);
      expect(r.err).toBe('error: --providers: unknown myspace; choose from google, github, microsoft, apple, discord, gitlab, slack');
      expect(r.asked).toEqual([]);
      expect(diffTrees(before, hashTree(t.root))).toEqual([]);
    } finally {
      t.cleanup();
    }
  });

  it('asks nothing with --yes and names the credentials still to set', async () => {
    const t = copyFixture('empty');
    try {
      const r = await install(['--providers', 'discord', '--yes'], t.root, ANSWERS);
      expect(r.code).toBe(0);
      expect(r.asked).toEqual([]);
      expect(r.err).toBe('set these required settings in .env before starting: OAUTH_DISCORD_CLIENT_ID, OAUTH_DISCORD_CLIENT_SECRET, OAUTH_JWT_SECRET, OAUTH_REDIRECT_ALLOWLIST');
      const settings = settingsOf(readFileSync(join(t.root, '.env'), 'utf8'));
      expect(settings).toMatchObject({ OAUTH_PROVIDERS: 'discord', OAUTH_DISCORD_CLIENT_ID: '', OAUTH_DISCORD_CLIENT_SECRET: '' });
    } finally {
      t.cleanup();
    }
  });

  it('changing the providers keeps the credentials given before and asks only for the new ones', async () => {
    const t = copyFixture('empty');
    try {
      expect((await install(['--providers', 'google,github'], t.root, ANSWERS)).code).toBe(0);
      const r = await install(['--providers', 'google,apple'], t.root, ANSWERS);
      expect(r.code).toBe(0);
      expect(r.keys).toEqual(['OAUTH_APPLE_CLIENT_ID', 'OAUTH_APPLE_TEAM_ID', 'OAUTH_APPLE_KEY_ID', 'OAUTH_APPLE_PRIVATE_KEY']);
      const env = readFileSync(join(t.root, '.env'), 'utf8');
      const settings = settingsOf(env);
      expect(settings).toMatchObject({
        OAUTH_PROVIDERS: 'google,apple',
        OAUTH_JWT_SECRET: JWT,
        OAUTH_GOOGLE_CLIENT_SECRET: 'google secret with spaces',
        OAUTH_APPLE_TEAM_ID: 'TEAM123456',
        OAUTH_APPLE_PRIVATE_KEY: ANSWERS.OAUTH_APPLE_PRIVATE_KEY,
      });
      expect(env).not.toMatch(/^OAUTH_GITHUB/m);
    } finally {
      t.cleanup();
    }
  });
});
