/**
 * `--format` for `inspect`: the part of Go's text/template that scripts use on docker's output — `{{.Field.Sub}}`,
 * `{{json .Field}}`, `{{range .List}}…{{end}}`, `{{index .Map "key"}}`, `join`, `upper`, `lower`, and `{{-`/`-}}`
 * trimming. Anything else is refused with what is understood, rather than printed wrong.
 *
 * Values print as Go prints a decoded JSON document (docker falls back to one when a template does not fit its
 * types): strings as they are, objects as `map[key:value]` with sorted keys, lists as `[a b]`, a missing field as
 * `<no value>`. Docker prints its own structs as `{a b}`, so a template printing a whole object may differ; printing
 * fields, or `json`, does not.
 */

import { invalidArgument } from '../../errors.ts';

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'value'; call: Call }
  | { kind: 'range'; call: Call; body: Node[] };

/** A function applied to arguments, or (name undefined) one argument printed as it is. */
interface Call {
  name?: 'json' | 'join' | 'index' | 'upper' | 'lower';
  args: Arg[];
}

type Arg = { kind: 'path'; path: string[] } | { kind: 'string'; value: string };

const FUNCTIONS = ['json', 'join', 'index', 'upper', 'lower'] as const;

export type Template = Node[];

function unsupported(format: string, why: string): Error {
  return invalidArgument(
    `unsupported --format "${format}": ${why}. Use {{.Field}}, {{json .Field}}, {{range .List}}...{{end}}, {{index .Map "key"}}, join, upper or lower, or leave --format out for JSON`,
  );
}

/** Splits `json .IPAM "a b"` into words, keeping quoted strings whole. */
function words(action: string, format: string): string[] {
  const found = action.match(/"(?:[^"\\]|\\.)*"|[^\s"]+/g) ?? [];
  if (found.join('').length !== action.replace(/\s+/g, '').length) throw unsupported(format, `cannot read "${action}"`);
  return found;
}

function arg(word: string, format: string): Arg {
  if (word.startsWith('"')) return { kind: 'string', value: JSON.parse(word) as string };
  if (word === '.') return { kind: 'path', path: [] };
  if (/^(?:\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(word)) return { kind: 'path', path: word.slice(1).split('.') };
  throw unsupported(format, `"${word}" is not a field such as .Name`);
}

function call(action: string, format: string): Call {
  if (action.includes('|')) throw unsupported(format, 'pipes are not supported');
  const [first, ...rest] = words(action, format);
  if (first === undefined) throw unsupported(format, 'an action is empty');
  if ((FUNCTIONS as readonly string[]).includes(first)) return { name: first as Call['name'], args: rest.map((word) => arg(word, format)) };
  if (rest.length > 0) throw unsupported(format, `"${first}" is not a function swarmlet knows`);
  return { args: [arg(first, format)] };
}

/** Parses a template; throws for what is not understood. */
export function parseTemplate(format: string): Template {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  const tokens = format.split(/(\{\{-?\s*[\s\S]*?\s*-?\}\})/);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const action = /^\{\{(-?)\s*([\s\S]*?)\s*(-?)\}\}$/.exec(token);
    const current = stack[stack.length - 1]!;
    if (!action) {
      if (token !== '') current.push({ kind: 'text', text: token });
      continue;
    }
    // `{{-` trims the spaces before the action, `-}}` those after it.
    if (action[1]) trimEnd(current);
    if (action[3] && i + 1 < tokens.length) tokens[i + 1] = tokens[i + 1]!.replace(/^\s+/, '');
    const body = action[2]!;
    if (body === 'end') {
      if (stack.length === 1) throw unsupported(format, '{{end}} has no {{range}}');
      stack.pop();
    } else if (body.startsWith('range ')) {
      const node: Node = { kind: 'range', call: call(body.slice(6), format), body: [] };
      current.push(node);
      stack.push(node.body);
    } else {
      current.push({ kind: 'value', call: call(body, format) });
    }
  }
  if (stack.length > 1) throw unsupported(format, '{{range}} has no {{end}}');
  return root;
}

function trimEnd(nodes: Node[]): void {
  const last = nodes[nodes.length - 1];
  if (last?.kind === 'text') last.text = last.text.replace(/\s+$/, '');
}

const MISSING = Symbol('missing');

function resolve(value: unknown, path: readonly string[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !(key in current)) return MISSING;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** A value as Go's fmt prints a decoded JSON value. */
export function goString(value: unknown): string {
  if (value === MISSING) return '<no value>';
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goString).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([key, item]) => `${key}:${goString(item)}`).join(' ')}]`;
  }
  return String(value);
}

function evaluate(node: Call, dot: unknown, format: string): unknown {
  const values = node.args.map((each) => (each.kind === 'string' ? each.value : resolve(dot, each.path)));
  const [first, second] = values;
  switch (node.name) {
    case undefined:
      return first;
    case 'json':
      return JSON.stringify(first === MISSING ? null : first);
    case 'upper':
      return goString(first).toUpperCase();
    case 'lower':
      return goString(first).toLowerCase();
    case 'join':
      if (!Array.isArray(first)) throw unsupported(format, 'join takes a list and a separator');
      return first.map(goString).join(typeof second === 'string' ? second : '');
    case 'index':
      if (first === null || typeof first !== 'object') return MISSING;
      return values.slice(1).reduce((inner, key) => (inner !== null && typeof inner === 'object' ? (inner as Record<string, unknown>)[String(key)] ?? MISSING : MISSING), first);
  }
}

/** Renders a parsed template against one object. */
export function renderTemplate(template: Template, dot: unknown, format = ''): string {
  let out = '';
  for (const node of template) {
    if (node.kind === 'text') out += node.text;
    else if (node.kind === 'value') out += goString(evaluate(node.call, dot, format));
    else {
      const list = evaluate(node.call, dot, format);
      // Go ranges over a map's values in the order of its sorted keys.
      const items = Array.isArray(list)
        ? list
        : list && typeof list === 'object'
          ? Object.keys(list).sort().map((key) => (list as Record<string, unknown>)[key])
          : [];
      for (const item of items) out += renderTemplate(node.body, item, format);
    }
  }
  return out;
}
