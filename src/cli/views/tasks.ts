/**
 * `service ps`'s and `node ps`'s table: ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR PORTS, as the docker CLI
 * prints it.
 *
 * Docker's rules, reproduced: a task is named SERVICE.SLOT (SERVICE.NODEID for global services); tasks are sorted
 * by that name in natural order, newest first within a name, and the older tasks of a slot are indented as
 * ` \_ back.1` so a slot's history reads as a list; errors are quoted and, unless `--no-trunc`, cut to 30
 * characters with `…`; NODE shows the node's hostname.
 */

import type { Task } from '../../api/types.ts';
import { capitalize, displayImage, naturalCompare, type OutputFormat, rowsAsJson, shortId, stateSince } from '../format.ts';
import { renderTable } from '../table.ts';

export const SERVICE_PS_HEADER = ['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR', 'PORTS'];

/** Docker's limit for the ERROR column before it truncates. */
const MAX_ERROR_LENGTH = 30;

export interface TaskViewContext {
  /** Service ID → name; a service not in it is shown by its ID (`--no-resolve`). */
  serviceNames: ReadonlyMap<string, string>;
  /** Node ID → name or hostname; a node not in it is shown by its ID. */
  nodeNames: ReadonlyMap<string, string>;
  /** Milliseconds since the epoch. */
  now: number;
  noTrunc: boolean;
}

/** SERVICE.SLOT, or SERVICE.NODEID for a global service's task. */
export function taskName(task: Task, serviceNames: ReadonlyMap<string, string>): string {
  const service = serviceNames.get(task.ServiceID) ?? task.ServiceID;
  return task.Slot ? `${service}.${task.Slot}` : `${service}.${task.NodeID ?? ''}`;
}

/** The ERROR cell: quoted, and cut to Docker's 30 characters unless `--no-trunc`. */
export function errorCell(err: string | undefined, noTrunc: boolean): string {
  if (!err) return '';
  const chars = [...err];
  const shown = !noTrunc && chars.length > MAX_ERROR_LENGTH ? `${chars.slice(0, MAX_ERROR_LENGTH - 1).join('')}…` : err;
  return `"${shown}"`;
}

/** The PORTS cell: the host-mode ports the task's node bound, as `*:8080->80/tcp`, comma-separated. */
export function taskPortsCell(task: Task): string {
  return (task.Status.PortStatus?.Ports ?? []).map((port) => `*:${port.PublishedPort}->${port.TargetPort}/${port.Protocol ?? 'tcp'}`).join(',');
}

/** Tasks in Docker's display order, each with its (possibly indented) name. */
export function orderTasks(tasks: readonly Task[], serviceNames: ReadonlyMap<string, string>): Array<{ task: Task; name: string }> {
  const named = tasks.map((task) => ({ task, name: taskName(task, serviceNames) }));
  named.sort((a, b) => naturalCompare(a.name, b.name) || Date.parse(b.task.CreatedAt) - Date.parse(a.task.CreatedAt));
  return named.map(({ task, name }, i) => ({ task, name: i > 0 && named[i - 1]!.name === name ? ` \\_ ${name}` : name }));
}

/** `ps -q`: the task IDs, one a line, in the table's order. */
export function renderTaskIds(tasks: readonly Task[], serviceNames: ReadonlyMap<string, string>, noTrunc: boolean): string {
  return orderTasks(tasks, serviceNames)
    .map(({ task }) => `${noTrunc ? task.ID : shortId(task.ID)}\n`)
    .join('');
}

export function taskRows(tasks: readonly Task[], view: TaskViewContext): string[][] {
  return orderTasks(tasks, view.serviceNames).map(({ task, name }) => {
    const image = task.Spec.ContainerSpec.Image;
    return [
      view.noTrunc ? task.ID : shortId(task.ID),
      name,
      view.noTrunc ? image : displayImage(image),
      task.NodeID ? (view.nodeNames.get(task.NodeID) ?? task.NodeID) : '',
      capitalize(task.DesiredState),
      stateSince(task.Status.State, task.Status.Timestamp, view.now),
      errorCell(task.Status.Err, view.noTrunc),
      taskPortsCell(task),
    ];
  });
}

export function renderTaskTable(tasks: readonly Task[], view: TaskViewContext, format: OutputFormat = 'table'): string {
  if (format === 'json') return rowsAsJson(SERVICE_PS_HEADER, taskRows(tasks, view));
  return renderTable(SERVICE_PS_HEADER, taskRows(tasks, view));
}
