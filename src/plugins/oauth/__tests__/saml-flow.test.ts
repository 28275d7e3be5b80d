/**
 * SAML 2.0 sign-in against a real IdP (samlify) through the real server and the harness: SP metadata, the signed
 * AuthnRequest, the IdP's signed Response posted to the callback, and every way a Response can be forged.
 */
import { APP, count, errorCode, EXCHANGE, PROVIDERS, reservePublicUrl, START, startOAuth, type OAuthEnv } from './support/fixture.js';
import { newBrowser, type Browser } from './support/idp.js';
import { autoPostForm, keyPair, startSamlIdp, type KeyPair, type ResponseOverrides, type SamlIdp } from './support/saml-idp.js';

let env: OAuthEnv;
let idp: SamlIdp;
/** Same entity ID as `idp`, another key: what someone who does not hold the IdP's key can sign. */
let impostor: SamlIdp;
let publicUrl: string;
let sp: KeyPair;

beforeAll(async () => {
  const reserved = await reservePublicUrl();
  publicUrl = reserved.publicUrl;
  sp = await keyPair('nself-sp');
  const metadataUrl = `${publicUrl}/hooks/oauth/okta/metadata`;
  idp = await startSamlIdp(metadataUrl, await keyPair('idp'));
  impostor = await startSamlIdp(metadataUrl, await keyPair('impostor'), { entityId: idp.entityId });
  env = await startOAuth('oauth_saml', reserved.port, {
    OAUTH_SAML_PROVIDERS: 'okta',
    OAUTH_SAML_OKTA_ENTRY_POINT: idp.ssoUrl,
    OAUTH_SAML_OKTA_IDP_CERT: idp.cert.replace(/\n/g, '\\n'),
    OAUTH_SAML_OKTA_IDP_ISSUER: idp.entityId,
    OAUTH_SAML_OKTA_SP_PRIVATE_KEY: sp.key,
    OAUTH_SAML_OKTA_SP_CERT: sp.cert,
    OAUTH_SAML_OKTA_DISPLAY_NAME: 'Okta',
    OAUTH_SAML_OKTA_EMAIL_VERIFIED: 'true',
  });
  const account = (nameId: string, email: string, name: string) => ({ nameId, attributes: { email, displayName: name, groups: ['staff', 'admins'] } });
  idp.accounts.set('alice', account('00u-alice', 'alice@corp.example', 'Alice Corp'));
  idp.accounts.set('mallory', account('00u-mallory', 'mallory@corp.example', 'Mallory'));
  impostor.accounts.set('alice', account('00u-alice', 'alice@corp.example', 'Alice Corp'));
});
afterAll(async () => {
  await env?.close();
  await idp?.close();
  await impostor?.close();
});

interface AtAcs {
  browser: Browser;
  /** The ACS URL and the fields the IdP's form posts (SAMLResponse, RelayState). */
  action: string;
  fields: Record<string, string>;
  requestId: string;
}

