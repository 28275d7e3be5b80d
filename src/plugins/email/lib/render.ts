/**
 * Template rendering: Handlebars (HTML-escaped by default; subjects and text parts are not HTML, so they are
 * rendered without escaping), variables checked against the template's JSON Schema with ajv, a shared layout,
 * and a plain-text part derived from the HTML when the template has none.
 *
 * Each renderer owns its own Handlebars environment (no global helpers another module could change) and keeps
 * compiled templates and schemas by template id and version, so a hot template is parsed once.
 */
import Handlebars from 'handlebars';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { convert } from 'html-to-text';
import { isValidAddress } from './address.js';

export interface TemplateRow {
  id: string;
  key: string;
  locale: string;
  subject: string;
  html: string | null;
  text: string | null;
  schema: Record<string, unknown>;
  layout: string | null;
  transactional: boolean;
  category: string | null;
  updated_at: Date | string;
}

export interface LayoutRow {
  key: string;
  locale: string;
  html: string;
  text: string | null;
  updated_at: Date | string;
}

export interface Rendered {
  subject: string;
  html: string | null;
  text: string;
}

export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    message: string,
    readonly kind: 'compile' | 'variables' | 'schema',
    readonly issues: readonly string[] = [],
  ) {
    super(message);
  }
}

/** Values every template and layout can read as `@name` (they never clash with the caller's variables). */
export interface RenderExtras {
  unsubscribeUrl?: string | null;
  locale?: string;
}

type Compiled = (context: unknown, options?: { data?: Record<string, unknown> }) => string;

const BUILTIN_HELPERS = new Set(['if', 'unless', 'each', 'with', 'lookup', 'log']);
const CACHE_MAX = 500;

