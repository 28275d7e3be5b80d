/**
 * SAML 2.0 identity providers through `@node-saml/node-saml`: the signed AuthnRequest (HTTP-Redirect binding),
 * the SP metadata, and the assertion checks. The library verifies the XML signature against the IdP's
 * certificate (only the signed part is read, which defeats signature wrapping), the audience, the
 * NotBefore/NotOnOrAfter windows and InResponseTo; Recipient, Destination and Issuer are checked here.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { CacheProvider, Profile as SamlProfile } from '@node-saml/node-saml';
import { lazyModule } from '../../../core/lazy-module.js';
import { samlVariable, type OAuthConfig } from '../config.js';
import { CallbackError } from './errors.js';
import { normalize, type Profile } from './profile.js';

export interface SamlProvider {
  id: string;
  displayName: string;
  kind: 'saml';
  /** The IdP posts its answer (HTTP-POST binding) to the callback. */
  formPost: true;
  /** The assertion consumer service: `<PUBLIC_URL>/hooks/oauth/<name>/callback`. */
  acsUrl: string;
  entityId: string;
  /** SP metadata XML for the IdP: entity ID, ACS URL, signing certificate. */
  metadata(): Promise<string>;
  /** The IdP's sign-in URL carrying a signed AuthnRequest with this ID, and the state as RelayState. */
  authorizeUrl(requestId: string, relayState: string): Promise<string>;
  /** The verified profile of a SAMLResponse answering the AuthnRequest `requestId`; a CallbackError otherwise. */
  verify(samlResponse: string, requestId: string, requestedAt: Date): Promise<Profile>;
}

/**
 * node-saml (with its XML signature stack) and xml2js load with the first SAML request, not at start: most
 * deployments have no SAML provider.
 */
const nodeSaml = lazyModule(() => import('@node-saml/node-saml'));
const xml2js = lazyModule(() => import('xml2js'));

/** SAML IDs are xs:ID (an NCName): the flow's random nonce, behind an underscore. */
export const samlRequestId = (nonce: string) => `_${nonce}`;

