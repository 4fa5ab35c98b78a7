/**
 * `swarmlet node ...`: ls, inspect, ps, update, promote, demote, rm — the cluster's nodes as the docker CLI shows them.
 *
 * Which node is "self" is the daemon's answer (GET /info's Swarm.NodeID), not a guess from the hostname: several
 * daemons may share a host in tests, and a node's hostname can be overridden.
 */

import type { Node, NodeRole, NodeSpec } from '../api/types.ts';
import { invalidArgument, unavailable } from '../errors.ts';
import type { ApiClient } from './api-client.ts';
import { forEachRef, type CommandGroup, type CommandSpec } from './command.ts';
import { inspectCommand } from './inspect.ts';
import { booleanOption, filtersQuery, listOption, stringOption } from './flags.ts';
import { parseOutputFormat } from './format.ts';
import { TASK_LIST_OPTIONS, listTasks } from './task-list.ts';
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

/** A node by ID, name, hostname or ID prefix, or `self` for the node the daemon runs on. */
async function fetchNode(api: ApiClient, ref: string): Promise<Node> {
  const id = ref === 'self' ? await selfNodeId(api) : ref;
  if (!id) throw unavailable('this node is not part of a swarm: run `swarmlet init` first');
  return api.get<Node>(`/nodes/${encodeURIComponent(id)}`);
}

const inspect = inspectCommand<Node>({
  noun: 'node',
  description: 'Display detailed information on one or more nodes (self for this node)',
  fetch: fetchNode,
  pretty: prettyNode,
  separator: '\n',
});

const ps: CommandSpec = {
  name: 'ps',
  args: '[...node]',
  description: 'List tasks running on one or more nodes, defaults to current node',
  options: TASK_LIST_OPTIONS,
  async run(ctx) {
    const api = ctx.api();
    const refs = ctx.args.positionals.length > 0 ? ctx.args.positionals : ['self'];
    const ids: string[] = [];
    let failure: unknown;
    try {
      await forEachRef(ctx, refs, async (ref) => {
        ids.push((await fetchNode(api, ref)).ID);
      });
    } catch (err) {
      failure = err;
    }
    // As docker does: the tasks of the nodes found are listed even when another reference failed.
    if (ids.length > 0) {
      await listTasks(ctx, { filters: { node: ids }, quietFullIds: false, printWhenEmpty: failure === undefined });
    }
    if (failure) throw failure;
  },
};

/** Reads the node, changes its spec, and writes it back at the version read (Docker's optimistic update). */
async function updateNode(api: ApiClient, ref: string, change: (spec: NodeSpec) => NodeSpec): Promise<Node> {
  const node = await api.get<Node>(`/nodes/${encodeURIComponent(ref)}`);
  await api.post(`/nodes/${encodeURIComponent(node.ID)}/update`, change(structuredClone(node.Spec)), { version: String(node.Version.Index) });
  return node;
}

function roleCommand(name: 'promote' | 'demote', role: NodeRole): CommandSpec {
  return {
    name,
    args: '<node...>',
    description: `${name === 'promote' ? 'Promote' : 'Demote'} one or more nodes ${name === 'promote' ? 'to manager' : 'from manager'} in the swarm`,
    options: [],
    async run(ctx) {
      const api = ctx.api();
      await forEachRef(ctx, ctx.args.positionals, async (ref) => {
        const node = await api.get<Node>(`/nodes/${encodeURIComponent(ref)}`);
        if (node.Spec.Role === role) {
          ctx.out(`Node ${ref} is already a ${role}.\n`);
          return;
        }
        await updateNode(api, node.ID, (spec) => ({ ...spec, Role: role }));
        ctx.out(`${name === 'promote' ? 'Node' : 'Manager'} ${ref} ${name === 'promote' ? 'promoted to a manager in the swarm' : 'demoted in the swarm'}.\n`);
      });
    },
  };
}

const update: CommandSpec = {
  name: 'update',
  args: '<node>',
  description: 'Update a node',
  options: [
    { name: 'availability', value: 'STATE', description: 'Availability of the node ("active", "pause", "drain")' },
    { name: 'role', value: 'ROLE', description: 'Role of the node ("worker", "manager")' },
    { name: 'label-add', value: 'KEY=VALUE', multiple: true, description: 'Add or update a node label (key=value)' },
    { name: 'label-rm', value: 'KEY', multiple: true, description: 'Remove a node label if exists' },
  ],
  async run(ctx) {
    const { options, positionals } = ctx.args;
    const availability = stringOption(options, 'availability');
    if (availability !== undefined && !['active', 'pause', 'drain'].includes(availability)) {
      throw invalidArgument(`invalid availability "${availability}": use active, pause or drain`);
    }
    const role = stringOption(options, 'role');
    if (role !== undefined && role !== 'worker' && role !== 'manager') throw invalidArgument(`invalid role "${role}": use worker or manager`);
    const adds = listOption(options, 'label-add');
    for (const label of adds) if (label.startsWith('=') || label === '') throw invalidArgument(`invalid label "${label}": use key=value`);
    const node = await updateNode(ctx.api(), positionals[0]!, (spec) => {
      const labels = { ...(spec.Labels ?? {}) };
      for (const label of adds) {
        const eq = label.indexOf('=');
        labels[eq < 0 ? label : label.slice(0, eq)] = eq < 0 ? '' : label.slice(eq + 1);
      }
      for (const key of listOption(options, 'label-rm')) delete labels[key];
      return {
        ...spec,
        Labels: labels,
        ...(availability ? { Availability: availability as NodeSpec['Availability'] } : {}),
        ...(role ? { Role: role as NodeRole } : {}),
      };
    });
    ctx.out(`${positionals[0] ?? node.ID}\n`);
  },
};

const rm: CommandSpec = {
  name: 'rm',
  args: '<node...>',
  description: 'Remove one or more nodes from the swarm; their certificates are revoked',
  options: [{ name: 'force', short: 'f', description: 'Force remove a node from the swarm' }],
  async run(ctx) {
    const api = ctx.api();
    const force = booleanOption(ctx.args.options, 'force');
    await forEachRef(ctx, ctx.args.positionals, async (ref) => {
      await api.delete(`/nodes/${encodeURIComponent(ref)}`, force ? { force: 'true' } : {});
      ctx.out(`${ref}\n`);
    });
  },
};

export const nodeCommands: CommandGroup = {
  name: 'node',
  description: 'Manage swarm nodes',
  commands: [roleCommand('demote', 'worker'), inspect, ls, roleCommand('promote', 'manager'), ps, rm, update],
};
