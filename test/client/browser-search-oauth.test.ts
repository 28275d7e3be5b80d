/**
 * `useSearch` and `OAuthButton`/`useOAuth` in headless Chromium: a page built with Vite from test/client/page
 * (auth.html), served on localhost, talking to `nself-plugins dev` with the search plugin (PostgreSQL engine, the
 * chat project's indexes) and the oauth plugin signing in through a real OpenID Provider (oidc-provider). Typing in
 * the search box finds the messages the user may see and not the ones they may not; the sign-in button goes
 * through the provider's pages and back, and the page shows the user after the code exchange, still after a reload,
 * and no more after signing out.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { packageRoot } from '../../src/core/paths.js';
import { sleep } from './support/dev.js';
import { ALICE, ALICE_PRIVATE, BOB, BOB_PRIVATE, GENERAL, startSearchOAuthDev, type SearchOAuthDev } from './support/search-oauth.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

let s: SearchOAuthDev;
let outDir: string;
let site: Server;
let siteUrl: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
const ids: Record<string, string> = {};

async function newPage(label: string): Promise<Page> {
  const ctx = await browser.newContext();
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[${label}] page error`, e));
  return page;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  outDir = mkdtempSync(join(tmpdir(), 'nself-sdk-auth-page-'));
  const built = promisify(execFile)(join(packageRoot, 'node_modules/.bin/vite'), ['build', '--config', 'test/client/page/vite.config.js', '--outDir', outDir], { cwd: packageRoot, timeout: 120_000 });
  // The page's origin goes into the oauth plugin's redirect allow-list, so the site listens first.
  site = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = normalize(join(outDir, url.pathname === '/' ? 'auth.html' : url.pathname));
    if (!path.startsWith(outDir) || !existsSync(path)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
  s = await startSearchOAuthDev('sdk_browser_auth', `${siteUrl}/`);
  s.idp.accounts.set('ann', { email: 'ann@example.com', email_verified: true, name: 'Ann Example' });
  ids.general = await s.message(GENERAL, ALICE, 'Welcome aboard, the zanzibar launch is on Friday');
  ids.alice = await s.message(ALICE_PRIVATE, ALICE, 'Diary: zanzibar surprise party for Bob');
  ids.bob = await s.message(BOB_PRIVATE, BOB, 'Secret zanzibar roadmap and the meeting password');
  await built;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}, 180_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await new Promise((r) => site?.close(r));
  await s?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('useSearch', () => {
  async function searchPage(user: string): Promise<Page> {
    const page = await newPage(user);
    await page.goto(`${siteUrl}/auth.html?${new URLSearchParams({ mode: 'search', graphql: s.graphqlUrl, token: await s.token(user) })}`);
    await page.locator('#q').waitFor({ timeout: 15_000 });
    return page;
  }
  const hits = async (page: Page) => (await page.locator('#hits li').evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { id: string } }).dataset.id))).sort();

  it('finds the messages the user may see and not the ones they may not', async () => {
    const alice = await searchPage(ALICE);
    const bob = await searchPage(BOB);
    // Typed key by key: the debounced search sends the final text and shows its answer.
    await alice.locator('#q').pressSequentially('zanzibar', { delay: 20 });
    await bob.locator('#q').pressSequentially('zanzibar', { delay: 20 });
    await alice.locator('#search-query', { hasText: /^zanzibar$/ }).waitFor({ timeout: 15_000 });
    await bob.locator('#search-query', { hasText: /^zanzibar$/ }).waitFor({ timeout: 15_000 });
    expect(await hits(alice)).toEqual([ids.general, ids.alice].sort());
    expect(await hits(bob)).toEqual([ids.general, ids.bob].sort());
    expect(await alice.locator('#hits').textContent()).not.toContain('roadmap');
    expect(await bob.locator('#hits').textContent()).not.toContain('Diary');
    expect(Number(await alice.locator('#search-time').textContent())).toBeGreaterThanOrEqual(0);
    expect(await alice.locator('#search-loading').textContent()).toBe('false');
    // A filter-free query for a word only in Bob's private channel finds nothing for Alice.
    await alice.locator('#q').fill('roadmap');
    await alice.locator('#search-query', { hasText: /^roadmap$/ }).waitFor({ timeout: 15_000 });
    expect(await hits(alice)).toEqual([]);
    expect(await alice.locator('#search-error').textContent()).toBe('');
  }, 60_000);
});

/** The page's stored session (run in the page). */
const stored = (): string | null => (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem('nself.oauth.session');

describe('OAuthButton and useOAuth', () => {
  it('signs in through the provider and shows the user after the redirect and the code exchange', async () => {
    const page = await newPage('oauth');
    const start = `${siteUrl}/auth.html?${new URLSearchParams({ mode: 'oauth', graphql: s.graphqlUrl })}`;
    await page.goto(start);
    await page.locator('#providers li[data-id="idp"]', { hasText: 'Test IdP' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#user').textContent()).toBe('');
    await page.locator('button[data-provider="idp"]').click();
    // oauthStart, then the start URL on the dev server, then the provider.
    await page.waitForURL((u) => u.href.startsWith(s.idp.issuer), { timeout: 15_000 });
    // The provider's own login and consent pages, as a person would go through them.
    for (let step = 0; step < 6 && !page.url().startsWith(siteUrl); step++) {
      await page.waitForLoadState();
      const login = page.locator('input[name="login"]');
      if (await login.count()) {
        await login.fill('ann');
        await page.locator('input[name="password"]').fill('any');
      }
      const here = page.url();
      await Promise.all([page.waitForURL((u) => u.href !== here, { timeout: 15_000 }), page.locator('button[type="submit"]').first().click()]);
    }
    await page.locator('#user', { hasText: 'Ann Example <ann@example.com>' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#outcome').textContent()).toBe('signed in: ann@example.com');
    // The one-time code left the address bar once used.
    await page.waitForFunction('!new URL(location.href).searchParams.has("code")', undefined, { timeout: 5_000 });
    expect(new URL(page.url()).searchParams.get('mode')).toBe('oauth');
    // The session outlives a reload (localStorage) and its token is accepted by the endpoint.
    await page.reload();
    await page.locator('#user', { hasText: 'Ann Example <ann@example.com>' }).waitFor({ timeout: 15_000 });
    const identities = await page.evaluate(async (graphql) => {
      const storage = (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage;
      const session = JSON.parse(storage.getItem('nself.oauth.session') ?? 'null') as { accessToken: string } | null;
      const res = await fetch(graphql, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${session?.accessToken}` }, body: JSON.stringify({ query: '{ oauthIdentities { provider email } }' }) });
      return res.json();
    }, s.graphqlUrl);
    expect(identities).toEqual({ data: { oauthIdentities: [{ provider: 'idp', email: 'ann@example.com' }] } });
    await page.locator('#sign-out').click();
    await page.locator('#user', { hasText: /^$/ }).waitFor({ state: 'attached', timeout: 15_000 });
    for (let i = 0; i < 50 && (await page.evaluate(stored)) !== null; i++) await sleep(20);
    expect(await page.evaluate(stored)).toBeNull();
    expect(await page.locator('#oauth-error').textContent()).toBe('');
  }, 90_000);
});
