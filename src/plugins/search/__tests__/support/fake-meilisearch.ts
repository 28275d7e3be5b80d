/**
 * An in-process stand-in for the Meilisearch HTTP API (the server cannot run here), as strict as the documented
 * API for the calls the engine makes: Bearer auth (master key, or a tenant token signed with a search key whose
 * rules are enforced), index creation and lookup, settings (only known keys, lists of strings), document
 * additions (primary key present and a valid id) and deletions as asynchronous tasks with Meilisearch's task
 * objects, `GET /tasks/:uid`, and search with unknown parameters rejected, filters parsed (and rejected on
 * attributes that are not filterable), sort only on sortable attributes, facets, typo tolerance (one typo from
 * 5 letters, two from 9), prefix on the last word, accent folding and highlighting. Error bodies are
 * `{message, code, type, link}` with Meilisearch's codes.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Doc = Record<string, unknown>;
interface Index {
  uid: string;
  primaryKey: string | null;
  docs: Map<string, Doc>;
  settings: { searchableAttributes: string[]; filterableAttributes: string[]; sortableAttributes: string[]; displayedAttributes: string[] };
  createdAt: string;
}
interface Task {
  uid: number;
  indexUid: string | null;
  status: 'enqueued' | 'processing' | 'succeeded' | 'failed';
  type: string;
  details: Record<string, unknown>;
  error: { message: string; code: string; type: string; link: string } | null;
  duration: string | null;
  enqueuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

class MeiliError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly type = 'invalid_request') {
    super(message);
  }
}

const SEARCH_PARAMS = new Set([
  'q', 'offset', 'limit', 'hitsPerPage', 'page', 'filter', 'facets', 'attributesToRetrieve', 'attributesToCrop', 'cropLength', 'cropMarker',
  'attributesToHighlight', 'highlightPreTag', 'highlightPostTag', 'showMatchesPosition', 'sort', 'matchingStrategy', 'showRankingScore',
  'showRankingScoreDetails', 'attributesToSearchOn', 'rankingScoreThreshold', 'locales', 'distinct', 'hybrid', 'vector', 'retrieveVectors',
]);
const SETTINGS = new Set(['searchableAttributes', 'filterableAttributes', 'sortableAttributes', 'displayedAttributes', 'rankingRules', 'stopWords', 'synonyms', 'distinctAttribute', 'typoTolerance', 'faceting', 'pagination']);
const DOC_ID = /^[a-zA-Z0-9_-]{1,511}$/;

export const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
const words = (s: string) => fold(s).match(/[\p{L}\p{N}]+/gu) ?? [];

/** Optimal string alignment distance (a transposition is one typo, as in Meilisearch). */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

const allowedTypos = (w: string) => (w.length >= 9 ? 2 : w.length >= 5 ? 1 : 0);
function wordMatches(queryWord: string, docWord: string, prefix: boolean): boolean {
  if (docWord === queryWord || (prefix && docWord.startsWith(queryWord))) return true;
  const typos = allowedTypos(queryWord);
  if (!typos) return false;
  if (distance(queryWord, docWord, typos) <= typos) return true;
  return prefix && docWord.length > queryWord.length && distance(queryWord, docWord.slice(0, queryWord.length), typos) <= typos;
}

/* ------------------------------------------------------------------ filter expressions */

type Node =
  | { and: Node[] }
  | { or: Node[] }
  | { not: Node }
  | { attr: string; op: '=' | '!=' | '>' | '>=' | '<' | '<='; value: string }
  | { attr: string; op: 'IN' | 'NOT IN'; values: string[] }
  | { attr: string; op: 'IS NULL' | 'IS NOT NULL' | 'EXISTS' | 'NOT EXISTS' };

