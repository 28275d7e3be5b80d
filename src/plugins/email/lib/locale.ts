/**
 * Locales as BCP 47 tags. A template is looked up along a fallback chain: the requested tag, then each
 * shorter prefix (`de-AT` → `de`), then the default locale — the chain Novu keeps behind a paid plan.
 */

/** The canonical form of a tag (`de-at` → `de-AT`), or null when it is not a well-formed tag. */
export function canonicalLocale(tag: string): string | null {
  if (typeof tag !== 'string' || tag.length === 0 || tag.length > 35) return null;
  try {
    const [c] = Intl.getCanonicalLocales(tag);
    return c ?? null;
  } catch {
    return null;
  }
}

export function localeChain(requested: string | null | undefined, fallback: string): string[] {
  const out: string[] = [];
  const add = (t: string | null) => {
    if (t && !out.includes(t)) out.push(t);
  };
  const start = requested ? canonicalLocale(requested) : null;
  if (start) {
    const parts = start.split('-');
    for (let n = parts.length; n >= 1; n--) add(parts.slice(0, n).join('-'));
  }
  const def = canonicalLocale(fallback) ?? 'en';
  const defParts = def.split('-');
  for (let n = defParts.length; n >= 1; n--) add(defParts.slice(0, n).join('-'));
  return out;
}