/** Starts a sign-in and logs in at the IdP; stops where the IdP's page would post the Response back. */
async function atIdp(login: string): Promise<AtAcs> {
  const started = await env.as(null, START, { provider: 'okta', redirectTo: APP });
  expect(started.errors).toBeUndefined();
  const browser = newBrowser();
  const start = await browser.open(started.data.oauthStart.url);
  expect(start.status).toBe(302);
  const sso = new URL(start.location!);
  expect(`${sso.origin}${sso.pathname}`).toBe(idp.ssoUrl);
  const loginPage = await browser.open(sso.href);
  expect(loginPage.status).toBe(200);
  const ticket = /name="ticket" value="([^"]+)"/.exec(loginPage.body)![1]!;
  const posted = await browser.open(`${new URL(idp.ssoUrl).origin}/login`, {
    method: 'POST',
    body: new URLSearchParams({ ticket, login }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  if (posted.status !== 200) throw new Error(`IdP login: ${posted.status} ${posted.body.slice(0, 1500)}`);
  const form = autoPostForm(posted.body);
  return { browser, action: form.action, fields: form.fields, requestId: idp.requests.at(-1)! };
}

const post = (browser: Browser, action: string, fields: Record<string, string>) =>
  browser.open(action, { method: 'POST', body: new URLSearchParams(fields), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
const encode = (xml: string) => Buffer.from(xml, 'utf8').toString('base64');

async function writes() {
  return {
    codes: await count(env.pool, 'SELECT 1 FROM oauth.login_code'),
    identities: await count(env.pool, 'SELECT 1 FROM oauth.identity'),
    users: await count(env.pool, 'SELECT 1 FROM oauth."user"'),
  };
}

/** Posts `samlResponse` for the flow of `at` and expects the app to be told `code`, with nothing written. */
async function expectRefused(at: AtAcs, samlResponse: string, code: string) {
  const before = await writes();
  const audits = await count(env.pool, 'SELECT 1 FROM oauth.sign_in WHERE reason = $1', [code]);
  const res = await post(at.browser, at.action, { SAMLResponse: samlResponse, RelayState: at.fields.RelayState! });
  expect(res.status).toBe(302);
  const landed = new URL(res.location!);
  expect(`${landed.origin}${landed.pathname}`).toBe(APP);
  expect(landed.searchParams.get('error')).toBe(code);
  expect(landed.searchParams.get('code')).toBeNull();
  expect(await writes()).toEqual(before);
  expect(await count(env.pool, 'SELECT 1 FROM oauth.sign_in WHERE reason = $1', [code])).toBe(audits + 1);
}

async function signedFor(login: string, overrides: ResponseOverrides, from: SamlIdp = idp) {
  const at = await atIdp(login);
  return { at, samlResponse: await from.respond(login, at.requestId, overrides) };
}

describe('the service provider', () => {
  it('publishes its metadata: entity ID, ACS URL, signing certificate, signed requests and assertions', async () => {
    const res = await fetch(`${publicUrl}/hooks/oauth/okta/metadata`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/samlmetadata\+xml/);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${publicUrl}/hooks/oauth/okta/metadata"`);
    expect(xml).toContain(`Location="${publicUrl}/hooks/oauth/okta/callback"`);
    expect(xml).toMatch(/AuthnRequestsSigned="true"/);
    expect(xml).toMatch(/WantAssertionsSigned="true"/);
    const certBody = sp.cert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '');
    expect(xml.replace(/\s/g, '')).toContain(certBody);
    expect((await fetch(`${publicUrl}/hooks/oauth/nope/metadata`)).status).toBe(404);
  });

  it('lists the IdP among the sign-in providers', async () => {
    expect((await env.as(null, PROVIDERS)).data.oauthProviders).toEqual([{ id: 'okta', displayName: 'Okta', kind: 'saml' }]);
  });
});

describe('a sign-in', () => {
  it('sends a signed AuthnRequest the IdP verifies, and turns its signed Response into a session', async () => {
    const at = await atIdp('alice');
    // The request the IdP verified is the flow's own, and the state travels as RelayState.
    const flow = await env.pool.query<{ nonce: string }>('SELECT nonce FROM oauth.flow WHERE bound_at IS NOT NULL AND used_at IS NULL');
    expect(flow.rows.map((r) => `_${r.nonce}`)).toContain(at.requestId);
    expect(at.action).toBe(`${publicUrl}/hooks/oauth/okta/callback`);
    expect(at.fields.RelayState).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const res = await post(at.browser, at.action, at.fields);
    expect(res.status).toBe(302);
    const code = new URL(res.location!).searchParams.get('code');
    expect(code).toBeTruthy();
    const session = (await env.as(null, EXCHANGE, { code })).data.oauthExchangeCode;
    expect(session).toMatchObject({ created: true, user: { email: 'alice@corp.example', displayName: 'Alice Corp' } });
    const identity = await env.pool.query('SELECT provider, provider_user_id, email, email_verified FROM oauth.identity WHERE user_id = $1', [session.user.id]);
    expect(identity.rows).toEqual([{ provider: 'okta', provider_user_id: '00u-alice', email: 'alice@corp.example', email_verified: true }]);

    const again = await atIdp('alice');
    const second = await post(again.browser, again.action, again.fields);
    const next = (await env.as(null, EXCHANGE, { code: new URL(second.location!).searchParams.get('code') })).data.oauthExchangeCode;
    expect(next).toMatchObject({ created: false, user: { id: session.user.id } });
  });

  it('signs the AuthnRequest of the redirect binding', async () => {
    const started = await env.as(null, START, { provider: 'okta', redirectTo: APP });
    const start = await newBrowser().open(started.data.oauthStart.url);
    const sso = new URL(start.location!);
    expect(sso.searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(sso.searchParams.get('Signature')).toBeTruthy();
    // A request altered on the way no longer verifies at the IdP.
    sso.searchParams.set('RelayState', 'A'.repeat(43));
    const refused = await newBrowser().open(sso.href);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatch(/AuthnRequest refused/);
  });
});

describe('forged and misdirected responses are refused, and change nothing', () => {
  it('an unsigned assertion', async () => {
    const at = await atIdp('alice');
    const unsigned = decode(at.fields.SAMLResponse!).replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, '');
    expect(unsigned).not.toContain('Signature');
    await expectRefused(at, encode(unsigned), 'oauth/saml-signature');
  });

  it('an assertion re-signed with another key', async () => {
    const { at, samlResponse } = await signedFor('alice', {}, impostor);
    await expectRefused(at, samlResponse, 'oauth/saml-signature');
  });

  it('a signed assertion edited afterwards', async () => {
    const at = await atIdp('mallory');
    const edited = decode(at.fields.SAMLResponse!).replace(/00u-mallory/g, '00u-alice');
    await expectRefused(at, encode(edited), 'oauth/saml-signature');
  });

  it('signature wrapping: a forged assertion beside the signed one', async () => {
    const at = await atIdp('mallory');
    const xml = decode(at.fields.SAMLResponse!);
    const signed = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0];
    const forged = signed.replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, '').replace(/ID="[^"]+"/, 'ID="_forged"').replace(/00u-mallory/g, '00u-alice');
    await expectRefused(at, encode(xml.replace(signed, forged + signed)), 'oauth/saml-signature');
  });

  it('signature wrapping: the signed assertion hidden inside a forged one', async () => {
    const at = await atIdp('mallory');
    const xml = decode(at.fields.SAMLResponse!);
    const signed = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)![0];
    const forged = signed
      .replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, '')
      .replace(/ID="[^"]+"/, 'ID="_forged"')
      .replace(/00u-mallory/g, '00u-alice')
      .replace('</saml:Conditions>', `</saml:Conditions><saml:Advice>${signed}</saml:Advice>`);
    await expectRefused(at, encode(xml.replace(signed, forged)), 'oauth/saml-signature');
  });

  it('an assertion for another audience', async () => {
    const { at, samlResponse } = await signedFor('alice', { audience: 'https://other-app.example/saml' });
    await expectRefused(at, samlResponse, 'oauth/saml-audience');
  });

  it('an expired assertion', async () => {
    const past = Date.now() - 20 * 60_000;
    const { at, samlResponse } = await signedFor('alice', { notBefore: new Date(past), notOnOrAfter: new Date(past + 5 * 60_000) });
    await expectRefused(at, samlResponse, 'oauth/saml-expired');
  });

  it('an assertion not valid yet', async () => {
    const { at, samlResponse } = await signedFor('alice', { notBefore: new Date(Date.now() + 10 * 60_000), notOnOrAfter: new Date(Date.now() + 20 * 60_000) });
    await expectRefused(at, samlResponse, 'oauth/saml-expired');
  });

  it('an assertion for another recipient', async () => {
    const { at, samlResponse } = await signedFor('alice', { recipient: 'https://other-app.example/acs' });
    await expectRefused(at, samlResponse, 'oauth/saml-recipient');
  });

  it('a response addressed to another destination', async () => {
    const { at, samlResponse } = await signedFor('alice', { destination: 'https://other-app.example/acs' });
    await expectRefused(at, samlResponse, 'oauth/saml-recipient');
  });

  it('an assertion from another issuer', async () => {
    const { at, samlResponse } = await signedFor('alice', { issuer: 'https://other-idp.example' });
    await expectRefused(at, samlResponse, 'oauth/saml-issuer');
  });

  it('a response to a request this sign-in never made', async () => {
    const { at, samlResponse } = await signedFor('alice', { inResponseTo: '_not-our-request' });
    await expectRefused(at, samlResponse, 'oauth/saml-in-response-to');
  });

  it('a response to another sign-in\'s request', async () => {
    const other = await atIdp('mallory');
    const at = await atIdp('mallory');
    await expectRefused(at, other.fields.SAMLResponse!, 'oauth/saml-in-response-to');
  });

  it('an empty or oversize SAMLResponse', async () => {
    await expectRefused(await atIdp('alice'), 'A'.repeat(60_001), 'oauth/provider-rejected');
    const at = await atIdp('alice');
    const before = await writes();
    const res = await post(at.browser, at.action, { RelayState: at.fields.RelayState! });
    expect(new URL(res.location!).searchParams.get('error')).toBe('oauth/provider-rejected');
    expect(await writes()).toEqual(before);
  });
});

