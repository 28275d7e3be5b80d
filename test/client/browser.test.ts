/**
 * The React hooks in headless Chromium: a page built with Vite from test/client/page, served on localhost,
 * talking to `nself-plugins dev` (JWT auth) as two users in two browser contexts. One types and the other sees
 * the indicator and sees it clear; presence changes appear; an image upload shows progress, reaches `ready` and
 * shows its thumbnail; cancel stops an upload; a notification sent by the service role appears and is marked
 * read; the page registers for Web Push through its service worker, the notifications plugin pushes to a strict
 * push service (VAPID and aes128gcm checked, the payload decrypted) and the pushed message reaches the worker.
 * Prints the typing-to-indicator latency.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import WebSocket from 'ws';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { packageRoot } from '../../src/core/paths.js';
import { createNselfClient, createFiles, createNotifications, type NselfClient, type Operation } from '../../src/client/index.js';
import { NotificationsVapidPublicKeyDocument } from '../../src/client/generated/operations.js';
import { startSdkDev, sleep, waitFor, type SdkDev } from './support/dev.js';
import { WebPushReceiver } from '../../src/plugins/notifications/__tests__/support/webpush-receiver.js';
import { selfSigned } from '../../src/plugins/notifications/__tests__/support/tls.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-features=WebRtcHideLocalIpsWithMdns'];
const ROOM = 'channel:lobby';
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

let s: SdkDev;
let outDir: string;
let site: Server;
let siteUrl: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
let ann: Page;
let bob: Page;
let service: NselfClient;
let annClient: NselfClient;
let pushService: WebPushReceiver;
/** Subscriptions the push service handed to the page. */
const pushSubscriptions: string[] = [];

