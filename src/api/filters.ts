/**
 * Docker's `filters` query parameter: JSON mapping a key to its accepted values. The docker CLI sends the map
 * form (`{"name":{"web":true}}`), other clients the list form (`{"name":["web"]}`); both are accepted. Values of
 * one key are alternatives (OR); different keys must all match (AND).
 */

import { invalidArgument } from '../errors.ts';

export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | null, allowed: readonly string[]): Filters {
  const filters: Filters = new Map();
  if (!raw) return filters;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`invalid filters: not JSON: ${raw}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidArgument('invalid filters: expected a JSON object');
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(key)) throw invalidArgument(`invalid filter '${key}': supported filters are ${allowed.join(', ')}`);
    const values = Array.isArray(value)
      ? value
      : value && typeof value === 'object'
        ? Object.keys(value as object).filter((k) => (value as Record<string, unknown>)[k])
        : undefined;
    if (!values || !values.every((v) => typeof v === 'string')) {
      throw invalidArgument(`invalid filter '${key}': give its values as a list of strings, e.g. {"${key}":["value"]}`);
    }
    filters.set(key, values as string[]);
  }
  return filters;
}

/** True when the filter is absent or any of its values satisfies `test`. */
export function accepts(filters: Filters, key: string, test: (value: string) => boolean): boolean {
  const values = filters.get(key);
  return !values || values.length === 0 || values.some(test);
}

/** `label=key` or `label=key=value` against a label map. */
export function labelMatches(labels: Record<string, string> | undefined, expression: string): boolean {
  const eq = expression.indexOf('=');
  if (eq < 0) return labels?.[expression] !== undefined;
  return labels?.[expression.slice(0, eq)] === expression.slice(eq + 1);
}
