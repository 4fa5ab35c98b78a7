/**
 * `swarmlet service update`: Docker's flags for changing a running service, applied to the spec the daemon holds.
 *
 * As the docker CLI does it: read the service, change only what a flag names, and write the whole spec back at the
 * version read, so an update that raced another is refused (`?version=`) instead of undoing it. Changing the spec is
 * pure (`updateServiceSpec`); the command reads, writes and then waits for the tasks to converge unless `--detach`.
 *
 * `--network-add` and `--network-rm` name networks as the user knows them; the stored spec holds their IDs, so the
 * command first asks the daemon for the IDs (GET /networks/{name}?scope=swarm, as the docker CLI does).
 */

import type { NetworkAttachmentConfig, Service, ServiceSpec } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import type { ApiClient } from './api-client.ts';
import type { CommandSpec } from './command.ts';
import { waitForConvergence } from './converge.ts';
import { type OptionSpec, type ParsedArgs, booleanOption, listOption, stringOption } from './flags.ts';
import { parsePublish, updatePorts } from './port-option.ts';
import { parseCount, parseEndpointMode, parseNetworkOption } from './service-spec.ts';

export const UPDATE_OPTIONS: OptionSpec[] = [
  { name: 'image', value: 'IMAGE', description: 'Service image tag' },
  { name: 'replicas', value: 'N', description: 'Number of tasks' },
  { name: 'force', description: 'Force update even if no changes require it' },
  { name: 'publish-add', value: 'PORT', multiple: true, description: 'Add or update a published port (e.g. 8080:80, published=8080,target=80)' },
  { name: 'publish-rm', value: 'PORT', multiple: true, description: 'Remove a published port by its target port (e.g. 80, 53/udp)' },
  { name: 'endpoint-mode', value: 'MODE', description: 'Endpoint mode: vip or dnsrr' },
  { name: 'network-add', value: 'NETWORK', multiple: true, description: 'Add a network (e.g. backend, or name=backend,alias=db)' },
  { name: 'network-rm', value: 'NETWORK', multiple: true, description: 'Remove a network' },
  { name: 'detach', short: 'd', description: 'Exit immediately instead of waiting for the service to converge' },
  { name: 'quiet', short: 'q', description: 'Suppress progress output' },
];

/**
 * The spec `service update [flags]` writes back: `spec` with what the flags name changed, and nothing else.
 * `networkIds` maps the networks the flags name to their IDs (a name missing from it is taken as an ID).
 */
export function updateServiceSpec(spec: ServiceSpec, { options }: Pick<ParsedArgs, 'options'>, networkIds: ReadonlyMap<string, string> = new Map()): ServiceSpec {
  const next = structuredClone(spec);
  const image = stringOption(options, 'image');
  if (image !== undefined) next.TaskTemplate.ContainerSpec.Image = image;

  const replicas = stringOption(options, 'replicas');
  if (replicas !== undefined) {
    if (!next.Mode?.Replicated) throw invalidArgument('replicas can only be used with replicated mode');
    next.Mode.Replicated.Replicas = parseCount(replicas, 'replicas');
  }

  // Docker counts up, so tasks are replaced even when nothing else changed.
  if (booleanOption(options, 'force')) next.TaskTemplate.ForceUpdate = (next.TaskTemplate.ForceUpdate ?? 0) + 1;

  const mode = stringOption(options, 'endpoint-mode');
  if (mode !== undefined) next.EndpointSpec = { ...next.EndpointSpec, Mode: parseEndpointMode(mode) };

  const add = listOption(options, 'publish-add');
  const remove = listOption(options, 'publish-rm');
  if (add.length > 0 || remove.length > 0) {
    const ports = updatePorts(
      next.EndpointSpec?.Ports ?? [],
      add.flatMap((text) => parsePublish(text, '--publish-add')),
      remove.flatMap((text) => parsePublish(text, '--publish-rm')),
    );
    const { Ports: _, ...endpoint } = next.EndpointSpec ?? {};
    next.EndpointSpec = { ...endpoint, ...(ports.length > 0 ? { Ports: ports } : {}) };
  }

  const networksToAdd = listOption(options, 'network-add').map((text) => parseNetworkOption(text, '--network-add'));
  const networksToRemove = listOption(options, 'network-rm');
  if (networksToAdd.length > 0 || networksToRemove.length > 0) {
    const { Networks: legacy, ...rest } = next;
    next.TaskTemplate.Networks = updateNetworks(next.TaskTemplate.Networks ?? legacy ?? [], networksToAdd, networksToRemove, networkIds);
    if (next.TaskTemplate.Networks.length === 0) delete next.TaskTemplate.Networks;
    return { ...rest, TaskTemplate: next.TaskTemplate };
  }
  return next;
}

/**
 * A service's networks after `--network-rm` and `--network-add`, by Docker's rules: removing a network the service
 * is not on is no error, adding one it is on is.
 */
function updateNetworks(
  current: readonly NetworkAttachmentConfig[],
  add: readonly NetworkAttachmentConfig[],
  remove: readonly string[],
  networkIds: ReadonlyMap<string, string>,
): NetworkAttachmentConfig[] {
  const idOf = (ref: string) => networkIds.get(ref) ?? ref;
  const removed = new Set(remove.map(idOf));
  const networks = current.filter((attachment) => !removed.has(idOf(attachment.Target)));
  for (const attachment of add) {
    const target = idOf(attachment.Target);
    if (networks.some((existing) => idOf(existing.Target) === target)) {
      throw invalidArgument(`service is already attached to network ${attachment.Target}: use --network-rm first to change its aliases`);
    }
    networks.push({ ...attachment, Target: target });
  }
  return networks;
}

/** The IDs of the networks `--network-add` and `--network-rm` name, asked of the daemon (swarm networks only). */
export async function lookUpNetworks(api: ApiClient, options: ParsedArgs['options']): Promise<Map<string, string>> {
  const refs = [
    ...listOption(options, 'network-add').map((text) => parseNetworkOption(text, '--network-add').Target),
    ...listOption(options, 'network-rm'),
  ];
  const ids = new Map<string, string>();
  for (const ref of new Set(refs)) {
    const network = await api.get<{ Id: string }>(`/networks/${encodeURIComponent(ref)}`, { scope: 'swarm' });
    ids.set(ref, network.Id);
  }
  return ids;
}

export const updateCommand: CommandSpec = {
  name: 'update',
  args: '<service>',
  description: 'Update a service',
  options: UPDATE_OPTIONS,
  examples: [
    'swarmlet service update --publish-add 8080:80 web',
    'swarmlet service update --publish-rm 80 --image nginx:1.27 web',
    'swarmlet service update --network-add backend web',
  ],
  async run(ctx) {
    const { options, positionals } = ctx.args;
    const ref = positionals[0];
    if (!ref || positionals.length > 1) throw invalidArgument('service update takes one service: swarmlet service update [OPTIONS] SERVICE');
    const api = ctx.api();
    const service = await api.get<Service>(`/services/${encodeURIComponent(ref)}`);
    const spec = updateServiceSpec(service.Spec, ctx.args, await lookUpNetworks(api, options));
    const updated = await api.post<{ Warnings?: string[] | null } | undefined>(`/services/${encodeURIComponent(service.ID)}/update`, spec, {
      version: String(service.Version.Index),
    });
    for (const warning of updated?.Warnings ?? []) ctx.err(`${warning}\n`);
    ctx.out(`${ref}\n`);
    if (booleanOption(options, 'detach')) return;
    await waitForConvergence(api, service.ID, { ref, out: booleanOption(options, 'quiet') ? () => {} : ctx.out });
  },
};