function tokenize(filter: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i]!;
    if (/\s/.test(c)) i++;
    else if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < filter.length && filter[j] !== c) {
        if (filter[j] === '\\' && j + 1 < filter.length) j++;
        s += filter[j];
        j++;
      }
      if (j >= filter.length) throw new MeiliError(400, 'invalid_search_filter', `Unterminated string in filter: ${filter.slice(i, i + 40)}`);
      out.push(`"${s}`);
      i = j + 1;
    } else if ('()[],'.includes(c)) {
      out.push(c);
      i++;
    } else if ('=!<>'.includes(c)) {
      const two = filter.slice(i, i + 2);
      const op = ['!=', '>=', '<='].includes(two) ? two : c;
      if (op === '!') throw new MeiliError(400, 'invalid_search_filter', 'Unexpected `!` in filter');
      out.push(op);
      i += op.length;
    } else {
      let j = i;
      while (j < filter.length && !/[\s()[\],=!<>"']/.test(filter[j]!)) j++;
      out.push(filter.slice(i, j));
      i = j;
    }
  }
  return out;
}

export function parseFilter(filter: string, filterable: ReadonlySet<string>): Node {
  const t = tokenize(filter);
  let p = 0;
  const peek = () => t[p];
  const kw = (w: string) => peek()?.toUpperCase() === w && !peek()!.startsWith('"');
  const fail = (why: string): never => {
    throw new MeiliError(400, 'invalid_search_filter', `${why} at token ${p} in \`${filter.slice(0, 200)}\``);
  };
  const value = (): string => {
    const v = t[p++];
    if (v === undefined || ['(', ')', '[', ']', ','].includes(v)) fail('Expected a value');
    return v!.startsWith('"') ? v!.slice(1) : v!;
  };
  const cond = (): Node => {
    const attr = t[p++];
    if (!attr || attr.startsWith('"') || ['(', ')', '[', ']', ','].includes(attr)) fail('Expected an attribute');
    if (!filterable.has(attr!)) {
      throw new MeiliError(400, 'invalid_search_filter', `Attribute \`${attr}\` is not filterable. Available filterable attributes are: \`${[...filterable].join(', ')}\`.`);
    }
    const op = peek();
    if (op && ['=', '!=', '>', '>=', '<', '<='].includes(op)) {
      p++;
      return { attr: attr!, op: op as '=', value: value() };
    }
    if (kw('IN') || (kw('NOT') && t[p + 1]?.toUpperCase() === 'IN')) {
      const negated = kw('NOT');
      p += negated ? 2 : 1;
      if (t[p++] !== '[') fail('Expected [');
      const values: string[] = [];
      while (peek() !== ']') {
        values.push(value());
        if (peek() === ',') p++;
        else if (peek() !== ']') fail('Expected , or ]');
      }
      p++;
      return { attr: attr!, op: negated ? 'NOT IN' : 'IN', values };
    }
    if (kw('IS')) {
      p++;
      const negated = kw('NOT');
      if (negated) p++;
      if (!kw('NULL')) fail('Expected NULL');
      p++;
      return { attr: attr!, op: negated ? 'IS NOT NULL' : 'IS NULL' };
    }
    if (kw('EXISTS')) {
      p++;
      return { attr: attr!, op: 'EXISTS' };
    }
    if (kw('NOT') && t[p + 1]?.toUpperCase() === 'EXISTS') {
      p += 2;
      return { attr: attr!, op: 'NOT EXISTS' };
    }
    return fail('Expected an operator');
  };
  const primary = (): Node => {
    if (kw('NOT')) {
      p++;
      return { not: primary() };
    }
    if (peek() === '(') {
      p++;
      const e = or();
      if (t[p++] !== ')') fail('Expected )');
      return e;
    }
    return cond();
  };
  const and = (): Node => {
    const items = [primary()];
    while (kw('AND')) {
      p++;
      items.push(primary());
    }
    return items.length === 1 ? items[0]! : { and: items };
  };
  const or = (): Node => {
    const items = [and()];
    while (kw('OR')) {
      p++;
      items.push(and());
    }
    return items.length === 1 ? items[0]! : { or: items };
  };
  const e = or();
  if (p !== t.length) fail('Unexpected token');
  return e;
}

