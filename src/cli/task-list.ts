/**
 * What `service ps` and `node ps` share, as they share it in the docker CLI: the flags, and turning a task query into
 * the table, the IDs (`-q`) or JSON rows, with service and node IDs mapped to names unless `--no-resolve`.
 *
 * The commands differ only in what they add to the user's `--filter` (the services or the nodes asked for) and in one
 * detail Docker has: `service ps -q` prints full task IDs, `node ps -q` truncated ones unless `--no-trunc`.
 */

import type { Node, Service, Task } from '../api/types.ts';
import type { CommandContext } from './command.ts';
import { type OptionSpec, booleanOption, filtersQuery, listOption, stringOption } from './flags.ts';
import { parseOutputFormat } from './format.ts';
import { renderTaskIds, renderTaskTable } from './views/tasks.ts';

/** The flags of `service ps` and `node ps`, with Docker's help texts. */
export const TASK_LIST_OPTIONS: OptionSpec[] = [
  { name: 'filter', short: 'f', value: 'K=V', multiple: true, description: 'Filter output based on conditions provided' },
  { name: 'format', value: 'FORMAT', description: 'Output format: table (default) or json (one object per row, as docker prints it)' },
  { name: 'no-resolve', description: 'Do not map IDs to Names' },
  { name: 'no-trunc', description: 'Do not truncate output' },
  { name: 'quiet', short: 'q', description: 'Only display task IDs' },
];

export interface TaskListing {
  /** Filter values the command adds to the user's, e.g. `{ node: [id] }`. */
  filters: Record<string, string[]>;
  /** The services already read (`service ps`), which saves listing them all to name the tasks. */
  services?: readonly Service[];
  /** `-q` prints whole IDs even without `--no-trunc` (`service ps`, not `node ps`). */
  quietFullIds: boolean;
  /**
   * false: print nothing when no task matched. Docker's commands that take several references print the tasks of the
   * ones found and then fail for the others, but print no empty table before the error.
   */
  printWhenEmpty: boolean;
}

/** Docker's name for a node in task listings: the name it was given, else its hostname. */
export function nodeDisplayName(node: Node): string {
  return node.Spec.Name || node.Description.Hostname || node.ID;
}

/** Lists the tasks matching the command's filters and the user's, in the form the flags ask for. */
export async function listTasks(ctx: CommandContext, listing: TaskListing): Promise<void> {
  const { options } = ctx.args;
  const format = parseOutputFormat(stringOption(options, 'format'));
  const quiet = booleanOption(options, 'quiet');
  const noTrunc = booleanOption(options, 'no-trunc');
  const resolve = !booleanOption(options, 'no-resolve');
  const api = ctx.api();
  const tasks = await api.get<Task[]>('/tasks', { filters: filtersQuery(listOption(options, 'filter'), listing.filters) });
  if (tasks.length === 0 && !listing.printWhenEmpty) return;

  const services = resolve && tasks.length > 0 ? (listing.services ?? (await api.get<Service[]>('/services'))) : [];
  const serviceNames = new Map(services.map((service) => [service.ID, service.Spec.Name]));
  if (quiet) {
    ctx.out(renderTaskIds(tasks, serviceNames, listing.quietFullIds || noTrunc));
    return;
  }
  const nodes = resolve && tasks.length > 0 ? await api.get<Node[]>('/nodes') : [];
  const nodeNames = new Map(nodes.map((node) => [node.ID, nodeDisplayName(node)]));
  ctx.out(renderTaskTable(tasks, { serviceNames, nodeNames, now: ctx.now(), noTrunc }, format));
}
