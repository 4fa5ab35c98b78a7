/**
 * `swarmlet service update`: Docker's flags for changing a running service, applied to the spec the daemon holds.
 *
 * As the docker CLI does it: read the service, change only what a flag names, and write the whole spec back at the
 * version read, so an update that raced another is refused (`?version=`) instead of undoing it. Changing the spec is
 * pure (`updateServiceSpec`); the command reads, writes and then waits for the tasks to converge unless `--detach`.
 */

import type { Service, ServiceSpec } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import type { CommandSpec } from './command.ts';
import { waitForConvergence } from './converge.ts';
import { type OptionSpec, type ParsedArgs, booleanOption, listOption, stringOption } from './flags.ts';
import { parsePublish, updatePorts } from './port-option.ts';
import { parseCount, parseEndpointMode } from './service-spec.ts';

export const UPDATE_OPTIONS: OptionSpec[] = [
  { name: 'image', value: 'IMAGE', description: 'Service image tag' },
  { name: 'replicas', value: 'N', description: 'Number of tasks' },
  { name: 'force', description: 'Force update even if no changes require it' },
  { name: 'publish-add', value: 'PORT', multiple: true, description: 'Add or update a published port (e.g. 8080:80, published=8080,target=80)' },
  { name: 'publish-rm', value: 'PORT', multiple: true, description: 'Remove a published port by its target port (e.g. 80, 53/udp)' },
  { name: 'endpoint-mode', value: 'MODE', description: 'Endpoint mode: vip or dnsrr' },
  { name: 'detach', short: 'd', description: 'Exit immediately instead of waiting for the service to converge' },
  { name: 'quiet', short: 'q', description: 'Suppress progress output' },
];

/** The spec `service update [flags]` writes back: `spec` with what the flags name changed, and nothing else. */
export function updateServiceSpec(spec: ServiceSpec, { options }: Pick<ParsedArgs, 'options'>): ServiceSpec {
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
  return next;
}

export const updateCommand: CommandSpec = {
  name: 'update',
  args: '<service>',
  description: 'Update a service',
  options: UPDATE_OPTIONS,
  examples: ['swarmlet service update --publish-add 8080:80 web', 'swarmlet service update --publish-rm 80 --image nginx:1.27 web'],
  async run(ctx) {
    const { options, positionals } = ctx.args;
    const ref = positionals[0];
    if (!ref || positionals.length > 1) throw invalidArgument('service update takes one service: swarmlet service update [OPTIONS] SERVICE');
    const api = ctx.api();
    const service = await api.get<Service>(`/services/${encodeURIComponent(ref)}`);
    const spec = updateServiceSpec(service.Spec, ctx.args);
    const updated = await api.post<{ Warnings?: string[] | null } | undefined>(`/services/${encodeURIComponent(service.ID)}/update`, spec, {
      version: String(service.Version.Index),
    });
    for (const warning of updated?.Warnings ?? []) ctx.err(`${warning}\n`);
    ctx.out(`${ref}\n`);
    if (booleanOption(options, 'detach')) return;
    await waitForConvergence(api, service.ID, { ref, out: booleanOption(options, 'quiet') ? () => {} : ctx.out });
  },
};