function formatIssues(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(data)';
    if (e.keyword === 'additionalProperties') return `${where}: unknown variable "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    if (e.keyword === 'required') return `${where}: missing variable "${(e.params as { missingProperty: string }).missingProperty}"`;
    return `${where}: ${e.message ?? e.keyword}`;
  });
}

/** Collapses line breaks: a subject is one header line, whatever the data holds. */
const oneLine = (s: string) => s.replace(/[\r\n\u2028\u2029]+/g, ' ').trim();

export function htmlToText(html: string): string {
  return convert(html, {
    wordwrap: 100,
    selectors: [
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
      { selector: 'img', format: 'skip' },
    ],
  }).trim();
}

export class Renderer {
  readonly #hb = Handlebars.create();
  readonly #ajv: Ajv;
  readonly #compiled = new Map<string, Compiled>();
  readonly #validators = new Map<string, ValidateFunction>();

  constructor() {
    this.#ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    this.#ajv.addFormat('email', { type: 'string', validate: (s: string) => isValidAddress(s) });
    this.#ajv.addFormat('uri', { type: 'string', validate: (s: string) => URL.canParse(s) });
    this.#ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) && /\d{4}-\d\d-\d\dT/.test(s) });
    this.#ajv.addFormat('date', { type: 'string', validate: (s: string) => /^\d{4}-\d\d-\d\d$/.test(s) && !Number.isNaN(Date.parse(s)) });
  }

  /** Throws a `TemplateError` (kind `compile`) naming what is wrong; partials are not supported. */
  checkSource(source: string, what: string): void {
    let ast: hbs.AST.Program;
    try {
      ast = this.#hb.parse(source);
      this.#hb.precompile(source);
    } catch (e) {
      throw new TemplateError(`${what}: ${(e as Error).message.split('\n')[0]}`, 'compile');
    }
    const partial = JSON.stringify(ast).includes('"PartialStatement"') || JSON.stringify(ast).includes('"PartialBlockStatement"');
    if (partial) throw new TemplateError(`${what}: partials ({{> name}}) are not supported; use the layout`, 'compile');
  }

  /** Throws a `TemplateError` (kind `schema`) when `schema` is not a JSON Schema ajv can compile. */
  checkSchema(schema: unknown): void {
    if (!schema || typeof schema !== 'object' || Array.isArray(schema)) throw new TemplateError('schema must be a JSON Schema object', 'schema');
    try {
      this.#ajv.compile(schema as Record<string, unknown>);
    } catch (e) {
      throw new TemplateError(`schema: ${(e as Error).message}`, 'schema');
    }
  }

  /**
   * A schema for a template that declares none: every top-level variable it reads is a property, those read
   * outside `#if`/`#unless`/`#each`/`#with` blocks are required, and nothing else is accepted.
   */
  inferSchema(...sources: Array<string | null | undefined>): Record<string, unknown> {
    const all = new Set<string>();
    const required = new Set<string>();
    const walk = (node: unknown, conditional: boolean, scoped: boolean): void => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, any>;
      switch (n.type) {
        case 'Program':
          for (const s of n.body) walk(s, conditional, scoped);
          return;
        case 'MustacheStatement':
        case 'SubExpression': {
          const helper = n.params.length > 0 || n.hash || BUILTIN_HELPERS.has(n.path.original);
          if (!helper) walk(n.path, conditional, scoped);
          for (const p of n.params) walk(p, conditional, scoped);
          for (const pair of n.hash?.pairs ?? []) walk(pair.value, conditional, scoped);
          return;
        }
        case 'BlockStatement': {
          // A block over a missing value renders its inverse (or nothing): its parameters are optional.
          for (const p of n.params) walk(p, true, scoped);
          const name = n.path.original as string;
          const changesScope = name === 'each' || name === 'with';
          walk(n.program, true, scoped || changesScope);
          walk(n.inverse, true, scoped);
          return;
        }
        case 'PathExpression': {
          if (scoped || n.data || n.depth > 0 || n.this || n.parts.length === 0) return;
          const name = n.parts[0] as string;
          all.add(name);
          if (!conditional) required.add(name);
          return;
        }
        default:
          return;
      }
    };
    for (const src of sources) if (src) walk(this.#hb.parse(src), false, false);
    return {
      type: 'object',
      properties: Object.fromEntries([...all].sort().map((k) => [k, {}])),
      required: [...required].sort(),
      additionalProperties: false,
    };
  }

  #compile(cacheKey: string, source: string, escape: boolean): Compiled {
    const key = `${escape ? 'h' : 't'}:${cacheKey}`;
    let fn = this.#compiled.get(key);
    if (!fn) {
      fn = this.#hb.compile(source, { noEscape: !escape }) as Compiled;
      if (this.#compiled.size >= CACHE_MAX) this.#compiled.delete(this.#compiled.keys().next().value!);
      this.#compiled.set(key, fn);
    }
    return fn;
  }

  #run(cacheKey: string, source: string, escape: boolean, context: unknown, extras: RenderExtras, what: string): string {
    try {
      return this.#compile(cacheKey, source, escape)(context, { data: { ...extras } });
    } catch (e) {
      throw new TemplateError(`${what}: ${(e as Error).message.split('\n')[0]}`, 'compile');
    }
  }

  validate(t: Pick<TemplateRow, 'id' | 'updated_at' | 'schema'>, data: unknown): void {
    const key = `${t.id}@${new Date(t.updated_at).getTime()}`;
    let v = this.#validators.get(key);
    if (!v) {
      try {
        v = this.#ajv.compile(t.schema);
      } catch (e) {
        throw new TemplateError(`the template's schema does not compile: ${(e as Error).message}`, 'schema');
      }
      if (this.#validators.size >= CACHE_MAX) this.#validators.delete(this.#validators.keys().next().value!);
      this.#validators.set(key, v);
    }
    if (!v(data)) throw new TemplateError("data does not match the template's variables", 'variables', formatIssues(v.errors));
  }

  /** Renders a stored template (validated first) inside its layout. */
  render(t: TemplateRow, layout: LayoutRow | null, data: Record<string, unknown>, extras: RenderExtras = {}): Rendered {
    this.validate(t, data);
    const v = `${t.id}@${new Date(t.updated_at).getTime()}`;
    const subject = oneLine(this.#run(`${v}:subject`, t.subject, false, data, extras, 'subject'));
    const bodyHtml = t.html != null ? this.#run(`${v}:html`, t.html, true, data, extras, 'html') : null;
    const bodyText = t.text != null ? this.#run(`${v}:text`, t.text, false, data, extras, 'text') : htmlToText(bodyHtml ?? '');
    if (!layout) return { subject, html: bodyHtml, text: bodyText };
    const l = `layout:${layout.key}:${layout.locale}@${new Date(layout.updated_at).getTime()}`;
    const html = bodyHtml === null ? null : this.#run(`${l}:html`, layout.html, true, { body: bodyHtml, subject, unsubscribeUrl: extras.unsubscribeUrl ?? null }, extras, 'layout html');
    const text = layout.text ? this.#run(`${l}:text`, layout.text, false, { body: bodyText, subject, unsubscribeUrl: extras.unsubscribeUrl ?? null }, extras, 'layout text') : bodyText;
    return { subject, html, text };
  }
}

/** Content given directly (no template): sent as given, with a text part derived from the HTML when missing. */
export function renderDirect(subject: string, html: string | null, text: string | null): Rendered {
  return { subject: oneLine(subject), html, text: text ?? htmlToText(html ?? '') };
}
