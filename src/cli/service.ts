/**
 * `swarmlet service ...`: create, ls, ps, inspect, scale, update and rollback (their own file), rm — Docker's flags
 * and output, over the API.
 *
 * Each command is a few API calls plus a view: the daemon resolves a service reference (full ID, unique ID prefix
 * or name, by Docker's rules) on GET /services/{ref}, so lookups behave the same for this CLI and the docker CLI.
 */

import type { Service } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import type { CommandContext, CommandGroup, CommandSpec } from './command.ts';
import { forEachRef } from './command.ts';
import { waitForConvergence } from './converge.ts';
import { inspectCommand } from './inspect.ts';
import { logsCommand } from './logs.ts';
import { type OptionSpec, booleanOption, filtersQuery, listOption, stringOption } from './flags.ts';
import { parseOutputFormat, shortId } from './format.ts';
import { CREATE_OPTIONS, buildServiceSpec, parseCount } from './service-spec.ts';
import { rollbackCommand, updateCommand } from './service-update.ts';
import { prettyService, prettyServiceWithNames } from './views/pretty.ts';
import { renderServiceTable } from './views/services.ts';
import { TASK_LIST_OPTIONS, listTasks } from './task-list.ts';

const QUIET: OptionSpec = { name: 'quiet', short: 'q', description: 'Only display IDs' };
const FORMAT: OptionSpec = { name: 'format', value: 'FORMAT', description: 'Output format: table (default) or json (one object per row, as docker prints it)' };
const FILTER: OptionSpec = { name: 'filter', short: 'f', value: 'K=V', multiple: true, description: 'Filter output based on conditions provided' };
const DETACH: OptionSpec = { name: 'detach', short: 'd', description: 'Exit immediately instead of waiting for the service to converge' };

interface CreateResponse {
  ID: string;
  Warnings?: string[] | null;
}

/** The API's warnings (an image the engine lacks, say) go to stderr, as the docker CLI prints them. */
function printWarnings(ctx: CommandContext, warnings: readonly string[] | null | undefined): void {
  for (const warning of warnings ?? []) ctx.err(`${warning}\n`);
}

function servicePath(ref: string): string {
  return `/services/${encodeURIComponent(ref)}`;
}

const create: CommandSpec = {
  name: 'create',
  args: '<image> [...command]',
  description: 'Create a new service',
  options: CREATE_OPTIONS,
  interspersed: false,
  examples: [
    'swarmlet service create --name back --replicas 3 --reserve-memory 64M --limit-memory 64M --env K=V IMAGE sh -c "echo hi"',
    'swarmlet service create --name web --replicas 4 --update-parallelism 2 --update-delay 10s --update-failure-action rollback web:1',
  ],
  async run(ctx) {
    const { options } = ctx.args;
    const spec = buildServiceSpec(ctx.args);
    const api = ctx.api();
    const created = await api.post<CreateResponse>('/services/create', spec);
    printWarnings(ctx, created.Warnings);
    ctx.out(`${created.ID}\n`);
    if (booleanOption(options, 'detach')) return;
    await waitForConvergence(api, created.ID, { ref: created.ID, out: booleanOption(options, 'quiet') ? () => {} : ctx.out });
  },
};

const ls: CommandSpec = {
  name: 'ls',
  description: 'List services',
  options: [QUIET, FORMAT, FILTER],
  async run(ctx) {
    const { options } = ctx.args;
    const format = parseOutputFormat(stringOption(options, 'format'));
    const services = await ctx.api().get<Service[]>('/services', {
      status: 'true',
      filters: filtersQuery(listOption(options, 'filter')),
    });
    if (booleanOption(options, 'quiet')) ctx.out(services.map((service) => `${shortId(service.ID)}\n`).join(''));
    else ctx.out(renderServiceTable(services, format));
  },
};

const ps: CommandSpec = {
  name: 'ps',
  args: '<...service>',
  description: 'List the tasks of one or more services',
  options: TASK_LIST_OPTIONS,
  async run(ctx) {
    const api = ctx.api();
    const services: Service[] = [];
    await forEachRef(ctx, ctx.args.positionals, async (ref) => {
      services.push(await api.get<Service>(servicePath(ref)));
    });
    await listTasks(ctx, { filters: { service: services.map((service) => service.ID) }, services, quietFullIds: true, printWhenEmpty: true });
  },
};

const inspect = inspectCommand<Service>({
  noun: 'service',
  description: 'Display detailed information on one or more services',
  fetch: (api, ref) => api.get<Service>(servicePath(ref)),
  // Docker names the service's networks; the service holds their IDs.
  pretty: async (service, api) => {
    if (!service.Spec.TaskTemplate.Networks?.length) return prettyService(service);
    const networks = await api.get<Array<{ Id: string; Name: string }>>('/networks', { filters: JSON.stringify({ scope: ['swarm'] }) }).catch(() => []);
    return prettyServiceWithNames(service, new Map(networks.map((network) => [network.Id, network.Name])));
  },
  separator: '',
});

const scale: CommandSpec = {
  name: 'scale',
  args: '<...service=replicas>',
  description: 'Scale one or multiple replicated services',
  options: [DETACH],
  async run(ctx) {
    const api = ctx.api();
    const targets = ctx.args.positionals.map((arg) => {
      const equals = arg.lastIndexOf('=');
      if (equals <= 0) throw invalidArgument(`invalid scale specifier "${arg}": use SERVICE=REPLICAS, e.g. back=5`);
      return { ref: arg.slice(0, equals), replicas: parseCount(arg.slice(equals + 1), 'replicas') };
    });
    const scaled: Array<{ ref: string; id: string }> = [];
    const pending = [...targets];
    let failure: unknown;
    try {
      // forEachRef runs the actions in order, so each takes the next target.
      await forEachRef(ctx, targets.map((target) => target.ref), async (ref) => {
        const { replicas } = pending.shift()!;
        const service = await api.get<Service>(servicePath(ref));
        if (service.Spec.Mode?.Global) throw invalidArgument('scale can only be used with replicated mode');
        const spec = { ...service.Spec, Mode: { Replicated: { Replicas: replicas } } };
        const updated = await api.post<{ Warnings?: string[] | null } | undefined>(`${servicePath(service.ID)}/update`, spec, {
          version: String(service.Version.Index),
        });
        printWarnings(ctx, updated?.Warnings);
        ctx.out(`${ref} scaled to ${replicas}\n`);
        scaled.push({ ref, id: service.ID });
      });
    } catch (err) {
      failure = err;
    }
    // The services that were scaled are waited for even when another failed, as docker does.
    if (!booleanOption(ctx.args.options, 'detach')) {
      for (const { ref, id } of scaled) await waitForConvergence(api, id, { ref, out: ctx.out });
    }
    if (failure) throw failure;
  },
};

const rm: CommandSpec = {
  name: 'rm',
  args: '<...service>',
  description: 'Remove one or more services',
  options: [],
  async run(ctx) {
    const api = ctx.api();
    await forEachRef(ctx, ctx.args.positionals, async (ref) => {
      await api.delete(servicePath(ref));
      ctx.out(`${ref}\n`);
    });
  },
};

export const serviceCommands: CommandGroup = {
  name: 'service',
  description: 'Manage services',
  commands: [create, inspect, logsCommand, ls, ps, rm, rollbackCommand, scale, updateCommand],
};
