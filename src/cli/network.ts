/**
 * `swarmlet network ...`: create, ls, inspect and rm — Docker's flags and output, over the API.
 *
 * swarmlet's CLI is about the cluster, so `network create` makes a swarm network (`--driver overlay`) unless told
 * otherwise; another driver is passed to the node's engine by the daemon, as docker's would be. The daemon resolves
 * a network reference (ID, name, or unique ID prefix; swarm networks first) on GET /networks/{ref}, so lookups
 * behave the same for this CLI and the docker CLI.
 */

import type { CommandGroup, CommandSpec } from './command.ts';
import { forEachRef } from './command.ts';
import { booleanOption, filtersQuery, listOption, stringOption } from './flags.ts';
import { parseOutputFormat } from './format.ts';
import { inspectCommand } from './inspect.ts';
import type { ApiClient } from './api-client.ts';
import { parseLabels } from './service-spec.ts';
import { parseTemplate, renderTemplate } from './views/go-template.ts';
import { type NetworkResource, networkIds, prettyNetwork, renderNetworkTable } from './views/networks.ts';

const networkPath = (ref: string) => `/networks/${encodeURIComponent(ref)}`;

const create: CommandSpec = {
  name: 'create',
  args: '<name>',
  description: 'Create a network',
  options: [
    { name: 'driver', short: 'd', value: 'DRIVER', description: 'Driver to manage the network: overlay makes a swarm network (default "overlay")' },
    { name: 'subnet', value: 'SUBNET', description: 'Subnet in CIDR format (default: the next free /24 of 10.0.0.0/8)' },
    { name: 'gateway', value: 'IP', description: 'Gateway for the subnet (default: its first address)' },
    { name: 'attachable', description: 'Enable manual container attachment' },
    { name: 'internal', description: 'Restrict external access to the network (its tasks reach each other, nothing outside)' },
    { name: 'opt', short: 'o', value: 'K=V', multiple: true, description: 'Set driver specific options (encrypted is accepted: traffic between nodes always is)' },
    { name: 'label', value: 'K=V', multiple: true, description: 'Set metadata on a network' },
  ],
  examples: ['swarmlet network create backend', 'swarmlet network create --subnet 10.0.9.0/24 --attachable backend'],
  async run(ctx) {
    const { options, positionals } = ctx.args;
    const subnet = stringOption(options, 'subnet');
    const gateway = stringOption(options, 'gateway');
    const body = {
      Name: positionals[0],
      Driver: stringOption(options, 'driver') ?? 'overlay',
      Attachable: booleanOption(options, 'attachable'),
      Internal: booleanOption(options, 'internal'),
      IPAM: { Driver: 'default', Config: subnet || gateway ? [{ ...(subnet ? { Subnet: subnet } : {}), ...(gateway ? { Gateway: gateway } : {}) }] : [] },
      Options: parseLabels(listOption(options, 'opt')) ?? {},
      Labels: parseLabels(listOption(options, 'label')) ?? {},
    };
    const created = await ctx.api().post<{ Id: string; Warning?: string }>('/networks/create', body);
    if (created.Warning) ctx.err(`${created.Warning}\n`);
    ctx.out(`${created.Id}\n`);
  },
};

const ls: CommandSpec = {
  name: 'ls',
  description: 'List networks',
  options: [
    { name: 'quiet', short: 'q', description: 'Only display network IDs' },
    { name: 'filter', short: 'f', value: 'K=V', multiple: true, description: 'Provide filter values (e.g. driver=overlay, scope=swarm, name=back)' },
    { name: 'format', value: 'FORMAT', description: 'Output format: table (default) or json (one object per row, as docker prints it)' },
    { name: 'no-trunc', description: 'Do not truncate the output' },
  ],
  async run(ctx) {
    const { options } = ctx.args;
    const format = parseOutputFormat(stringOption(options, 'format'));
    const noTrunc = booleanOption(options, 'no-trunc');
    const networks = await ctx.api().get<NetworkResource[]>('/networks', { filters: filtersQuery(listOption(options, 'filter')) });
    ctx.out(booleanOption(options, 'quiet') ? networkIds(networks, noTrunc) : renderNetworkTable(networks, format, noTrunc));
  },
};

/** docker's `network inspect`: the JSON array (the shared inspect command), or each network through --format. */
function inspectWith(verbose: boolean): CommandSpec {
  return inspectCommand<NetworkResource>({
    noun: 'network',
    description: 'Display detailed information on one or more networks',
    fetch: (api: ApiClient, ref) => api.get<NetworkResource>(networkPath(ref), verbose ? { verbose: 'true' } : undefined),
    pretty: (network) => prettyNetwork(network),
    separator: '\n',
  });
}

const inspectBase = inspectWith(false);

const inspect: CommandSpec = {
  ...inspectBase,
  options: [
    ...inspectBase.options,
    { name: 'format', short: 'f', value: 'FORMAT', description: 'Format the output with a Go template, e.g. {{.IPAM.Config}} or {{json .Options}}' },
    { name: 'verbose', short: 'v', description: 'Verbose output: the services and tasks on a swarm network' },
  ],
  async run(ctx) {
    const { options, positionals } = ctx.args;
    const verbose = booleanOption(options, 'verbose');
    const format = stringOption(options, 'format');
    if (format === undefined || format === '' || format === 'json') {
      await inspectWith(verbose).run(ctx);
      return;
    }
    const template = parseTemplate(format);
    const api = ctx.api();
    const found: NetworkResource[] = [];
    try {
      await forEachRef(ctx, positionals, async (ref) => {
        found.push(await api.get<NetworkResource>(networkPath(ref), verbose ? { verbose: 'true' } : undefined));
      });
    } finally {
      ctx.out(found.map((network) => `${renderTemplate(template, network, format)}\n`).join(''));
    }
  },
};

const rm: CommandSpec = {
  name: 'rm',
  args: '<...network>',
  description: 'Remove one or more networks',
  options: [],
  async run(ctx) {
    const api = ctx.api();
    await forEachRef(ctx, ctx.args.positionals, async (ref) => {
      await api.delete(networkPath(ref));
      ctx.out(`${ref}\n`);
    });
  },
};

export const networkCommands: CommandGroup = {
  name: 'network',
  description: 'Manage networks',
  commands: [create, inspect, ls, rm],
};