function evaluate(n: Node, doc: Doc): boolean {
  if ('and' in n) return n.and.every((x) => evaluate(x, doc));
  if ('or' in n) return n.or.some((x) => evaluate(x, doc));
  if ('not' in n) return !evaluate(n.not, doc);
  const v = doc[n.attr];
  const values = Array.isArray(v) ? v : [v];
  const eq = (x: unknown, lit: string) => x !== null && x !== undefined && (String(x) === lit || (typeof x === 'boolean' && String(x) === lit.toLowerCase()));
  switch (n.op) {
    case '=':
      return values.some((x) => eq(x, n.value));
    case '!=':
      return !values.some((x) => eq(x, n.value));
    case 'IN':
      return values.some((x) => n.values.some((lit) => eq(x, lit)));
    case 'NOT IN':
      return !values.some((x) => n.values.some((lit) => eq(x, lit)));
    case 'IS NULL':
      return v === null;
    case 'IS NOT NULL':
      return v !== null && v !== undefined;
    case 'EXISTS':
      return n.attr in doc;
    case 'NOT EXISTS':
      return !(n.attr in doc);
    default: {
      const num = Number(n.value);
      return values.some((x) => typeof x === 'number' && Number.isFinite(num) && ({ '>': x > num, '>=': x >= num, '<': x < num, '<=': x <= num } as Record<string, boolean>)[n.op]!);
    }
  }
}

/* ------------------------------------------------------------------ the server */

export class FakeMeilisearch {
  private server: Server | undefined;
  readonly indexes = new Map<string, Index>();
  readonly tasks: Task[] = [];
  /** Requests as received (method, path, body), for tests that check what was sent. */
  readonly requests: Array<{ method: string; path: string; body: unknown }> = [];
  /** Search keys that may sign tenant tokens: uid → key. */
  readonly searchKeys = new Map<string, string>();

  private port = 0;

