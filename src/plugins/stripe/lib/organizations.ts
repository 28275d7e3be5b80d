/**
 * Organisations as owners of Stripe customers. The app keeps its own membership table; the settings name it
 * and its columns, and at boot the plugin checks they exist and points the view `stripe.organization_member`
 * at them. Everything else (the actions' membership checks, the read permissions of the billing tables) reads
 * that view, so the Hasura metadata is the same whether organisations are on or off.
 */
import type { Queryable } from '../../../core/plugin.js';
import { defineService } from '../../../core/plugin.js';
import type { StripeConfig } from '../config.js';
import { stripeError } from './errors.js';

export interface Organizations {
  /** Whether STRIPE_ORG_MEMBERS_TABLE is set (and was found at boot). */
  readonly enabled: boolean;
}

export interface MembershipSource {
  table: string;
  orgColumn: string;
  userColumn: string;
  roleColumn: string | null;
  billingRoles: string[];
}

/** The configured membership source, or null when organisations are off; a half-given setting is an error. */
export function membershipSource(config: StripeConfig): MembershipSource | null {
  const table = config.STRIPE_ORG_MEMBERS_TABLE;
  const orgColumn = config.STRIPE_ORG_MEMBERS_ORG_COLUMN;
  const userColumn = config.STRIPE_ORG_MEMBERS_USER_COLUMN;
  if (!table) {
    const stray = (['STRIPE_ORG_MEMBERS_ORG_COLUMN', 'STRIPE_ORG_MEMBERS_USER_COLUMN', 'STRIPE_ORG_MEMBERS_ROLE_COLUMN'] as const).filter((k) => config[k]);
    if (stray.length) throw new Error(`stripe: ${stray.join(', ')} set without STRIPE_ORG_MEMBERS_TABLE`);
    return null;
  }
  if (!orgColumn || !userColumn) throw new Error('stripe: STRIPE_ORG_MEMBERS_TABLE needs STRIPE_ORG_MEMBERS_ORG_COLUMN and STRIPE_ORG_MEMBERS_USER_COLUMN');
  if (config.STRIPE_ORG_MEMBERS_ROLE_COLUMN && config.STRIPE_ORG_BILLING_ROLES.length === 0) {
    throw new Error('stripe: STRIPE_ORG_MEMBERS_ROLE_COLUMN needs at least one role in STRIPE_ORG_BILLING_ROLES');
  }
  return { table, orgColumn, userColumn, roleColumn: config.STRIPE_ORG_MEMBERS_ROLE_COLUMN ?? null, billingRoles: config.STRIPE_ORG_BILLING_ROLES };
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** The view's body over the configured table; without one, a view of no rows with the same columns. */
export function membershipViewSql(source: MembershipSource | null): string {
  if (!source) return `SELECT NULL::text AS organization_id, NULL::text AS user_id, false AS can_manage_billing WHERE false`;
  const [schema, table] = source.table.split('.') as [string, string];
  const billing = source.roleColumn
    ? `coalesce(m.${ident(source.roleColumn)}::text = ANY (ARRAY[${source.billingRoles.map(literal).join(', ')}]::text[]), false)`
    : 'true';
  return `SELECT m.${ident(source.orgColumn)}::text AS organization_id, m.${ident(source.userColumn)}::text AS user_id, ${billing} AS can_manage_billing
  FROM ${ident(schema)}.${ident(table)} m
 WHERE m.${ident(source.orgColumn)} IS NOT NULL AND m.${ident(source.userColumn)} IS NOT NULL`;
}

/** Boot check: the table and each named column exist (a typo would otherwise surface as "not a member"). */
export async function checkMembershipSource(db: Queryable, source: MembershipSource): Promise<void> {
  const [schema, table] = source.table.split('.') as [string, string];
  const r = await db.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
    [schema, table],
  );
  if (!r.rowCount) throw new Error(`stripe: STRIPE_ORG_MEMBERS_TABLE: no table or view ${source.table}`);
  const have = new Set(r.rows.map((c) => c.column_name));
  const wanted: Array<[string, string | null]> = [
    ['STRIPE_ORG_MEMBERS_ORG_COLUMN', source.orgColumn],
    ['STRIPE_ORG_MEMBERS_USER_COLUMN', source.userColumn],
    ['STRIPE_ORG_MEMBERS_ROLE_COLUMN', source.roleColumn],
  ];
  for (const [setting, column] of wanted) {
    if (column && !have.has(column)) throw new Error(`stripe: ${setting}: ${source.table} has no column ${column}`);
  }
}

/** pg_advisory_xact_lock key ("strp" + 1): the server and workers booting together replace the view one at a time. */
const VIEW_LOCK = [0x73747270, 1] as const;

export const stripeOrganizations = defineService<Organizations, StripeConfig>({
  name: 'organizations',
  async create(runtime) {
    const source = membershipSource(runtime.config);
    if (source) await checkMembershipSource(runtime.db, source);
    await runtime.db.tx(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [...VIEW_LOCK]);
      await tx.query(`CREATE OR REPLACE VIEW stripe.organization_member AS ${membershipViewSql(source)}`);
    });
    return { enabled: !!source };
  },
});

export type OrganizationAccess = 'member' | 'billing';

/**
 * Checks that the session's user may act for `organizationId` (`billing`: manage its billing; `member`: read it).
 * Admins may act for any organisation. Not a member → 403 `stripe/not-a-member`; a member whose role does not
 * manage billing → 403 `stripe/not-billing-manager`.
 */
export async function checkOrganization(
  db: Queryable,
  orgs: Organizations,
  session: { role: string; userId: string | null },
  organizationId: string,
  access: OrganizationAccess,
): Promise<void> {
  if (!orgs.enabled) throw stripeError('stripe/organizations-off');
  if (session.role === 'admin') return;
  if (!session.userId) throw stripeError('stripe/no-user');
  const r = await db.query<{ billing: boolean }>(
    `SELECT bool_or(can_manage_billing) AS billing FROM stripe.organization_member WHERE organization_id = $1 AND user_id = $2 HAVING count(*) > 0`,
    [organizationId, session.userId],
  );
  const row = r.rows[0];
  if (!row) throw stripeError('stripe/not-a-member');
  if (access === 'billing' && !row.billing) throw stripeError('stripe/not-billing-manager');
}