const NAME_ID_TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
const NAME_ID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const EMAIL_ATTRIBUTES = ['email', 'mail', 'urn:oid:0.9.2342.19200300.100.1.3', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'];
const NAME_ATTRIBUTES = ['displayName', 'name', 'cn', 'urn:oid:2.16.840.1.113730.3.1.241', 'urn:oid:2.5.4.3', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name'];
/** Clocks of the IdP and this server may differ a little. */
const CLOCK_SKEW_MS = 30_000;
const pems = (v: string) => v.replace(/\\n/g, '\n');

/**
 * InResponseTo is accepted only for the AuthnRequest of the flow whose RelayState came back, so an assertion
 * issued for another sign-in (or a replay of this one, whose flow is already used) never matches.
 */
function onlyRequest(requestId: string, requestedAt: Date): CacheProvider {
  return {
    saveAsync: async (_key, value) => ({ value, createdAt: Date.now() }),
    getAsync: async (key) => (key === requestId ? requestedAt.toISOString() : null),
    removeAsync: async (key) => key,
  };
}

/** node-saml's errors are plain Errors: their messages tell which check failed. */
function classify(e: unknown): CallbackError {
  if (e instanceof CallbackError) return e;
  const SamlStatusError = nodeSaml.loaded?.SamlStatusError;
  if (SamlStatusError && e instanceof SamlStatusError) return new CallbackError('oauth/provider-denied', `the IdP answered ${e.message.slice(0, 150)}`);
  const message = e instanceof Error ? e.message : String(e);
  const say = (code: string) => new CallbackError(code, `the SAML response was refused: ${message.slice(0, 200)}`);
  if (/signature|Cannot obtain assertion/i.test(message)) return say('oauth/saml-signature');
  if (/InResponseTo/i.test(message)) return say('oauth/saml-in-response-to');
  if (/audience/i.test(message)) return say('oauth/saml-audience');
  if (/expired|not yet valid|too old|subject confirmation/i.test(message)) return say('oauth/saml-expired');
  return say('oauth/provider-rejected');
}

const firstString = (v: unknown): string | undefined => {
  if (typeof v === 'string' && v.length > 0) return v;
  if (Array.isArray(v)) return v.find((x): x is string => typeof x === 'string' && x.length > 0);
  return undefined;
};

type XmlJs = Record<string, any>;

/** Every SubjectConfirmationData Recipient of the signed assertion. */
function recipients(assertion: XmlJs): string[] {
  const subject = assertion?.Assertion?.Subject?.[0];
  const out: string[] = [];
  for (const sc of subject?.SubjectConfirmation ?? []) {
    for (const data of sc?.SubjectConfirmationData ?? []) {
      const r = data?.$?.Recipient;
      if (typeof r === 'string') out.push(r);
    }
  }
  return out;
}

async function responseDestination(xml: string): Promise<string | null> {
  const { parseStringPromise, processors } = await xml2js();
  const doc = (await parseStringPromise(xml, { tagNameProcessors: [processors.stripPrefix] })) as XmlJs;
  const destination = doc?.Response?.$?.Destination;
  return typeof destination === 'string' ? destination : null;
}

export function samlProvider(cfg: OAuthConfig, publicUrl: string, name: string, stateTtlSeconds: number): SamlProvider {
  const get = (what: Parameters<typeof samlVariable>[1]) => cfg[samlVariable(name, what)];
  const acsUrl = `${publicUrl}/hooks/oauth/${name}/callback`;
  const entityId = get('SP_ENTITY_ID') ?? `${publicUrl}/hooks/oauth/${name}/metadata`;
  const idpCerts = pems(get('IDP_CERT')!).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const spCert = pems(get('SP_CERT')!);
  const privateKey = pems(get('SP_PRIVATE_KEY')!);
  // Unreadable keys and certificates stop the server at start, naming the setting, not the first sign-in.
  const readable = (what: 'IDP_CERT' | 'SP_CERT' | 'SP_PRIVATE_KEY', read: () => unknown) => {
    try {
      read();
    } catch (e) {
      throw new Error(`${samlVariable(name, what)}: cannot be read (${(e as Error).message})`);
    }
  };
  if (!idpCerts.length) throw new Error(`${samlVariable(name, 'IDP_CERT')}: no PEM certificate in it`);
  for (const pem of idpCerts) readable('IDP_CERT', () => new X509Certificate(pem));
  readable('SP_CERT', () => new X509Certificate(spCert));
  readable('SP_PRIVATE_KEY', () => createPrivateKey(privateKey));
  const idpIssuer = get('IDP_ISSUER');
  const verifiedEmails = ['true', '1', 'yes'].includes(get('EMAIL_VERIFIED') ?? 'false');
  const idAttribute = get('ID_ATTRIBUTE');
  const emailAttribute = get('EMAIL_ATTRIBUTE');
  const nameAttribute = get('NAME_ATTRIBUTE');

  const saml = async (requestId: string, requestedAt: Date) => {
    const { SAML, ValidateInResponseTo } = await nodeSaml();
    return new SAML({
      entryPoint: get('ENTRY_POINT')!,
      issuer: entityId,
      audience: entityId,
      callbackUrl: acsUrl,
      idpCert: idpCerts,
      privateKey,
      publicCert: spCert,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      identifierFormat: get('NAME_ID_FORMAT') ?? null,
      // Asking for a password-based context would refuse users who signed in with MFA or a passkey.
      disableRequestedAuthnContext: true,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: CLOCK_SKEW_MS,
      // Unsolicited (IdP-initiated) responses carry no InResponseTo and are refused: nothing binds them to a browser.
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: stateTtlSeconds * 1000,
      generateUniqueId: () => requestId,
      cacheProvider: onlyRequest(requestId, requestedAt),
    });
  };

  let metadata: Promise<string> | undefined;
  return {
    id: name,
    displayName: get('DISPLAY_NAME') ?? name,
    kind: 'saml',
    formPost: true,
    acsUrl,
    entityId,
    metadata() {
      metadata ??= saml('_metadata', new Date()).then((s) => s.generateServiceProviderMetadata(null, spCert));
      return metadata;
    },
    authorizeUrl: async (requestId, relayState) => (await saml(requestId, new Date())).getAuthorizeUrlAsync(relayState, undefined, {}),
    async verify(samlResponse, requestId, requestedAt) {
      let profile: SamlProfile | null;
      try {
        profile = (await (await saml(requestId, requestedAt)).validatePostResponseAsync({ SAMLResponse: samlResponse })).profile;
      } catch (e) {
        throw classify(e);
      }
      if (!profile) throw new CallbackError('oauth/provider-rejected', 'the SAML response holds no assertion');
      const destination = await responseDestination(profile.getSamlResponseXml!());
      if (destination !== null && destination !== acsUrl) throw new CallbackError('oauth/saml-recipient', `the SAML response is addressed to ${destination.slice(0, 200)}`);
      const to = recipients(profile.getAssertion!() as XmlJs);
      if (!to.includes(acsUrl)) throw new CallbackError('oauth/saml-recipient', `the assertion is for ${(to[0] ?? 'no recipient').slice(0, 200)}, not ${acsUrl}`);
      if (idpIssuer && profile.issuer !== idpIssuer) throw new CallbackError('oauth/saml-issuer', `the assertion was issued by ${String(profile.issuer).slice(0, 200)}`);

      const attributes = (profile.attributes ?? {}) as Record<string, unknown>;
      const pick = (names: readonly string[]) => names.map((n) => firstString(attributes[n])).find((v) => v !== undefined);
      let id: string | undefined;
      if (idAttribute) id = pick([idAttribute]);
      else if (profile.nameIDFormat !== NAME_ID_TRANSIENT) id = profile.nameID;
      if (!id) {
        throw new CallbackError('oauth/provider-rejected', idAttribute ? `the assertion has no ${idAttribute} attribute` : `the IdP sent a transient NameID: set ${samlVariable(name, 'ID_ATTRIBUTE')}`);
      }
      const email = emailAttribute ? pick([emailAttribute]) : (pick(EMAIL_ATTRIBUTES) ?? (profile.nameIDFormat === NAME_ID_EMAIL ? profile.nameID : undefined));
      try {
        return normalize(name, { id, email, emailVerified: verifiedEmails, name: pick(nameAttribute ? [nameAttribute] : NAME_ATTRIBUTES) });
      } catch (e) {
        throw new CallbackError('oauth/provider-rejected', (e as Error).message);
      }
    },
  };
}
