/**
 * Placement constraints in Swarm's syntax: `node.labels.ssd==true`, `node.role!=manager`. Parsed once at the
 * API boundary (bad expressions are refused there) and matched against nodes here.
 */

import type { Node } from '../../api/types.ts';
import { invalidArgument } from '../../errors.ts';

export interface Constraint {
  key: string;
  operator: '==' | '!=';
  value: string;
}

const FIXED_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'];
/** Keys that name a label; placement preferences spread over these too. */
export const LABEL_PREFIXES = ['node.labels.', 'engine.labels.'];

export function parseConstraint(expression: string): Constraint {
  const match = /^\s*([^=!\s]+)\s*(==|!=)\s*(.+?)\s*$/.exec(expression);
  const hint = 'use KEY==VALUE or KEY!=VALUE, e.g. node.labels.ssd==true or node.role!=manager';
  if (!match) throw invalidArgument(`invalid constraint "${expression}": ${hint}`);
  const [, key, operator, value] = match;
  const known = FIXED_KEYS.includes(key!) || LABEL_PREFIXES.some((prefix) => key!.startsWith(prefix) && key!.length > prefix.length);
  if (!known) {
    throw invalidArgument(`invalid constraint "${expression}": unknown key "${key}"; known keys are ${FIXED_KEYS.join(', ')}, node.labels.KEY, engine.labels.KEY`);
  }
  return { key: key!, operator: operator as Constraint['operator'], value: value! };
}

function engineLabel(node: Node, name: string): string | undefined {
  return node.Description.Engine.Labels?.[name];
}

/** The value a constraint or preference key reads from a node; undefined when the node has no such label. */
export function nodeAttribute(node: Node, key: string): string | undefined {
  switch (key) {
    case 'node.id':
      return node.ID;
    case 'node.hostname':
      return node.Description.Hostname;
    case 'node.role':
      return node.Spec.Role;
    case 'node.platform.os':
      return node.Description.Platform.OS;
    case 'node.platform.arch':
      return node.Description.Platform.Architecture;
  }
  if (key.startsWith('node.labels.')) return node.Spec.Labels?.[key.slice('node.labels.'.length)];
  return engineLabel(node, key.slice('engine.labels.'.length));
}

/** Swarm compares case-insensitively, and a missing label never equals anything. */
export function matches(constraint: Constraint, node: Node): boolean {
  const actual = nodeAttribute(node, constraint.key);
  const equal = actual !== undefined && actual.toLowerCase() === constraint.value.toLowerCase();
  return constraint.operator === '==' ? equal : !equal;
}
