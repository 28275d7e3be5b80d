/**
 * Action SDL: the GraphQL text of `actions.graphql` ↔ Hasura's JSON form (action arguments/output types and
 * `custom_types`). Hasura's CLI splits every action between actions.yaml (handler, permissions, …) and
 * actions.graphql (arguments, output type, type definitions); the Metadata API wants them joined.
 */
import {
  GraphQLError,
  Kind,
  parse,
  print,
  type DefinitionNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type InputValueDefinitionNode,
  type StringValueNode,
  type TypeNode,
} from 'graphql';
import type {
  ActionArgument,
  AnyCustomType,
  CustomField,
  CustomTypeKind,
  CustomTypes,
} from './types.js';

export class SdlError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'SdlError';
  }
}

export const ROOT_TYPES = new Set(['Query', 'Mutation']);

/** An action field found in SDL: its root type, arguments and output type in JSON form. */
export interface SdlAction {
  name: string;
  type: 'query' | 'mutation';
  arguments: ActionArgument[];
  output_type: string;
  description?: string;
}

export interface ParsedSdl {
  actions: SdlAction[];
  customTypes: Required<CustomTypes>;
  /** Type names in the order they are defined. */
  typeOrder: string[];
}

function describe(node: { description?: StringValueNode | undefined }): { description?: string } {
  return node.description ? { description: node.description.value } : {};
}

export function printTypeNode(t: TypeNode): string {
  return print(t);
}

function fieldJson(f: FieldDefinitionNode | InputValueDefinitionNode, file: string, owner: string): CustomField {
  if ('arguments' in f && f.arguments?.length) {
    throw new SdlError(file, `field ${owner}.${f.name.value} has arguments; Hasura custom type fields cannot`);
  }
  if ('defaultValue' in f && f.defaultValue) {
    throw new SdlError(file, `${owner}.${f.name.value} has a default value; Hasura action types do not support defaults`);
  }
  if (f.directives?.length) throw new SdlError(file, `${owner}.${f.name.value}: directives are not supported in action SDL`);
  return { name: f.name.value, type: printTypeNode(f.type), ...describe(f) };
}

export function parseSdlDocument(text: string, file: string): DocumentNode {
  try {
    return parse(text);
  } catch (e) {
    const g = e as GraphQLError;
    const loc = g.locations?.[0];
    throw new SdlError(file, `GraphQL syntax error${loc ? ` at line ${loc.line}, column ${loc.column}` : ''}: ${g.message.replace(/^Syntax Error: /, '')}`);
  }
}

/**
 * Splits SDL into actions (fields of `type|extend type Query|Mutation`) and custom types, in JSON form.
 * Rejects what Hasura cannot hold (interfaces, unions, directives, defaults, schema definitions).
 */
export function sdlToJson(doc: DocumentNode, file: string): ParsedSdl {
  const out: ParsedSdl = {
    actions: [],
    customTypes: { scalars: [], enums: [], input_objects: [], objects: [] },
    typeOrder: [],
  };
  const seenTypes = new Map<string, string>();
  const addType = (kind: CustomTypeKind, t: AnyCustomType) => {
    if (seenTypes.has(t.name)) throw new SdlError(file, `type ${t.name} is defined twice`);
    seenTypes.set(t.name, kind);
    (out.customTypes[kind] as AnyCustomType[]).push(t);
    out.typeOrder.push(t.name);
  };
  const seenActions = new Set<string>();
  for (const def of doc.definitions) {
    switch (def.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION: {
        const name = def.name.value;
        if (ROOT_TYPES.has(name)) {
          if (def.interfaces?.length) throw new SdlError(file, `${name} must not implement interfaces`);
          for (const f of def.fields ?? []) {
            if (seenActions.has(f.name.value)) throw new SdlError(file, `action ${f.name.value} is defined twice`);
            seenActions.add(f.name.value);
            if (f.directives?.length) throw new SdlError(file, `action ${f.name.value}: directives are not supported`);
            out.actions.push({
              name: f.name.value,
              type: name === 'Query' ? 'query' : 'mutation',
              arguments: (f.arguments ?? []).map((a) => {
                if (a.defaultValue) throw new SdlError(file, `action ${f.name.value}: argument ${a.name.value} has a default value; Hasura actions do not support defaults`);
                return { name: a.name.value, type: printTypeNode(a.type), ...describe(a) };
              }),
              output_type: printTypeNode(f.type),
              ...describe(f),
            });
          }
          break;
        }
        if (def.kind === Kind.OBJECT_TYPE_EXTENSION) throw new SdlError(file, `extend type ${name}: only Query and Mutation may be extended`);
        if (def.interfaces?.length) throw new SdlError(file, `type ${name} implements interfaces; Hasura custom types cannot`);
        addType('objects', { name, ...describe(def), fields: (def.fields ?? []).map((f) => fieldJson(f, file, name)) });
        break;
      }
      case Kind.INPUT_OBJECT_TYPE_DEFINITION:
        addType('input_objects', {
          name: def.name.value,
          ...describe(def),
          fields: (def.fields ?? []).map((f) => fieldJson(f, file, def.name.value)),
        });
        break;
      case Kind.ENUM_TYPE_DEFINITION:
        addType('enums', {
          name: def.name.value,
          ...describe(def),
          values: (def.values ?? []).map((v) => ({ value: v.name.value, ...describe(v) })),
        });
        break;
      case Kind.SCALAR_TYPE_DEFINITION:
        addType('scalars', { name: def.name.value, ...describe(def) });
        break;
      default:
        throw new SdlError(file, `${kindLabel(def)} is not supported in action SDL (only Query/Mutation fields, type, input, enum, scalar)`);
    }
  }
  return out;
}

