/**
 * YAML for Hasura metadata files: strict parsing with errors that name the file and line, deterministic
 * rendering in the layout the Hasura CLI writes, and surgical edits of block sequences.
 *
 * Edits splice text instead of re-serialising the document: a user's comments, quoting and indentation stay
 * byte-for-byte, and removing an item that was appended restores the file exactly (install → remove is
 * the identity).
 */
import YAML, { isMap, isScalar, isSeq, type Document, type Node, type YAMLMap, type YAMLSeq } from 'yaml';

export class MetadataFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'MetadataFileError';
  }
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Parses one YAML document; duplicate keys, syntax errors and multi-document files are errors. */
export function parseYamlDocument(text: string, file: string): Document.Parsed {
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false });
  if (!Array.isArray(docs)) throw new MetadataFileError(file, 'could not be parsed as YAML');
  if (docs.length > 1) throw new MetadataFileError(file, 'holds several YAML documents; Hasura metadata files hold one');
  const doc = docs[0] ?? YAML.parseDocument('', { uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const at = err.pos?.[0];
    const where = at === undefined ? '' : `line ${lineOf(text, at)}: `;
    throw new MetadataFileError(file, `invalid YAML: ${where}${err.message.split('\n')[0]}`);
  }
  return doc as Document.Parsed;
}

export function parseYaml(text: string, file: string): unknown {
  return parseYamlDocument(text, file).toJS({ maxAliasCount: 100 });
}

/* ------------------------------------------------------------------ deterministic rendering */

/**
 * One key order for every Hasura object, close to what the CLI exports (table → relationships → permissions →
 * triggers; name → definition → webhook → retry_conf → headers → comment). Keys not listed follow in
 * alphabetical order, so rendering never depends on how an object was built.
 */
const KEY_ORDER = [
  'version', 'name', 'role', 'kind', 'type', 'table', 'function', 'handler', 'url', 'url_from_env', 'definition', 'using', 'permission',
  'configuration', 'is_enum', 'object_relationships', 'array_relationships', 'computed_fields',
  'remote_relationships', 'insert_permissions', 'select_permissions', 'update_permissions', 'delete_permissions',
  'event_triggers', 'tables', 'functions', 'connection_info', 'database_url', 'isolation_level', 'pool_settings',
  'use_prepared_statements', 'custom_name', 'custom_root_fields', 'column_config', 'enable_manual', 'insert',
  'update', 'delete', 'columns', 'filter', 'check', 'set', 'limit', 'allow_aggregations', 'backend_only',
  'arguments', 'output_type', 'fields', 'values', 'relationships', 'remote_table', 'field_mapping', 'webhook',
  'webhook_from_env', 'schedule', 'include_in_metadata', 'payload', 'retry_conf', 'forward_client_headers',
  'headers', 'timeout', 'permissions', 'description', 'comment',
];
const RANK = new Map<string, number>(KEY_ORDER.map((k, i) => [k, i]));

function compareKeys(a: string, b: string): number {
  const ra = RANK.get(a);
  const rb = RANK.get(b);
  if (ra !== undefined && rb !== undefined) return ra - rb;
  if (ra !== undefined) return -1;
  if (rb !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A copy with object keys in canonical order and `undefined` values dropped. */
export function canonical<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => canonical(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort(compareKeys)) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = canonical(v);
    }
    return out as T;
  }
  return value;
}

/** Canonical JSON text, for equality of metadata objects regardless of key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(canonical(value));
}

const STRINGIFY: YAML.ToStringOptions = {
  indent: 2,
  indentSeq: true,
  singleQuote: true,
  lineWidth: 0,
  minContentWidth: 0,
  flowCollectionPadding: false,
};

/** YAML text of `value` in canonical key order, Hasura CLI style (2-space indent, indented sequences). */
export function renderYaml(value: unknown): string {
  const doc = new YAML.Document(canonical(value), { keepUndefined: false });
  // The CLI writes include markers double-quoted; keep that look for the lines we add.
  return doc.toString(STRINGIFY).replace(/'(!include [^'\n]+)'/g, '"$1"');
}

/** `- "!include <file>"` as the CLI writes it. */
export function includeItem(file: string): string {
  return `"!include ${file}"`;
}

const INCLUDE = /^!include\s+(\S.*)$/;
export function includeTarget(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return INCLUDE.exec(value.trim())?.[1]?.trim();
}

