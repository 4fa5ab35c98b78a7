/**
 * `swarmlet service update` and `swarmlet service rollback`: Docker's flags for changing a running service, applied
 * to the spec the daemon holds, and Docker's way back to the spec before the last update.
 *
 * As the docker CLI does it: read the service, change only what a flag names (service-update-spec.ts), and write the
 * whole spec back at the version read, so an update that raced another is refused (`?version=`) instead of undoing
 * it. The command then waits for the tasks to converge unless `--detach` — with an update policy
 * (`--update-parallelism`, `--update-delay`, ...) the daemon replaces the tasks a few at a time, and the wait follows
 * it.
 *
 * `--rollback` (and `service rollback`) sends the current spec with `?rollback=previous`: the daemon puts the
 * service's previous spec back. Like Docker, it takes no other flag but `--detach` and `--quiet`.
 *
 * `--network-add` and `--network-rm` name networks as the user knows them; the stored spec holds their IDs, so the
 * command first asks the daemon for the IDs (GET /networks/{name}?scope=swarm, as the docker CLI does).
 */

import type { Service, ServiceSpec } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import type { ApiClient } from './api-client.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import { waitForConvergence } from './converge.ts';
import { type OptionSpec, type ParsedArgs, booleanOption, listOption } from './flags.ts';
import { CREATE_OPTIONS, parseNetworkOption } from './service-spec.ts';
import { applyServiceUpdate, readServiceUpdate } from './service-update-spec.ts';
import { UPDATE_POLICY_OPTIONS } from './update-policy-option.ts';

/** A flag `service create` has too, with its description there (or one that fits update better). */
function asOnCreate(name: string, description?: string): OptionSpec {
  const option = CREATE_OPTIONS.find((candidate) => candidate.name === name);
  if (!option) throw new Error(`service create has no --${name}`);
  return description === undefined ? option : { ...option, description };
}

const DETACH: OptionSpec = { name: 'detach', short: 'd', description: 'Exit immediately instead of waiting for the service to converge' };
const QUIET: OptionSpec = { name: 'quiet', short: 'q', description: 'Suppress progress output' };

export const UPDATE_OPTIONS: OptionSpec[] = [
  { name: 'image', value: 'IMAGE', description: 'Service image tag' },
  { name: 'args', value: 'COMMAND', description: 'Service command args, replacing the current ones (e.g. "serve --port 80")' },
  asOnCreate('entrypoint'),
  { name: 'replicas', value: 'N', description: 'Number of tasks' },
  asOnCreate('replicas-max-per-node'),
  { name: 'force', description: 'Force update even if no changes require it' },
  { name: 'rollback', description: 'Roll back to the previous specification (takes no other flag but --detach and --quiet)' },
  { name: 'env-add', value: 'K=V', multiple: true, description: 'Add or update an environment variable' },
  { name: 'env-rm', value: 'NAME', multiple: true, description: 'Remove an environment variable' },
  { name: 'label-add', value: 'K=V', multiple: true, description: 'Add or update a service label' },
  { name: 'label-rm', value: 'KEY', multiple: true, description: 'Remove a label by its key' },
  { name: 'container-label-add', value: 'K=V', multiple: true, description: 'Add or update a container label' },
  { name: 'container-label-rm', value: 'KEY', multiple: true, description: 'Remove a container label by its key' },
  { name: 'mount-add', value: 'MOUNT', multiple: true, description: 'Add or update a mount on a service (one at the same target is replaced)' },
  { name: 'mount-rm', value: 'PATH', multiple: true, description: 'Remove a mount by its target path' },
  { name: 'constraint-add', value: 'EXPR', multiple: true, description: 'Add or update a placement constraint' },
  { name: 'constraint-rm', value: 'EXPR', multiple: true, description: 'Remove a constraint' },
  { name: 'placement-pref-add', value: 'PREF', multiple: true, description: 'Add a placement preference (e.g. spread=node.labels.zone)' },
  { name: 'placement-pref-rm', value: 'PREF', multiple: true, description: 'Remove a placement preference' },
  asOnCreate('reserve-memory'),
  asOnCreate('limit-memory'),
  asOnCreate('reserve-cpu'),
  asOnCreate('limit-cpu'),
  asOnCreate('restart-condition', 'Restart when condition is met: none, on-failure or any'),
  asOnCreate('restart-delay', 'Delay between restart attempts (ns|us|ms|s|m|h)'),
  asOnCreate('restart-max-attempts'),
  asOnCreate('restart-window'),
  asOnCreate('stop-grace-period', 'Time to wait before force killing a container (ns|us|ms|s|m|h)'),
  asOnCreate('hostname'),
  asOnCreate('user'),
  asOnCreate('workdir'),
  asOnCreate('health-cmd'),
  asOnCreate('health-interval'),
  asOnCreate('health-timeout'),
  asOnCreate('health-retries'),
  asOnCreate('health-start-period'),
  asOnCreate('no-healthcheck', 'Disable any container-specified HEALTHCHECK (--no-healthcheck=false enables it again)'),
  asOnCreate('cap-add', 'Add Linux capabilities (RESET forgets the ones added before)'),
  asOnCreate('cap-drop', 'Drop Linux capabilities (RESET forgets the ones dropped before)'),
  { name: 'publish-add', value: 'PORT', multiple: true, description: 'Add or update a published port (e.g. 8080:80, published=8080,target=80)' },
  { name: 'publish-rm', value: 'PORT', multiple: true, description: 'Remove a published port by its target port (e.g. 80, 53/udp)' },
  { name: 'endpoint-mode', value: 'MODE', description: 'Endpoint mode: vip or dnsrr' },
  { name: 'network-add', value: 'NETWORK', multiple: true, description: 'Add a network (e.g. backend, or name=backend,alias=db)' },
  { name: 'network-rm', value: 'NETWORK', multiple: true, description: 'Remove a network' },
  { name: 'device-add', value: 'DEVICE', multiple: true, description: 'Add or replace a host device: /dev/HOST[:/dev/CONTAINER[:rwm]] (a swarmlet addition)' },
  { name: 'device-rm', value: 'PATH', multiple: true, description: 'Remove a host device by its path in the container (a swarmlet addition)' },
  asOnCreate('privileged', 'Give extended privileges to this container; --privileged=false takes them away (a swarmlet addition)'),
  ...UPDATE_POLICY_OPTIONS,
  DETACH,
  QUIET,
];

