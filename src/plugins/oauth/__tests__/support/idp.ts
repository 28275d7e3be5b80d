/**
 * A real OpenID Provider (oidc-provider, a certified implementation) on localhost, and a browser driven over
 * HTTP with a cookie jar: it follows redirects and submits the provider's login and consent forms.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import makeFetchCookie from 'fetch-cookie';

export interface Account {
  email?: string;
  email_verified?: boolean;
  name?: string;
  picture?: string;
  locale?: string;
}

export interface Idp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by login name (the dev login form takes any password). */
  accounts: Map<string, Account>;
  provider: Provider;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startIdp(redirectUris: string[], opts: { idTokenTtl?: number } = {}): Promise<Idp> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const accounts = new Map<string, Account>();
  const clientId = 'nself-app';
  const clientSecret = 'idp-client-secret-0123456789abcdef';
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris, token_endpoint_auth_method: 'client_secret_post' }],
    async findAccount(_ctx: unknown, id: string) {
      return { accountId: id, claims: async () => ({ sub: id, ...(accounts.get(id) ?? {}) }) };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture', 'locale'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['idp-cookie-key-0123456789'] },
    ttl: { IdToken: opts.idTokenTtl ?? 3600 },
  });
  server.on('request', provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    accounts,
    provider,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const decode = (s: string) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#x2F;/g, '/').replace(/&#39;/g, "'");

export interface Browser {
  fetch: typeof fetch;
  /**
   * Opens `url` and follows redirects and the provider's forms (logging in as `login`) until the browser is sent
   * to `stopAt`'s origin; returns that URL. Throws with the status and body of a page it cannot go on from.
   */
  signIn(url: string, login: string, stopAt: string): Promise<URL>;
  /** Follows redirects from `url` without submitting forms; returns the last response. */
  open(url: string, init?: RequestInit): Promise<{ status: number; location: string | null; body: string }>;
}

export function newBrowser(): Browser {
  const jar = makeFetchCookie(fetch);
  const browser: Browser = {
    fetch: jar as unknown as typeof fetch,
    async open(url, init) {
      const res = await jar(url, { ...init, redirect: 'manual' });
      return { status: res.status, location: res.headers.get('location'), body: await res.text() };
    },
    async signIn(start, login, stopAt) {
      const stop = new URL(stopAt).origin;
      let url = start;
      let init: RequestInit = {};
      for (let hop = 0; hop < 20; hop++) {
        const res = await jar(url, { ...init, redirect: 'manual' });
        init = {};
        const location = res.headers.get('location');
        if (res.status >= 300 && res.status < 400 && location) {
          const next = new URL(location, url);
          await res.arrayBuffer();
          if (next.origin === stop) return next;
          url = next.href;
          continue;
        }
        const body = await res.text();
        const form = /<form[^>]*action="([^"]+)"[^>]*method="post"/i.exec(body);
        if (res.status !== 200 || !form) throw new Error(`sign-in stopped at ${url}: ${res.status} ${body.slice(0, 300)}`);
        const fields = new URLSearchParams();
        for (const m of body.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/gi)) fields.set(m[1]!, decode(m[2]!));
        if (fields.get('prompt') === 'login') {
          fields.set('login', login);
          fields.set('password', 'any');
        }
        url = new URL(decode(form[1]!), url).href;
        init = { method: 'POST', body: fields, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
      }
      throw new Error('too many redirects');
    },
  };
  return browser;
}
