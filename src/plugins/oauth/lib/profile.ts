/** A provider's account, normalized: what every provider's profile is turned into. */
export interface Profile {
  provider: string;
  providerUserId: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  avatarUrl: string | null;
  locale: string | null;
}

const str = (v: unknown, max: number): string | null => (typeof v === 'string' && v.length > 0 ? v.slice(0, max) : null);

/** Providers send booleans, and some (Apple) the strings "true"/"false". */
export const truthy = (v: unknown): boolean => v === true || v === 'true';

export function normalize(provider: string, raw: { id: unknown; email?: unknown; emailVerified?: unknown; name?: unknown; avatarUrl?: unknown; locale?: unknown }): Profile {
  const id = typeof raw.id === 'number' ? String(raw.id) : str(raw.id, 255);
  if (!id) throw new Error('the provider returned no account id');
  const email = str(raw.email, 320);
  return {
    provider,
    providerUserId: id,
    email: email && /^[^\s@]+@[^\s@]+$/.test(email) ? email : null,
    emailVerified: email !== null && truthy(raw.emailVerified),
    name: str(raw.name, 400),
    avatarUrl: typeof raw.avatarUrl === 'string' && /^https?:\/\//.test(raw.avatarUrl) ? raw.avatarUrl.slice(0, 2048) : null,
    locale: str(raw.locale, 35),
  };
}