/** The flags `--rollback` may go with; `host` is the router's `-H`, which any command takes. */
const ROLLBACK_COMPANIONS = new Set(['rollback', 'detach', 'quiet', 'help', 'host']);

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

/**
 * Writes `spec` at the version `service` was read at (with `?rollback=previous` the daemon puts the previous spec
 * back instead), prints the service as the user named it, then waits for it to converge unless `--detach`.
 */
async function sendUpdate(ctx: CommandContext, ref: string, service: Service, spec: ServiceSpec, rollback: boolean): Promise<void> {
  const { options } = ctx.args;
  const api = ctx.api();
  const updated = await api.post<{ Warnings?: string[] | null } | undefined>(`/services/${encodeURIComponent(service.ID)}/update`, spec, {
    version: String(service.Version.Index),
    ...(rollback ? { rollback: 'previous' } : {}),
  });
  for (const warning of updated?.Warnings ?? []) ctx.err(`${warning}\n`);
  ctx.out(`${ref}\n`);
  if (booleanOption(options, 'detach')) return;
  await waitForConvergence(api, service.ID, { ref, out: booleanOption(options, 'quiet') ? () => {} : ctx.out, rollback });
}

async function rollBack(ctx: CommandContext, ref: string): Promise<void> {
  const service = await ctx.api().get<Service>(`/services/${encodeURIComponent(ref)}`);
  await sendUpdate(ctx, ref, service, service.Spec, true);
}

export const updateCommand: CommandSpec = {
  name: 'update',
  args: '<service>',
  description: 'Update a service',
  options: UPDATE_OPTIONS,
  examples: [
    'swarmlet service update --image web:2 --update-parallelism 2 --update-delay 10s web',
    'swarmlet service update --update-order start-first --update-failure-action rollback --update-monitor 30s web',
    'swarmlet service update --env-add LOG_LEVEL=debug --mount-rm /cache --limit-memory 128M web',
    'swarmlet service update --publish-add 8080:80 --network-add backend web',
    'swarmlet service update --rollback web',
  ],
  async run(ctx) {
    const { options, positionals } = ctx.args;
    const ref = positionals[0];
    if (!ref || positionals.length > 1) throw invalidArgument('service update takes one service: swarmlet service update [OPTIONS] SERVICE');
    if (booleanOption(options, 'rollback')) {
      const others = Object.keys(options).filter((name) => options[name] !== undefined && !ROLLBACK_COMPANIONS.has(name));
      if (others.length > 0) {
        const named = others.map((name) => `--${name}`).join(', ');
        throw invalidArgument(`--rollback cannot be combined with ${named}: roll back alone (with --detach or --quiet if you like), then update the service again`);
      }
      return rollBack(ctx, ref);
    }
    const update = readServiceUpdate(options);
    const api = ctx.api();
    const service = await api.get<Service>(`/services/${encodeURIComponent(ref)}`);
    const spec = applyServiceUpdate(service.Spec, update, await lookUpNetworks(api, options));
    await sendUpdate(ctx, ref, service, spec, false);
  },
};

export const rollbackCommand: CommandSpec = {
  name: 'rollback',
  args: '<service>',
  description: "Revert changes to a service's configuration",
  options: [DETACH, QUIET],
  examples: ['swarmlet service rollback web'],
  async run(ctx) {
    await rollBack(ctx, ctx.args.positionals[0]!);
  },
};