async function openAs(user: string): Promise<Page> {
  const ctx = await browser.newContext();
  await ctx.grantPermissions(['notifications'], { origin: siteUrl });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[${user}] page error`, e));
  const token = await s.token(user);
  await page.goto(`${siteUrl}/?${new URLSearchParams({ graphql: s.graphqlUrl, token, user, room: ROOM })}`);
  await page.locator('#chat[data-joined="true"]').waitFor({ timeout: 15_000 });
  return page;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  outDir = mkdtempSync(join(tmpdir(), 'nself-sdk-page-'));
  const built = promisify(execFile)(join(packageRoot, 'node_modules/.bin/vite'), ['build', '--config', 'test/client/page/vite.config.js', '--outDir', outDir], { cwd: packageRoot, timeout: 120_000 });
  const tls = await selfSigned();
  pushService = new WebPushReceiver(tls);
  await pushService.start();
  s = await startSdkDev('sdk_browser', { NOTIFICATIONS_PUSH_CA_FILE: tls.caFile, NOTIFICATIONS_WEBPUSH_ENDPOINT_HOSTS: '127.0.0.1' });
  await built;
  site = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      void s.token(url.searchParams.get('user') ?? 'nobody').then((t) => res.writeHead(200, { 'content-type': 'text/plain' }).end(t));
      return;
    }
    if (url.pathname === '/push-subscription' && req.method === 'POST') {
      // The push service binds a subscription to the application server key it is asked for: only the plugin's.
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (Buffer.concat(chunks).toString('base64url') !== pushService.vapidPublicKey) return void res.writeHead(400).end('not the application server key');
        const sub = pushService.subscribe();
        pushSubscriptions.push(sub.id);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }));
      });
      return;
    }
    const path = normalize(join(outDir, url.pathname === '/' ? 'index.html' : url.pathname));
    if (!path.startsWith(outDir) || !existsSync(path)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(path));
  });
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
  service = createNselfClient({ url: s.graphqlUrl, auth: await s.token('backend', { role: 'service' }), webSocketImpl: WebSocket });
  annClient = createNselfClient({ url: s.graphqlUrl, auth: await s.token('ann'), webSocketImpl: WebSocket });
  await service.request(`mutation ($id: String!) { realtimeCreateRoom(id: $id, private: false) { id } }` as unknown as Operation<unknown, { id: string }>, { id: ROOM });
  pushService.vapidPublicKey = (await annClient.request(NotificationsVapidPublicKeyDocument, {})).notificationsVapidPublicKey.publicKey;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  ann = await openAs('ann');
  bob = await openAs('bob');
}, 180_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await service?.close();
  await annClient?.close();
  await new Promise((r) => site?.close(r));
  await s?.close();
  await pushService?.stop();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('useRealtime in two browser contexts', () => {
  it('shows one user typing to the other, and clears the indicator when they stop', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 3; i++) {
      await expectText(ann, '#typing', '');
      const t0 = Date.now();
      await bob.locator('#message').press('a');
      await ann.locator('#typing', { hasText: 'bob typing' }).waitFor({ timeout: 10_000 });
      latencies.push(Date.now() - t0);
      // Bob's own page never shows himself.
      expect(await bob.locator('#typing').textContent()).toBe('');
      // No keystroke for typingIdleMs (3 s): the hook sends the stop and Ann's indicator clears.
      await ann.locator('#typing', { hasText: 'bob typing' }).waitFor({ state: 'detached', timeout: 10_000 }).catch(() => undefined);
      await expectText(ann, '#typing', '', 10_000);
    }
    latencies.sort((a, b) => a - b);
    console.log(`typing → indicator between two browser contexts (dev endpoint, live-query refetch 50 ms): ${latencies.join(', ')} ms; median ${latencies[1]} ms`);
  }, 90_000);

  it('sends one typing start for a burst of keystrokes', async () => {
    await expectText(ann, '#typing', '', 10_000);
    const starts: string[] = [];
    const count = (r: { postData(): string | null }) => void (/realtimeStartTyping/.test(r.postData() ?? '') && starts.push('start'));
    bob.on('request', count);
    const burstStarted = Date.now();
    await bob.locator('#message').pressSequentially('hello there', { delay: 20 });
    const burstMs = Date.now() - burstStarted;
    await ann.locator('#typing', { hasText: 'bob typing' }).waitFor({ timeout: 10_000 });
    bob.off('request', count);
    // At most one start per 2 s throttle window the burst spanned (one, unless a loaded machine typed slowly).
    expect(starts.length).toBeGreaterThanOrEqual(1);
    expect(starts.length).toBeLessThanOrEqual(1 + Math.floor(burstMs / 2000));
    await expectText(ann, '#typing', '', 10_000);
  }, 60_000);

  it('shows presence: online while visible, away when the page is hidden, and a chosen status', async () => {
    await ann.locator('#presence li[data-user="bob"][data-status="online"]').waitFor({ timeout: 15_000 });
    const setVisibility = (state: string) =>
      bob.evaluate(`Object.defineProperty(document, 'visibilityState', { value: '${state}', configurable: true }); document.dispatchEvent(new Event('visibilitychange'))`);
    await setVisibility('hidden');
    await ann.locator('#presence li[data-user="bob"][data-status="away"]').waitFor({ timeout: 15_000 });
    await setVisibility('visible');
    await ann.locator('#presence li[data-user="bob"][data-status="online"]').waitFor({ timeout: 15_000 });
    await bob.locator('#dnd').click();
    await ann.locator('#presence li[data-user="bob"][data-status="dnd"]').waitFor({ timeout: 15_000 });
  }, 60_000);
});

describe('calls', () => {
  it('connects two browsers with WebRTC, signaled through the realtime plugin: a data channel message arrives', async () => {
    await ann.locator('#peer').fill('bob');
    await ann.locator('#start-call').click();
    await bob.locator('#rtc-message', { hasText: 'hello over webrtc from ann' }).waitFor({ timeout: 30_000 });
    expect(await ann.locator('#call-state').textContent()).toBe('open');
    expect(await bob.locator('#call-state').textContent()).toBe('answered');
  }, 60_000);
});

describe('useFileUpload', () => {
  it('uploads an image with progress, follows it to ready and shows its thumbnail', async () => {
    const buffer = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#2a6' } }).png().toBuffer();
    await ann.locator('#file').setInputFiles({ name: 'green.png', mimeType: 'image/png', buffer });
    await expectText(ann, '#state', 'ready', 30_000);
    expect(await ann.locator('#progress').getAttribute('data-max')).toBe('1');
    const thumb = ann.locator('#thumb');
    await thumb.waitFor({ timeout: 10_000 });
    // The thumbnail decoded: the signed URL served a real image.
    await ann.waitForFunction('(document.querySelector("#thumb")?.naturalWidth ?? 0) > 0', undefined, { timeout: 10_000 });
    expect(await thumb.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
  }, 60_000);

  it('cancels an upload in flight: the bytes stop and the server drops the pending file', async () => {
    const files = createFiles(annClient);
    const before = await files.usage('default');
    let held = false;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    // The storage request is held, as on a slow connection, until the page has cancelled it.
    await ann.route('**/hooks/files/o/**', async (route) => {
      held = true;
      await released;
      await route.abort().catch(() => undefined);
    });
    const buffer = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#33c' } }).png().toBuffer();
    await ann.locator('#file').setInputFiles({ name: 'blue.png', mimeType: 'image/png', buffer });
    await expectText(ann, '#state', 'uploading');
    while (!held) await sleep(20);
    await ann.locator('#cancel').click();
    await expectText(ann, '#state', 'cancelled');
    release();
    await ann.unrouteAll({ behavior: 'ignoreErrors' });
    let after = await files.usage('default');
    for (let i = 0; i < 50 && JSON.stringify(after) !== JSON.stringify(before); i++) {
      await sleep(100);
      after = await files.usage('default');
    }
    expect(after).toEqual(before);
  }, 60_000);

  it('refuses a file the picker rules exclude, before anything is sent', async () => {
    await ann.locator('#file').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await expectText(ann, '#state', 'failed');
    expect(await ann.locator('#upload-error').textContent()).toMatch(/^files\/type-not-allowed/);
  });
});

describe('useNotifications', () => {
  it('shows a notification sent by the service role and marks it read', async () => {
    await expectText(ann, '#unread', '0');
    await createNotifications(service).send({ userIds: ['ann'], category: 'general', title: 'Lunch at noon?', idempotencyKey: 'browser-test-1' });
    const item = ann.locator('#notifications li', { hasText: 'Lunch at noon?' });
    await item.waitFor({ timeout: 15_000 });
    expect(await item.getAttribute('data-read')).toBe('false');
    await expectText(ann, '#unread', '1');
    await item.locator('.mark').click();
    await ann.locator('#notifications li[data-read="true"]', { hasText: 'Lunch at noon?' }).waitFor({ timeout: 10_000 });
    await expectText(ann, '#unread', '0');
    // Bob's inbox never saw it.
    expect(await bob.locator('#notifications li', { hasText: 'Lunch at noon?' }).count()).toBe(0);
  }, 60_000);
});

describe('Web Push through the service worker', () => {
  it('registers the page for Web Push, and a notification is pushed, decrypted and handed to the worker', async () => {
    await ann.locator('#push-register').click();
    await expectText(ann, '#push-state', 'registered', 15_000);
    expect(pushSubscriptions).toHaveLength(1);
    const [subscription] = pushSubscriptions;
    await createNotifications(service).send({ userIds: ['ann'], category: 'general', title: 'Pushed to the worker', body: 'through the service worker', idempotencyKey: 'browser-push-1' });
    // The plugin's push passed the push service's checks (VAPID token, aes128gcm) and decrypted with the page's keys.
    await waitFor(() => pushService.for(subscription!).length === 1, 30_000, 'the push at the push service');
    const [push] = pushService.for(subscription!);
    expect(push!.payload).toMatchObject({ title: 'Pushed to the worker', body: 'through the service worker', category: 'general' });
    expect(pushService.rejected.filter((r) => r.subscription === subscription)).toEqual([]);
    // The push service's last hop, to the browser, is Chromium's own channel: the decrypted message goes to the
    // page's service worker through the DevTools protocol, as that channel would deliver it.
    const cdp = await ann.context().newCDPSession(ann);
    const registrationId = new Promise<string>((resolve) =>
      cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] }) => {
        const r = e.registrations.find((x) => x.scopeURL.startsWith(siteUrl) && !x.isDeleted);
        if (r) resolve(r.registrationId);
      }),
    );
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: siteUrl, registrationId: await registrationId, data: JSON.stringify(push!.payload) });
    await expectText(ann, '#push-received', 'Pushed to the worker', 15_000);
    await cdp.detach();
  }, 60_000);
});

async function expectText(page: Page, selector: string, text: string, timeout = 10_000): Promise<void> {
  const end = Date.now() + timeout;
  for (;;) {
    const got = (await page.locator(selector).textContent()) ?? '';
    if (got === text) return;
    if (Date.now() > end) throw new Error(`${selector} shows "${got}", expected "${text}"`);
    await sleep(25);
  }
}
