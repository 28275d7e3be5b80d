/**
 * A real SAML 2.0 identity provider on localhost, built on `samlify` (another implementation than the server's
 * node-saml): it reads the SP's metadata from the server, verifies the signed AuthnRequest of the redirect binding,
 * shows a login form, and answers with a signed Response through an auto-posting form, as IdPs do.
 *
 * samlify's own type declarations pull the DOM library into the whole program, so it is loaded untyped and the
 * few calls used here are declared below.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import selfsigned from 'selfsigned';

const require = createRequire(import.meta.url);
const samlify = require('samlify') as Samlify;
samlify.setSchemaValidator(require('@authenio/samlify-node-xmllint') as { validate(xml: string): Promise<unknown> });

interface Entity {
  entityMeta: { getAssertionConsumerService(binding: string): string; getEntityID(): string };
}
interface IdpEntity extends Entity {
  parseLoginRequest(sp: Entity, binding: 'redirect', req: { query: Record<string, string>; octetString: string }): Promise<{ extract: { request: { id: string } } }>;
  createLoginResponse(sp: Entity, request: unknown, binding: 'post', user: Record<string, unknown>, options: { relayState?: string; customTagReplacement?(template: string): { id: string; context: string } }): Promise<{ context: string; entityEndpoint: string; relayState?: string }>;
}
interface Samlify {
  setSchemaValidator(v: { validate(xml: string): Promise<unknown> }): void;
  IdentityProvider(settings: Record<string, unknown>): IdpEntity;
  ServiceProvider(settings: { metadata: string }): Entity;
  SamlLib: { defaultLoginResponseTemplate: { context: string }; replaceTagsByValue(xml: string, values: Record<string, string | null>): string };
  Constants: { namespace: { binding: { redirect: string; post: string } } };
}

export interface KeyPair {
  key: string;
  cert: string;
}

export async function keyPair(commonName: string): Promise<KeyPair> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: commonName }], { days: 2, keySize: 2048, algorithm: 'sha256' } as never);
  return { key: pems.private, cert: pems.cert };
}

export interface SamlAccount {
  /** The NameID (persistent format). */
  nameId: string;
  attributes?: Record<string, string | string[]>;
}

/** What the IdP puts in its next responses instead of the right values (a compromised or misconfigured IdP). */
export interface ResponseOverrides {
  audience?: string;
  recipient?: string;
  destination?: string;
  inResponseTo?: string;
  notBefore?: Date;
  notOnOrAfter?: Date;
  issuer?: string;
}