describe('the RelayState is the single-use state bound to the browser', () => {
  it('refuses a replayed Response', async () => {
    const at = await atIdp('alice');
    const first = await post(at.browser, at.action, at.fields);
    expect(new URL(first.location!).searchParams.get('code')).toBeTruthy();
    const before = await writes();
    const replay = await post(at.browser, at.action, at.fields);
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.body).error).toBe('oauth/state-invalid');
    expect(await writes()).toEqual(before);
  });

  it('refuses a Response posted from another browser', async () => {
    const at = await atIdp('alice');
    const before = await writes();
    const res = await post(newBrowser(), at.action, at.fields);
    expect(new URL(res.location!).searchParams.get('error')).toBe('oauth/other-browser');
    expect(await writes()).toEqual(before);
  });

  it('refuses an unknown or missing RelayState', async () => {
    const at = await atIdp('alice');
    const before = await writes();
    const unknown = await post(at.browser, at.action, { SAMLResponse: at.fields.SAMLResponse!, RelayState: 'B'.repeat(43) });
    expect([unknown.status, JSON.parse(unknown.body).error]).toEqual([400, 'oauth/state-invalid']);
    const missing = await post(at.browser, at.action, { SAMLResponse: at.fields.SAMLResponse! });
    expect([missing.status, JSON.parse(missing.body).error]).toEqual([400, 'oauth/state-invalid']);
    expect(await writes()).toEqual(before);
    // The flow is still there for the real answer.
    const res = await post(at.browser, at.action, at.fields);
    expect(new URL(res.location!).searchParams.get('code')).toBeTruthy();
  });

  it('refuses an expired sign-in', async () => {
    const at = await atIdp('alice');
    await env.pool.query(`UPDATE oauth.flow SET expires_at = now() - interval '1 second' WHERE used_at IS NULL AND bound_at IS NOT NULL`);
    await expectRefused(at, at.fields.SAMLResponse!, 'oauth/state-expired');
  });

  it('answers a GET callback with an error', async () => {
    const res = await newBrowser().open(`${publicUrl}/hooks/oauth/okta/callback?RelayState=x`);
    expect([res.status, JSON.parse(res.body).error]).toEqual([400, 'oauth/invalid-request']);
  });

  it('refuses starting an unknown provider', async () => {
    expect(errorCode(await env.as(null, START, { provider: 'onelogin', redirectTo: APP }))).toBe('oauth/unknown-provider');
  });
});