function kindLabel(def: DefinitionNode): string {
  const name = 'name' in def && def.name ? ` ${def.name.value}` : '';
  return `${def.kind.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()}${name}`;
}

/* ------------------------------------------------------------------ JSON → SDL (CLI layout) */

function block(description: string | undefined, indent: string): string {
  if (description === undefined) return '';
  const lines = description.split('\n');
  const safe = (s: string) => s.replace(/"""/g, '\\"""');
  if (lines.length === 1 && description.length <= 70) return `${indent}"""${safe(description)}"""\n`;
  return `${indent}"""\n${lines.map((l) => (l ? indent + safe(l) : '')).join('\n')}\n${indent}"""\n`;
}

/** `type Mutation { name(args): Out }` — one block per action, as the Hasura CLI writes actions.graphql. */
export function printActionSdl(action: { name: string; type: 'query' | 'mutation'; arguments: ActionArgument[]; output_type: string; description?: string }): string {
  const root = action.type === 'query' ? 'Query' : 'Mutation';
  const args = action.arguments;
  let field = block(action.description, '  ') + `  ${action.name}`;
  if (args.length) {
    field += '(\n' + args.map((a) => block(a.description, '    ') + `    ${a.name}: ${a.type}`).join('\n') + '\n  )';
  }
  field += `: ${action.output_type}`;
  return `type ${root} {\n${field}\n}`;
}

export function printCustomTypeSdl(kind: CustomTypeKind, t: AnyCustomType): string {
  const head = block(t.description, '');
  switch (kind) {
    case 'scalars':
      return `${head}scalar ${t.name}`;
    case 'enums': {
      const values = (t as { values: Array<{ value: string; description?: string }> }).values;
      return `${head}enum ${t.name} {\n${values.map((v) => block(v.description, '  ') + `  ${v.value}`).join('\n')}\n}`;
    }
    case 'input_objects':
    case 'objects': {
      const fields = (t as { fields: CustomField[] }).fields;
      const word = kind === 'objects' ? 'type' : 'input';
      return `${head}${word} ${t.name} {\n${fields.map((f) => block(f.description, '  ') + `  ${f.name}: ${f.type}`).join('\n')}\n}`;
    }
  }
}

/* ------------------------------------------------------------------ editing actions.graphql text */

/**
 * Appends a definition. The text before it keeps its bytes; definitions are separated by one blank line, and
 * `removeSdlRanges` of what was appended gives the original text back.
 */
export function appendSdl(text: string, definition: string): string {
  const body = text.replace(/\s+$/, '');
  const tail = text.slice(body.length);
  if (body === '') return definition + '\n' + text;
  return body + '\n\n' + definition + tail;
}

function isWs(c: string | undefined): boolean {
  return c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === ',';
}

/** Deletes `[start, end)` together with the whitespace that separated it from what precedes it. */
export function removeSdlRange(text: string, start: number, end: number): string {
  let p = start;
  while (p > 0 && isWs(text[p - 1])) p--;
  if (p > 0) return text.slice(0, p) + text.slice(end);
  let n = end;
  while (n < text.length && isWs(text[n])) n++;
  if (n < text.length) return text.slice(n);
  return text[end] === '\n' ? text.slice(end + 1) : text.slice(end);
}

/** Which definitions of actions.graphql to drop: action fields and type definitions, by name. */
export function removeFromSdl(text: string, file: string, actions: ReadonlySet<string>, types: ReadonlySet<string>): string {
  if (actions.size === 0 && types.size === 0) return text;
  const doc = parseSdlDocument(text, file);
  const ranges: Array<[number, number]> = [];
  for (const def of doc.definitions) {
    if (!('name' in def) || !def.name || !def.loc) continue;
    const name = def.name.value;
    if ((def.kind === Kind.OBJECT_TYPE_DEFINITION || def.kind === Kind.OBJECT_TYPE_EXTENSION) && ROOT_TYPES.has(name)) {
      const fields = def.fields ?? [];
      const doomed = fields.filter((f) => actions.has(f.name.value));
      if (doomed.length === 0) continue;
      if (doomed.length === fields.length) ranges.push([def.loc.start, def.loc.end]);
      else for (const f of doomed) ranges.push([f.loc!.start, f.loc!.end]);
      continue;
    }
    if (types.has(name)) ranges.push([def.loc.start, def.loc.end]);
  }
  let out = text;
  for (const [s, e] of ranges.sort((a, b) => b[0] - a[0])) out = removeSdlRange(out, s, e);
  return out;
}

/** Type names referenced by a GraphQL type string (`[Foo!]!` → `Foo`). */
export function namedType(type: string): string {
  return type.replace(/[[\]!\s]/g, '');
}
