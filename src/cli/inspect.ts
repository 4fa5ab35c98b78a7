/**
 * `inspect` as docker has it for every object kind: the objects as an indented JSON array, or `--pretty` text;
 * what was found is printed even when another reference was not (the failures are reported after).
 */

import type { ApiClient } from './api-client.ts';
import type { CommandSpec } from './command.ts';
import { forEachRef } from './command.ts';
import { booleanOption } from './flags.ts';

export function inspectCommand<T>(kind: {
  noun: string;
  description: string;
  fetch: (api: ApiClient, ref: string) => Promise<T>;
  /** The `--pretty` text; given the API for what the object names by ID only (a service's networks). */
  pretty: (object: T, api: ApiClient) => string | Promise<string>;
  /** What goes between two pretty objects. */
  separator: string;
}): CommandSpec {
  return {
    name: 'inspect',
    args: `<...${kind.noun}>`,
    description: kind.description,
    options: [{ name: 'pretty', description: 'Print the information in a human friendly format' }],
    async run(ctx) {
      const api = ctx.api();
      const found: T[] = [];
      try {
        await forEachRef(ctx, ctx.args.positionals, async (ref) => {
          found.push(await kind.fetch(api, ref));
        });
      } finally {
        if (booleanOption(ctx.args.options, 'pretty')) {
          const texts: string[] = [];
          for (const object of found) texts.push(await kind.pretty(object, api));
          ctx.out(texts.join(kind.separator));
        }
        else ctx.out(`${JSON.stringify(found, null, 4)}\n`);
      }
    },
  };
}