export interface SamlIdp {
  entityId: string;
  ssoUrl: string;
  cert: string;
  accounts: Map<string, SamlAccount>;
  /** Applied to every response while set. */
  overrides: ResponseOverrides;
  /** AuthnRequest IDs the IdP accepted (their signatures verified). */
  requests: string[];
  /** The SP as this IdP knows it, from the server's metadata (reloaded on each request). */
  metadataUrl: string;
  /** A Response for `login` answering request `requestId`, signed with this IdP's key (the form's SAMLResponse, base64). */
  respond(login: string, requestId: string, overrides?: ResponseOverrides): Promise<string>;
  close(): Promise<void>;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function attributeStatement(attributes: Record<string, string | string[]>): string {
  const parts = Object.entries(attributes).map(([name, value]) => {
    const values = (Array.isArray(value) ? value : [value]).map((v) => `<saml:AttributeValue xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`).join('');
    return `<saml:Attribute Name="${escapeXml(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values}</saml:Attribute>`;
  });
  return parts.length ? `<saml:AttributeStatement>${parts.join('')}</saml:AttributeStatement>` : '';
}

const html = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * Starts the IdP. `signingKey` signs its responses; `entityId` defaults to its own URL. Several IdPs may share an
 * entity ID with different keys: one of them is then an impostor.
 */
export async function startSamlIdp(metadataUrl: string, signingKey: KeyPair, opts: { entityId?: string } = {}): Promise<SamlIdp> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const entityId = opts.entityId ?? `${base}/idp`;
  const ssoUrl = `${base}/sso`;
  const { redirect } = samlify.Constants.namespace.binding;
  const idp = samlify.IdentityProvider({
    entityID: entityId,
    signingCert: signingKey.cert,
    privateKey: signingKey.key,
    wantAuthnRequestsSigned: true,
    requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    nameIDFormat: ['urn:oasis:names:tc:SAML:2.0:nameid-format:persistent'],
    singleSignOnService: [{ Binding: redirect, Location: ssoUrl }],
    singleLogoutService: [{ Binding: redirect, Location: `${base}/slo` }],
  });
  const sp = async () => {
    const res = await fetch(metadataUrl);
    if (!res.ok) throw new Error(`SP metadata: ${res.status}`);
    return samlify.ServiceProvider({ metadata: await res.text() });
  };
  const accounts = new Map<string, SamlAccount>();
  const pending = new Map<string, { request: unknown; requestId: string; relayState?: string }>();
  const state: SamlIdp = {
    entityId,
    ssoUrl,
    cert: signingKey.cert,
    accounts,
    overrides: {},
    requests: [],
    metadataUrl,
    async respond(login, requestId, extra = {}) {
      const target = await sp();
      const account = accounts.get(login);
      if (!account) throw new Error(`no account ${login}`);
      const o = { ...state.overrides, ...extra };
      const now = new Date();
      const later = new Date(now.getTime() + 5 * 60_000);
      const acs = target.entityMeta.getAssertionConsumerService('post');
      const built = await idp.createLoginResponse(target, { extract: { request: { id: requestId } } }, 'post', { email: account.nameId }, {
        customTagReplacement(template) {
          const id = `_${randomBytes(16).toString('hex')}`;
          const withStatements = template
            .replace('{AttributeStatement}', attributeStatement(account.attributes ?? {}))
            .replace('{AuthnStatement}', `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="${id}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`);
          const context = samlify.SamlLib.replaceTagsByValue(withStatements, {
            ID: id,
            AssertionID: `_${randomBytes(16).toString('hex')}`,
            Destination: o.destination ?? acs,
            Audience: o.audience ?? target.entityMeta.getEntityID(),
            SubjectRecipient: o.recipient ?? acs,
            Issuer: o.issuer ?? entityId,
            IssueInstant: now.toISOString(),
            StatusCode: 'urn:oasis:names:tc:SAML:2.0:status:Success',
            ConditionsNotBefore: (o.notBefore ?? now).toISOString(),
            ConditionsNotOnOrAfter: (o.notOnOrAfter ?? later).toISOString(),
            SubjectConfirmationDataNotOnOrAfter: (o.notOnOrAfter ?? later).toISOString(),
            NameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
            NameID: account.nameId,
            InResponseTo: o.inResponseTo ?? requestId,
          });
          return { id, context };
        },
      });
      return built.context;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', base);
    const send = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(body);
    };
    void (async () => {
      if (req.method === 'GET' && url.pathname === '/sso') {
        // The signature covers the parameters exactly as they were encoded in the URL.
        const raw = (req.url ?? '').split('?')[1] ?? '';
        const wanted = ['SAMLRequest', 'RelayState', 'SigAlg'];
        const octetString = raw
          .split('&')
          .filter((p) => wanted.includes(p.split('=')[0]!))
          .join('&');
        const query = Object.fromEntries(url.searchParams);
        let parsed: { extract: { request: { id: string } } };
        try {
          parsed = await idp.parseLoginRequest(await sp(), 'redirect', { query, octetString });
        } catch (e) {
          return send(400, `AuthnRequest refused: ${String((e as Error).message ?? e)}`);
        }
        state.requests.push(parsed.extract.request.id);
        const ticket = randomBytes(12).toString('hex');
        pending.set(ticket, { request: parsed, requestId: parsed.extract.request.id, ...(query.RelayState ? { relayState: query.RelayState } : {}) });
        return send(200, `<form action="/login" method="post"><input type="hidden" name="ticket" value="${ticket}"><input name="login"><button>Sign in</button></form>`);
      }
      if (req.method === 'POST' && url.pathname === '/login') {
        const form = await readForm(req);
        const p = pending.get(form.get('ticket') ?? '');
        const login = form.get('login') ?? '';
        if (!p || !accounts.has(login)) return send(400, 'unknown ticket or account');
        pending.delete(form.get('ticket')!);
        const target = await sp();
        const samlResponse = await state.respond(login, p.requestId);
        const acs = target.entityMeta.getAssertionConsumerService('post');
        const relay = p.relayState !== undefined ? `<input type="hidden" name="RelayState" value="${html(p.relayState)}">` : '';
        return send(200, `<form method="post" action="${html(acs)}"><input type="hidden" name="SAMLResponse" value="${html(samlResponse)}">${relay}</form><script>document.forms[0].submit()</script>`);
      }
      send(404, 'not found');
    })().catch((e) => send(500, String((e as Error).stack ?? e)));
  });
  return state;
}

/** The auto-posting form an IdP answers with: where it posts and what. */
export function autoPostForm(body: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]+)"/i.exec(body)?.[1];
  if (!action) throw new Error(`no form in ${body.slice(0, 200)}`);
  const fields: Record<string, string> = {};
  for (const m of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/gi)) fields[m[1]!] = m[2]!.replace(/&lt;/g, '<').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  return { action: action.replace(/&amp;/g, '&'), fields };
}
