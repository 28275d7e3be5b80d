/**
 * `.env` / `.env.example` beside a Hasura project: the installer appends a block per plugin with the
 * settings the files do not have yet, never touching a key that is already there, and takes exactly that
 * block out again on remove (unless the user edited it, in which case only untouched lines go).
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { describeSetting, isRequired, isSecret, settingDefault, settingFeature } from '../core/config.js';
import type { PluginManifest } from '../core/plugin.js';

export interface EnvSetting {
  key: string;
  description?: string;
  secret: boolean;
  required: boolean;
  /** Declared default, formatted for a .env file. */
  default?: string;
  /** The feature the setting belongs to. */
  feature?: string;
}

function formatValue(v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The settings of a manifest's `config` schema, in declaration order. */
export function pluginSettings(manifest: PluginManifest<any>): EnvSetting[] {
  const shape = (manifest.config?.shape ?? {}) as Record<string, z.ZodType>;
  return Object.entries(shape).map(([key, schema]) => {
    const def = settingDefault(schema);
    const description = describeSetting(schema);
    const feature = settingFeature(schema);
    return {
      key,
      ...(feature ? { feature } : {}),
      ...(description ? { description } : {}),
      secret: isSecret(schema),
      required: isRequired(schema),
      ...(def ? { default: formatValue(def.value) } : {}),
    };
  });
}

const KEY_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/;

export function envKeys(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = KEY_LINE.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}

function quote(value: string): string {
  return /^[A-Za-z0-9_./:@,+-]*$/.test(value) ? value : JSON.stringify(value);
}

export interface EnvLine {
  key: string;
  value: string;
  comment?: string;
  /** `# KEY=value`: documented, not set. */
  commented?: boolean;
}

export interface EnvBlock {
  /** First line of the block; identifies it on remove. */
  title: string;
  lines: EnvLine[];
}

export interface EnvAppendResult {
  text: string;
  /** Keys written (keys already present are skipped). */
  keys: string[];
  /** sha256 of exactly what was appended, to take it out again only when unchanged. */
  hash?: string;
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Appends the lines whose keys `text` does not define yet, under a title comment. */
export function appendEnvBlock(text: string, block: EnvBlock): EnvAppendResult {
  const present = envKeys(text);
  const lines = block.lines.filter((l) => !present.has(l.key));
  if (lines.length === 0) return { text, keys: [] };
  const body: string[] = [`# ${block.title}`];
  for (const l of lines) {
    if (l.comment) for (const c of l.comment.split('\n')) body.push(`# ${c}`.trimEnd());
    body.push(`${l.commented ? '# ' : ''}${l.key}=${quote(l.value)}`);
  }
  const sep = text === '' ? '' : text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
  const added = sep + body.join('\n') + '\n';
  return { text: text + added, keys: lines.map((l) => l.key), hash: sha(added) };
}

/**
 * Removes a block appended by `appendEnvBlock` when it is unchanged (the file is then byte-for-byte what it
 * was before). An edited block stays: its values may be the user's own, so the caller reports it instead.
 */
export function removeEnvBlock(text: string, title: string, hash: string | undefined): { text: string; removed: boolean } {
  const head = `# ${title}\n`;
  const at = text.startsWith(head) ? 0 : text.indexOf('\n' + head) + 1;
  if (at <= 0 && !text.startsWith(head)) return { text, removed: false };
  // The block runs to the next blank line (or the end of the file).
  const blank = text.indexOf('\n\n', at);
  const end = blank === -1 ? text.length : blank + 1;
  for (const start of [at - 2, at - 1, at]) {
    if (start < 0) continue;
    const candidate = text.slice(start, end);
    if (hash && sha(candidate) === hash) return { text: text.slice(0, start) + text.slice(end), removed: true };
  }
  return { text, removed: false };
}

const assignment = (key: string) => new RegExp(`^(\\s*(?:export\\s+)?${key}\\s*=).*$`, 'm');

/** The value the file assigns to `key` (the first uncommented assignment; a quoted value unquoted). */
export function envValue(text: string, key: string): string | undefined {
  const m = new RegExp(`^\\s*(?:export\\s+)?${key}\\s*=(.*)$`, 'm').exec(text);
  if (!m) return undefined;
  const raw = m[1]!.trim();
  if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) {
    try {
      return JSON.parse(raw) as string;
    } catch {
      return raw.slice(1, -1);
    }
  }
  if (raw.startsWith("'") && raw.endsWith("'") && raw.length >= 2) return raw.slice(1, -1);
  return raw;
}

/**
 * Sets `key`'s value where the file assigns it (the first uncommented assignment). When that line lies in the
 * block appended under `title` and the block is otherwise unchanged, the block's new hash is returned, so a
 * later remove still recognises it. `changed: false` when the file does not assign the key.
 */
export function setEnvValue(
  text: string,
  key: string,
  value: string,
  block?: { title: string; hash: string | undefined },
): { text: string; changed: boolean; hash?: string } {
  const re = assignment(key);
  const m = re.exec(text);
  if (!m) return { text, changed: false };
  const line = `${m[1]}${quote(value)}`;
  const out = text.slice(0, m.index) + line + text.slice(m.index + m[0].length);
  if (!block) return { text: out, changed: out !== text };
  // Find the block as it was (unchanged), then hash the same span after the edit.
  const head = `# ${block.title}\n`;
  const at = text.startsWith(head) ? 0 : text.indexOf('\n' + head) + 1;
  if (at <= 0 && !text.startsWith(head)) return { text: out, changed: out !== text };
  const blank = text.indexOf('\n\n', at);
  const end = blank === -1 ? text.length : blank + 1;
  const delta = out.length - text.length;
  for (const start of [at - 2, at - 1, at]) {
    if (start < 0) continue;
    if (block.hash && sha(text.slice(start, end)) === block.hash && m.index >= start && m.index < end) {
      return { text: out, changed: out !== text, hash: sha(out.slice(start, end + delta)) };
    }
  }
  return { text: out, changed: out !== text };
}
