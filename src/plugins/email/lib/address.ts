/**
 * Email addresses as callers give them ("Name <a@example.com>" or "a@example.com"): parsed with nodemailer's
 * own parser, then held to what every provider accepts. CR/LF and other control characters are refused
 * outright (header injection); addresses are compared lower-cased (the suppression list stores them so).
 */
import addressparser from 'nodemailer/lib/addressparser';

export interface Address {
  name: string;
  address: string;
}

const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function isValidAddress(address: string): boolean {
  if (address.length > 254 || CONTROL.test(address)) return false;
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!LOCAL.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  const labels = domain.split('.');
  return domain.length <= 253 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!);
}

/** One mailbox, or null when it is not exactly one valid address. */
export function parseMailbox(input: string): Address | null {
  if (typeof input !== 'string' || input.length === 0 || input.length > 320 || CONTROL.test(input)) return null;
  const parsed = addressparser(input, { flatten: true }) as Array<{ name: string; address: string }>;
  if (parsed.length !== 1) return null;
  const { name, address } = parsed[0]!;
  if (!address || !isValidAddress(address) || name.length > 200) return null;
  return { name, address };
}

export const normalizeAddress = (address: string): string => address.trim().toLowerCase();

/** `Name <address>` for headers and APIs that take one string; the name is quoted only when it must be. */
export function formatMailbox(a: Address): string {
  if (!a.name) return a.address;
  const name = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ .-]+$/.test(a.name) ? a.name : `"${a.name.replace(/["\\]/g, '\\$&')}"`;
  return `${name} <${a.address}>`;
}

/** `{ name, email }` for APIs that take mailboxes as objects (SendGrid). */
export function mailboxObject(mailbox: string): { email: string; name?: string } {
  const m = parseMailbox(mailbox);
  if (!m) return { email: mailbox };
  return m.name ? { email: m.address, name: m.name } : { email: m.address };
}