  constructor(private readonly masterKey: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens; after a `stop`, on the same port again with the same data, as a restarted Meilisearch would. */
  async start(): Promise<this> {
    if (this.server?.listening) return this;
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    let body: unknown;
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text) {
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) throw new MeiliError(415, 'invalid_content_type', 'The Content-Type header is missing or not application/json');
        try {
          body = JSON.parse(text);
        } catch {
          throw new MeiliError(400, 'malformed_payload', 'The json payload provided is malformed.');
        }
      }
      this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, body });
      const rules = this.authorise(req, url.pathname);
      const out = this.route(req.method ?? 'GET', url, body, rules);
      this.send(res, out.status, out.body);
    } catch (e) {
      if (e instanceof MeiliError) this.send(res, e.status, { message: e.message, code: e.code, type: e.type, link: `https://docs.meilisearch.com/errors#${e.code}` });
      else this.send(res, 500, { message: String(e), code: 'internal', type: 'internal', link: '' });
    }
  }

  /** The master key can do anything; a tenant token only searches, under its rules. */
  private authorise(req: IncomingMessage, path: string): Record<string, { filter?: string } | null> | null {
    const auth = req.headers.authorization;
    if (!auth) throw new MeiliError(401, 'missing_authorization_header', 'The Authorization header is missing. It must use the bearer authorization method.', 'auth');
    const token = auth.replace(/^Bearer\s+/, '');
    if (token === this.masterKey) return null;
    const parts = token.split('.');
    if (parts.length === 3) {
      const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { apiKeyUid?: string; searchRules?: Record<string, { filter?: string } | null>; exp?: number };
      const key = payload.apiKeyUid ? this.searchKeys.get(payload.apiKeyUid) : undefined;
      const sig = key ? createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest('base64url') : '';
      if (key && sig === parts[2] && (!payload.exp || payload.exp * 1000 > Date.now())) {
        if (!/^\/indexes\/[^/]+\/search$/.test(path)) throw new MeiliError(403, 'invalid_api_key', 'The provided API key is invalid.', 'auth');
        return payload.searchRules ?? {};
      }
    }
    throw new MeiliError(403, 'invalid_api_key', 'The provided API key is invalid.', 'auth');
  }

  private enqueue(indexUid: string | null, type: string, details: Record<string, unknown>, work: () => void): { status: number; body: unknown } {
    const now = new Date().toISOString();
    const task: Task = { uid: this.tasks.length, indexUid, status: 'enqueued', type, details, error: null, duration: null, enqueuedAt: now, startedAt: null, finishedAt: null };
    this.tasks.push(task);
    // Processed at once but reported enqueued in the answer, as Meilisearch does.
    task.startedAt = now;
    try {
      work();
      task.status = 'succeeded';
    } catch (e) {
      const err = e instanceof MeiliError ? e : new MeiliError(500, 'internal', String(e));
      task.status = 'failed';
      task.error = { message: err.message, code: err.code, type: err.type, link: `https://docs.meilisearch.com/errors#${err.code}` };
    }
    task.finishedAt = new Date().toISOString();
    task.duration = 'PT0.001S';
    return { status: 202, body: { taskUid: task.uid, indexUid, status: 'enqueued', type, enqueuedAt: now } };
  }

  private index(uid: string): Index {
    const i = this.indexes.get(uid);
    if (!i) throw new MeiliError(404, 'index_not_found', `Index \`${uid}\` not found.`);
    return i;
  }

  private newIndex(uid: string, primaryKey: string | null): Index {
    const i: Index = { uid, primaryKey, docs: new Map(), settings: { searchableAttributes: ['*'], filterableAttributes: [], sortableAttributes: [], displayedAttributes: ['*'] }, createdAt: new Date().toISOString() };
    this.indexes.set(uid, i);
    return i;
  }

  private route(method: string, url: URL, body: unknown, rules: Record<string, { filter?: string } | null> | null): { status: number; body: unknown } {
    const path = url.pathname;
    let m: RegExpExecArray | null;
    if (method === 'GET' && (m = /^\/tasks\/(\d+)$/.exec(path))) {
      const t = this.tasks[Number(m[1])];
      if (!t) throw new MeiliError(404, 'task_not_found', `Task \`${m[1]}\` not found.`);
      return { status: 200, body: t };
    }
    if (method === 'POST' && path === '/indexes') {
      const b = body as { uid?: unknown; primaryKey?: unknown };
      if (!b || typeof b !== 'object') throw new MeiliError(400, 'bad_request', 'Missing body');
      for (const k of Object.keys(b)) if (k !== 'uid' && k !== 'primaryKey') throw new MeiliError(400, 'bad_request', `Unknown field \`${k}\``);
      if (typeof b.uid !== 'string' || !/^[a-zA-Z0-9_-]{1,400}$/.test(b.uid)) throw new MeiliError(400, 'invalid_index_uid', `\`${String(b.uid)}\` is not a valid index uid.`);
      const uid = b.uid;
      return this.enqueue(uid, 'indexCreation', { primaryKey: b.primaryKey ?? null }, () => {
        if (this.indexes.has(uid)) throw new MeiliError(409, 'index_already_exists', `Index \`${uid}\` already exists.`);
        this.newIndex(uid, typeof b.primaryKey === 'string' ? b.primaryKey : null);
      });
    }
    if ((m = /^\/indexes\/([^/]+)$/.exec(path)) && method === 'GET') {
      const i = this.index(m[1]!);
      return { status: 200, body: { uid: i.uid, primaryKey: i.primaryKey, createdAt: i.createdAt, updatedAt: i.createdAt } };
    }
    if ((m = /^\/indexes\/([^/]+)\/settings$/.exec(path)) && method === 'PATCH') {
      const uid = m[1]!;
      const b = body as Record<string, unknown>;
      if (!b || typeof b !== 'object' || Array.isArray(b)) throw new MeiliError(400, 'bad_request', 'Settings must be an object');
      for (const [k, v] of Object.entries(b)) {
        if (!SETTINGS.has(k)) throw new MeiliError(400, 'bad_request', `Unknown field \`${k}\`: expected one of ${[...SETTINGS].join(', ')}`);
        if (k.endsWith('Attributes') && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) throw new MeiliError(400, `invalid_settings_${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`, `\`${k}\` must be an array of strings`);
      }
      return this.enqueue(uid, 'settingsUpdate', b, () => {
        const i = this.indexes.get(uid) ?? this.newIndex(uid, null);
        Object.assign(i.settings, b);
      });
    }
    if ((m = /^\/indexes\/([^/]+)\/documents$/.exec(path)) && (method === 'POST' || method === 'PUT')) {
      const uid = m[1]!;
      if (!Array.isArray(body) || !body.every((d) => d && typeof d === 'object' && !Array.isArray(d))) throw new MeiliError(400, 'malformed_payload', 'The documents must be an array of objects');
      const pk = url.searchParams.get('primaryKey');
      return this.enqueue(uid, 'documentAdditionOrUpdate', { receivedDocuments: body.length }, () => {
        const i = this.indexes.get(uid) ?? this.newIndex(uid, pk);
        if (pk && i.primaryKey && pk !== i.primaryKey) throw new MeiliError(400, 'index_primary_key_already_exists', 'The primary key is already set');
        i.primaryKey ??= pk;
        if (!i.primaryKey) throw new MeiliError(400, 'index_primary_key_no_candidate_found', 'The primary key inference failed');
        for (const d of body as Doc[]) {
          const id = d[i.primaryKey];
          if (id === undefined || id === null) throw new MeiliError(400, 'missing_document_id', `Document doesn't have a \`${i.primaryKey}\` attribute`);
          if (!(typeof id === 'number' && Number.isInteger(id)) && !(typeof id === 'string' && DOC_ID.test(id))) throw new MeiliError(400, 'invalid_document_id', `Document identifier \`${String(id)}\` is invalid.`);
        }
        for (const d of body as Doc[]) i.docs.set(String(d[i.primaryKey]), structuredClone(d));
      });
    }
    if ((m = /^\/indexes\/([^/]+)\/documents\/delete-batch$/.exec(path)) && method === 'POST') {
      const uid = m[1]!;
      if (!Array.isArray(body) || !body.every((x) => typeof x === 'string' || typeof x === 'number')) throw new MeiliError(400, 'bad_request', 'Expected an array of document ids');
      return this.enqueue(uid, 'documentDeletion', { providedIds: body.length }, () => {
        const i = this.index(uid);
        for (const id of body) i.docs.delete(String(id));
      });
    }
    if ((m = /^\/indexes\/([^/]+)\/search$/.exec(path)) && method === 'POST') return { status: 200, body: this.search(this.index(m[1]!), body, rules) };
    throw new MeiliError(404, 'not_found', `Route ${method} ${path} does not exist`);
  }

  private search(i: Index, body: unknown, rules: Record<string, { filter?: string } | null> | null) {
    const b = (body ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!SEARCH_PARAMS.has(k)) throw new MeiliError(400, 'bad_request', `Unknown field \`${k}\`: expected one of ${[...SEARCH_PARAMS].join(', ')}`);
    const filterable = new Set(i.settings.filterableAttributes);
    const filters: string[] = [];
    if (rules) {
      if (!(i.uid in rules) && !('*' in rules)) throw new MeiliError(403, 'invalid_api_key', 'The provided API key is invalid.', 'auth');
      const r = rules[i.uid] ?? rules['*'];
      if (r?.filter) filters.push(r.filter);
    }
    if (b.filter !== undefined && b.filter !== null) {
      if (typeof b.filter !== 'string') throw new MeiliError(400, 'invalid_search_filter', 'filter must be a string');
      filters.push(b.filter);
    }
    const nodes = filters.map((f) => parseFilter(f, filterable));
    const limit = b.limit === undefined ? 20 : Number(b.limit);
    const offset = b.offset === undefined ? 0 : Number(b.offset);
    if (!Number.isInteger(limit) || limit < 0) throw new MeiliError(400, 'invalid_search_limit', 'limit must be a positive integer');
    if (!Number.isInteger(offset) || offset < 0) throw new MeiliError(400, 'invalid_search_offset', 'offset must be a positive integer');
    const sortable = new Set(i.settings.sortableAttributes);
    const sorts = ((b.sort as string[] | undefined) ?? []).map((s) => {
      const [attr, dir] = s.split(':');
      if (!attr || (dir !== 'asc' && dir !== 'desc')) throw new MeiliError(400, 'invalid_search_sort', `Invalid syntax for the sort parameter: \`${s}\``);
      if (!sortable.has(attr)) throw new MeiliError(400, 'invalid_search_sort', `Attribute \`${attr}\` is not sortable.`);
      return { attr, desc: dir === 'desc' };
    });
    const facets = (b.facets as string[] | undefined) ?? [];
    for (const f of facets) if (!filterable.has(f)) throw new MeiliError(400, 'invalid_search_facets', `Attribute \`${f}\` is not filterable.`);
    const attrs = i.settings.searchableAttributes[0] === '*' ? null : i.settings.searchableAttributes;
    const qWords = words(typeof b.q === 'string' ? b.q : '').slice(0, 10);
    const endsWithWord = typeof b.q === 'string' && /[\p{L}\p{N}]$/u.test(b.q);
    const scored: Array<{ doc: Doc; score: number }> = [];
    for (const doc of i.docs.values()) {
      if (!nodes.every((n) => evaluate(n, doc))) continue;
      if (!qWords.length) {
        scored.push({ doc, score: 1 });
        continue;
      }
      const fields = (attrs ?? Object.keys(doc)).map((a) => (doc[a] === null || doc[a] === undefined ? [] : words(String(doc[a]))));
      let matched = 0;
      let typos = 0;
      let attrRank = 0;
      for (const [qi, w] of qWords.entries()) {
        const prefix = qi === qWords.length - 1 && endsWithWord;
        const at = fields.findIndex((ws) => ws.some((dw) => dw === w || (prefix && dw.startsWith(w))));
        const typoAt = at >= 0 ? at : fields.findIndex((ws) => ws.some((dw) => wordMatches(w, dw, prefix)));
        if (typoAt >= 0) {
          matched++;
          if (at < 0) typos++;
          attrRank += typoAt;
        }
      }
      // matchingStrategy "all" and "last" (the default) both need every word here: the queries are short.
      if (matched < qWords.length) continue;
      scored.push({ doc, score: 1 / (1 + typos + attrRank / 10) });
    }
    scored.sort((a, c) => {
      for (const s of sorts) {
        const x = a.doc[s.attr] as string | number;
        const y = c.doc[s.attr] as string | number;
        if (x !== y) return (x < y ? -1 : 1) * (s.desc ? -1 : 1);
      }
      return c.score - a.score;
    });
    const pre = typeof b.highlightPreTag === 'string' ? b.highlightPreTag : '<em>';
    const post = typeof b.highlightPostTag === 'string' ? b.highlightPostTag : '</em>';
    const toHighlight = (b.attributesToHighlight as string[] | undefined) ?? [];
    const hits = scored.slice(offset, offset + limit).map(({ doc, score }) => {
      const hit: Doc = structuredClone(doc);
      if (toHighlight.length) {
        const formatted: Doc = structuredClone(doc);
        for (const a of toHighlight) {
          if (typeof doc[a] !== 'string') continue;
          formatted[a] = (doc[a] as string).replace(/[\p{L}\p{N}]+/gu, (w) => (qWords.some((q, qi) => wordMatches(q, fold(w), qi === qWords.length - 1 && endsWithWord)) ? `${pre}${w}${post}` : w));
        }
        hit._formatted = formatted;
      }
      if (b.showRankingScore) hit._rankingScore = score;
      return hit;
    });
    const facetDistribution: Record<string, Record<string, number>> = {};
    for (const f of facets) {
      const counts: Record<string, number> = {};
      for (const { doc } of scored) {
        const v = doc[f];
        for (const x of Array.isArray(v) ? v : [v]) if (x !== null && x !== undefined) counts[String(x)] = (counts[String(x)] ?? 0) + 1;
      }
      facetDistribution[f] = counts;
    }
    return { hits, query: b.q ?? '', processingTimeMs: 0, limit, offset, estimatedTotalHits: scored.length, ...(facets.length ? { facetDistribution } : {}) };
  }
}
