/**
 * Hasura encodes its webhook bodies from aeson `Value`s whose objects are ordered maps, so every object's keys go
 * out sorted (compare any event_invocation_logs dump). Handlers that sign or hash the raw body see the same bytes.
 */
export function sortedJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort(compareKeys)) out[k] = sortKeys((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** aeson compares keys as Text, i.e. by code point, which is what `<` does on JS strings for BMP text. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