/* ------------------------------------------------------------------ text splicing */

type Path = readonly (string | number)[];

function nodeAt(doc: Document.Parsed, path: Path): Node | null | undefined {
  if (path.length === 0) return doc.contents as Node | null;
  return doc.getIn(path, true) as Node | null | undefined;
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/** Offset just after the newline ending the line of the last non-blank character before `offset`. */
function endOfContentLine(text: string, offset: number): number {
  let c = offset - 1;
  while (c >= 0 && /\s/.test(text[c]!)) c--;
  const nl = text.indexOf('\n', c + 1);
  return nl === -1 ? text.length : nl + 1;
}

/** Start of the `- ` line of a block sequence item and the end of its last line. */
function itemSpan(text: string, item: Node): { start: number; end: number; dashCol: number } {
  const range = item.range!;
  const start = lineStart(text, range[0]);
  const dash = text.indexOf('-', start);
  return { start, end: endOfContentLine(text, Math.max(range[1], range[0] + 1)), dashCol: dash - start };
}

function indentBlock(rendered: string, col: number): string {
  const pad = ' '.repeat(col);
  return rendered
    .split('\n')
    .map((l) => (l.length ? pad + l : l))
    .join('\n');
}

/** The rendered block-sequence lines for `items` (strings are taken as raw YAML scalars). */
function renderItems(items: readonly unknown[]): string {
  return items
    .map((it) => (typeof it === 'string' ? `- ${it}\n` : renderYaml([it])))
    .join('');
}

/** Column where a key's value starts a new block (the key's own column). */
function keyColumn(text: string, doc: Document.Parsed, path: Path): { col: number; colonEnd: number } {
  const parentPath = path.slice(0, -1);
  const parent = nodeAt(doc, parentPath);
  const key = path[path.length - 1];
  if (!isMap(parent)) throw new Error(`not a map at ${parentPath.join('.')}`);
  const pair = (parent as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key);
  const keyNode = pair?.key as Node | undefined;
  if (!keyNode?.range) throw new Error(`key ${String(key)} not found`);
  const col = keyNode.range[0] - lineStart(text, keyNode.range[0]);
  const colon = text.indexOf(':', keyNode.range[1]);
  return { col, colonEnd: colon + 1 };
}

export class YamlEditError extends MetadataFileError {}

/**
 * Appends `items` to the sequence at `path` (root when empty). Block sequences get new lines after their last
 * item with the same indentation; an empty `[]` becomes a block; a missing key is added at the end of its map.
 */
export function appendToSequence(text: string, file: string, path: Path, items: readonly unknown[]): string {
  if (items.length === 0) return text;
  const doc = parseYamlDocument(text, file);
  const node = nodeAt(doc, path);
  const rendered = renderItems(items);

  if (isSeq(node) && !(node as YAMLSeq).flow && (node as YAMLSeq).items.length > 0) {
    const seq = node as YAMLSeq;
    const first = itemSpan(text, seq.items[0] as Node);
    const last = itemSpan(text, seq.items[seq.items.length - 1] as Node);
    const at = last.end;
    const sep = at > 0 && text[at - 1] !== '\n' ? '\n' : '';
    return text.slice(0, at) + sep + indentBlock(rendered, first.dashCol) + text.slice(at);
  }

  const emptyFlow = isSeq(node) && (node as YAMLSeq).flow && (node as YAMLSeq).items.length === 0;
  const nullish = node === null || (isScalar(node) && (node.value === null || node.value === undefined));
  if (path.length === 0) {
    if (emptyFlow) {
      const r = (node as Node).range!;
      return text.slice(0, r[0]) + rendered.replace(/\n$/, '') + text.slice(r[1]);
    }
    if (nullish && text.trim() === '') return rendered;
    throw new YamlEditError(file, 'expected a list at the top level');
  }
  if (emptyFlow || (nullish && node !== undefined)) {
    const { col, colonEnd } = keyColumn(text, doc, path);
    const end = emptyFlow ? (node as Node).range![1] : colonEnd;
    return text.slice(0, colonEnd) + '\n' + indentBlock(rendered, col + 2).replace(/\n$/, '') + text.slice(end);
  }
  if (node === undefined) {
    // The key is missing: add it at the end of its parent map (creating parents as needed is not needed for
    // the files we edit, whose parents always exist).
    const parent = nodeAt(doc, path.slice(0, -1));
    if (!isMap(parent) || (parent as YAMLMap).flow) throw new YamlEditError(file, `cannot add ${path.join('.')} here`);
    const map = parent as YAMLMap;
    const lastPair = map.items[map.items.length - 1];
    const key = String(path[path.length - 1]);
    if (!lastPair) {
      if (path.length === 1 && text.trim() === '') return `${key}:\n${indentBlock(rendered, 2)}`;
      throw new YamlEditError(file, `cannot add ${path.join('.')} to an empty map`);
    }
    const keyNode = lastPair.key as Node;
    const col = keyNode.range![0] - lineStart(text, keyNode.range![0]);
    const valueEnd = (lastPair.value as Node | null)?.range?.[1] ?? keyNode.range![1];
    const at = endOfContentLine(text, valueEnd);
    const sep = at > 0 && text[at - 1] !== '\n' ? '\n' : '';
    return text.slice(0, at) + sep + ' '.repeat(col) + `${key}:\n` + indentBlock(rendered, col + 2) + text.slice(at);
  }
  if (isSeq(node)) {
    // A non-empty flow sequence: rare in practice (the CLI never writes one); re-render that node only.
    const seq = node as YAMLSeq;
    for (const it of items) seq.add(typeof it === 'string' ? YAML.parse(it) : doc.createNode(canonical(it)));
    return doc.toString(STRINGIFY);
  }
  throw new YamlEditError(file, `expected a list at ${path.join('.') || 'the top level'}`);
}

/**
 * Removes the items of the sequence at `path` for which `match` is true (given each item as plain JS).
 * A block sequence left empty becomes `[]`, as the CLI writes empty lists. Returns the text unchanged when
 * nothing matches.
 */
export function removeFromSequence(
  text: string,
  file: string,
  path: Path,
  match: (item: unknown, index: number) => boolean,
): string {
  const doc = parseYamlDocument(text, file);
  const node = nodeAt(doc, path);
  if (!isSeq(node)) return text;
  const seq = node as YAMLSeq;
  const doomed = seq.items.map((it, i) => match((it as Node & { toJSON(): unknown }).toJSON?.() ?? it, i));
  if (!doomed.some(Boolean)) return text;
  if (seq.flow) {
    seq.items = seq.items.filter((_, i) => !doomed[i]);
    return doc.toString(STRINGIFY);
  }
  const spans = seq.items.map((it) => itemSpan(text, it as Node));
  if (doomed.every(Boolean)) {
    const lastEnd = spans[spans.length - 1]!.end;
    // Keep the newline that ended the last item's line.
    const end = text[lastEnd - 1] === '\n' ? lastEnd - 1 : lastEnd;
    if (path.length === 0) return text.slice(0, spans[0]!.start) + '[]' + text.slice(end);
    const { colonEnd } = keyColumn(text, doc, path);
    return text.slice(0, colonEnd) + ' []' + text.slice(end);
  }
  let out = text;
  for (let i = spans.length - 1; i >= 0; i--) {
    if (doomed[i]) out = out.slice(0, spans[i]!.start) + out.slice(spans[i]!.end);
  }
  return out;
}

/** Plain JS value at `path` of a YAML text. */
export function valueAt(text: string, file: string, path: Path): unknown {
  const doc = parseYamlDocument(text, file);
  const node = nodeAt(doc, path);
  if (node === undefined || node === null) return node;
  return (node as Node & { toJSON(): unknown }).toJSON();
}

/**
 * Removes the key at `path` (its whole line, and the lines of a block value) when its value is an empty
 * list: the form a list the installer added and emptied again takes. Any other value stays.
 */
export function removeEmptyListKey(text: string, file: string, path: Path): string {
  const doc = parseYamlDocument(text, file);
  const node = nodeAt(doc, path);
  if (!isSeq(node) || (node as YAMLSeq).items.length > 0) return text;
  const parent = nodeAt(doc, path.slice(0, -1));
  if (!isMap(parent) || (parent as YAMLMap).flow) return text;
  const key = path[path.length - 1];
  const pair = (parent as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === key);
  const keyNode = pair?.key as Node | undefined;
  if (!keyNode?.range || !(node as Node).range) return text;
  const start = lineStart(text, keyNode.range[0]);
  const end = endOfContentLine(text, (node as Node).range![1]);
  return text.slice(0, start) + text.slice(end);
}
