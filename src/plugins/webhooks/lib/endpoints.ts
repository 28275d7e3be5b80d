/** Endpoint management behind the actions: URL checks, secrets, rotation. */
import type { Db, Queryable } from '../../../core/plugin.js';
import type { WebhooksConfig } from '../config.js';
import { webhooksError } from './errors.js';
import { agentFor } from './deliver.js';
import { newSecret, type Scheme } from './signing.js';
import { urlProblem } from './ssrf.js';

export interface SecretResult {
  endpointId: string;
  signatureScheme: Scheme;
  secret: string | null;
  publicKey: string | null;
}

/** Refuses a URL the SSRF guard would refuse, with the reason in the message. */
export async function checkUrl(config: Readonly<WebhooksConfig>, url: string): Promise<void> {
  const problem = await urlProblem(url, { requireHttps: config.WEBHOOKS_REQUIRE_HTTPS, allow: agentFor(config.WEBHOOKS_SSRF_ALLOW).allow });
  if (problem) throw webhooksError('webhooks/url-refused', `the endpoint URL ${problem}`);
}

export async function checkEventTypes(db: Queryable, names: readonly string[] | null | undefined): Promise<void> {
  if (!names?.length) return;
  const r = await db.query<{ name: string }>('select name from webhooks.event_type where name = any($1::text[])', [names]);
  const known = new Set(r.rows.map((x) => x.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length) throw webhooksError('webhooks/unknown-event-type', `unknown event types: ${unknown.join(', ')}`, { unknown });
}

export async function createEndpoint(
  db: Db,
  config: Readonly<WebhooksConfig>,
  e: {
    ownerId: string;
    url: string;
    description: string;
    eventTypes: string[] | null;
    channels: string[] | null;
    headers: Record<string, string>;
    rateLimit: number | null;
    retrySchedule: number[] | null;
    fifo: boolean;
    scheme: Scheme;
  },
): Promise<SecretResult> {
  await checkUrl(config, e.url);
  await checkEventTypes(db, e.eventTypes);
  const secret = newSecret(e.scheme);
  return db.tx(async (tx) => {
    // Serialises creations per owner, so the count check holds under concurrent calls.
    await tx.query('select pg_advisory_xact_lock(hashtext($1))', [`webhooks.endpoint.${e.ownerId}`]);
    const n = await tx.query<{ n: number }>('select count(*)::int as n from webhooks.endpoint where owner_id = $1', [e.ownerId]);
    if (n.rows[0]!.n >= config.WEBHOOKS_MAX_ENDPOINTS_PER_OWNER) throw webhooksError('webhooks/too-many-endpoints', `an owner may have at most ${config.WEBHOOKS_MAX_ENDPOINTS_PER_OWNER} endpoints`);
    const r = await tx.query<{ id: string }>(
      `insert into webhooks.endpoint (owner_id, url, description, event_types, channels, headers, rate_limit, retry_schedule, fifo, signature_scheme)
       values ($1, $2, $3, $4::text[], $5::text[], $6::jsonb, $7, $8::int[], $9, $10) returning id`,
      [e.ownerId, e.url, e.description, e.eventTypes, e.channels, JSON.stringify(e.headers), e.rateLimit, e.retrySchedule, e.fifo, e.scheme],
    );
    const id = r.rows[0]!.id;
    await tx.query('insert into webhooks.endpoint_secret (endpoint_id, scheme, secret, public_key) values ($1, $2, $3, $4)', [id, secret.scheme, secret.secret, secret.publicKey]);
    return resultOf(id, secret);
  });
}

const resultOf = (endpointId: string, s: ReturnType<typeof newSecret>): SecretResult => ({
  endpointId,
  signatureScheme: s.scheme,
  secret: s.scheme === 'v1' ? s.secret : null,
  publicKey: s.publicKey,
});

/** A new secret signs from now on; the live ones keep signing until `graceSeconds` from now. */
export async function rotateSecret(db: Db, endpointId: string, scheme: Scheme, graceSeconds: number): Promise<SecretResult> {
  const secret = newSecret(scheme);
  await db.tx(async (tx) => {
    await tx.query(
      `update webhooks.endpoint_secret set expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $2))
        where endpoint_id = $1 and (expires_at is null or expires_at > now())`,
      [endpointId, graceSeconds],
    );
    await tx.query('delete from webhooks.endpoint_secret where endpoint_id = $1 and expires_at <= now()', [endpointId]);
    await tx.query('insert into webhooks.endpoint_secret (endpoint_id, scheme, secret, public_key) values ($1, $2, $3, $4)', [endpointId, secret.scheme, secret.secret, secret.publicKey]);
    await tx.query('update webhooks.endpoint set signature_scheme = $2, updated_at = now() where id = $1', [endpointId, scheme]);
  });
  return resultOf(endpointId, secret);
}
