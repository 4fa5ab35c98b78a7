/**
 * `swarmlet node ls` and `node inspect`: the cluster's nodes as the docker CLI shows them.
 *
 * Which node is "self" is the daemon's answer (GET /info's Swarm.NodeID), not a guess from the hostname: several
 * daemons may share a host in tests, and a node's hostname can be overridden.
 */

import type { Node } from '../api/types.ts';
import { unavailable } from '../errors.ts';
import type { ApiClient } from './api-client.ts';
import type { CommandGroup, CommandSpec } from './command.ts';
import { inspectCommand } from './inspect.ts';
import { booleanOption, filtersQuery, listOption, stringOption } from './flags.ts';
import { parseOutputFormat } from './format.ts';
import { renderNodeTable } from './views/nodes.ts';
import { prettyNode } from './views/pretty.ts';

interface Info {
  Swarm?: { NodeID?: string; LocalNodeState?: string };
}

/** The ID of the node the daemon runs on, or undefined when it is in no swarm. */
export async function selfNodeId(api: ApiClient): Promise<string | undefined> {
  const info = await api.get<Info>('/info');
  return info.Swarm?.NodeID || undefined;
}

const ls: CommandSpec = {
  name: 'ls',
  description: 'List nodes in the swarm',
  options: [
    { name: 'quiet', short: 'q', description: 'Only display IDs' },
    { name: 'format', value: 'FORMAT', description: 'Output format: table (default) or json (one object per row, as docker prints it)' },
    { name: 'filter', short: 'f', value: 'K=V', multiple: true, description: 'Filter output based on conditions provided' },
  ],
  async run(ctx) {
    const { options } = ctx.args;
    const format = parseOutputFormat(stringOption(options, 'format'));
    const api = ctx.api();
    const nodes = await api.get<Node[]>('/nodes', { filters: filtersQuery(listOption(options, 'filter')) });
    if (booleanOption(options, 'quiet')) ctx.out(nodes.map((node) => `${node.ID}\n`).join(''));
    else ctx.out(renderNodeTable(nodes, await selfNodeId(api), format));
  },
};

const inspect = inspectCommand<Node>({
  noun: 'node',
  description: 'Display detailed information on one or more nodes (self for this node)',
  async fetch(api, ref) {
    const id = ref === 'self' ? await selfNodeId(api) : ref;
    if (!id) throw unavailable('this node is not part of a swarm: run `swarmlet init` first');
    return api.get<Node>(`/nodes/${encodeURIComponent(id)}`);
  },
  pretty: prettyNode,
  separator: '\n',
});

export const nodeCommands: CommandGroup = {
  name: 'node',
  description: 'Manage swarm nodes',
  commands: [inspect, ls],
};
