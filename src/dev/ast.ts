/** Selection-set helpers shared by the executor and the SQL compiler: fragments, @skip/@include, aliases. */
import {
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  getDirectiveValues,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

export type Fragments = Record<string, FragmentDefinitionNode>;

function included(node: { directives?: readonly unknown[] }, vars: Record<string, unknown>): boolean {
  const n = node as Parameters<typeof getDirectiveValues>[1];
  if (getDirectiveValues(GraphQLSkipDirective, n, vars)?.if === true) return false;
  if (getDirectiveValues(GraphQLIncludeDirective, n, vars)?.if === false) return false;
  return true;
}

/** Fields by response key, through fragments (type conditions ignored: every type here is an object). */
export function collectFields(set: SelectionSetNode, fragments: Fragments, vars: Record<string, unknown>, out = new Map<string, FieldNode[]>(), seen = new Set<string>()): Map<string, FieldNode[]> {
  for (const sel of set.selections) {
    if (!included(sel, vars)) continue;
    if (sel.kind === Kind.FIELD) {
      const key = sel.alias?.value ?? sel.name.value;
      const list = out.get(key);
      if (list) list.push(sel);
      else out.set(key, [sel]);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      collectFields(sel.selectionSet, fragments, vars, out, seen);
    } else {
      const f = fragments[sel.name.value];
      if (f && !seen.has(f.name.value)) collectFields(f.selectionSet, fragments, vars, out, new Set(seen).add(f.name.value));
    }
  }
  return out;
}

/** The merged sub-selection of several nodes of one response key. */
export function subFields(nodes: readonly FieldNode[], fragments: Fragments, vars: Record<string, unknown>): Map<string, FieldNode[]> {
  const out = new Map<string, FieldNode[]>();
  for (const n of nodes) if (n.selectionSet) collectFields(n.selectionSet, fragments, vars, out);
  return out;
}

export function fragmentsOf(doc: DocumentNode): Fragments {
  return Object.fromEntries(doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
}

/**
 * A document holding only `fields` of `op` (with the fragments and variable definitions they use), so a part
 * of an operation can be handed to another executor and still pass GraphQL validation.
 */
export function subDocument(op: OperationDefinitionNode, fields: readonly FieldNode[], fragments: Fragments): DocumentNode {
  const usedFragments = new Set<string>();
  const usedVars = new Set<string>();
  const walk = (node: FieldNode | FragmentDefinitionNode) =>
    visit(node, {
      FragmentSpread(n) {
        if (usedFragments.has(n.name.value)) return;
        usedFragments.add(n.name.value);
        const f = fragments[n.name.value];
        if (f) walk(f);
      },
      Variable(n) {
        usedVars.add(n.name.value);
      },
    });
  for (const f of fields) walk(f);
  const operation: OperationDefinitionNode = {
    ...op,
    variableDefinitions: (op.variableDefinitions ?? []).filter((v) => usedVars.has(v.variable.name.value)),
    selectionSet: { kind: Kind.SELECTION_SET, selections: fields },
  };
  return { kind: Kind.DOCUMENT, definitions: [operation, ...[...usedFragments].map((n) => fragments[n]!).filter(Boolean)] };
}
