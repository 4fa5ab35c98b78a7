/**
 * `node ls`'s table: ID HOSTNAME STATUS AVAILABILITY MANAGER STATUS ENGINE VERSION, as the docker CLI prints it
 * (the node the CLI talks to marked `ID *`, rows sorted by hostname in natural order, states capitalised).
 *
 * One addition, in the table only: a node whose engine cannot enforce memory limits says so in its STATUS cell,
 * `Ready (no memory limits)`, since tasks with a memory limit or reservation will not be placed there and that is
 * otherwise found out only from a pending task. Other rows, and `--format json` (which scripts match on), are
 * Docker's to the byte.
 */

import type { Node } from '../../api/types.ts';
import { capitalize, naturalCompare, type OutputFormat, rowsAsJson } from '../format.ts';
import { renderTable } from '../table.ts';

/** Appended to STATUS for a node whose memory cgroup is off; `node inspect --pretty` says how to turn it on. */
export const NO_MEMORY_LIMITS = ' (no memory limits)';

export const NODE_LS_HEADER = ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION'];

/** `Leader`, else the manager's reachability (`Reachable`, `Unreachable`); empty for workers. */
export function managerStatusCell(node: Node): string {
  if (!node.ManagerStatus) return '';
  if (node.ManagerStatus.Leader) return 'Leader';
  return capitalize(node.ManagerStatus.Reachability);
}

/**
 * @param selfId the ID of the node the daemon runs on (GET /info's Swarm.NodeID).
 * @param marks whether STATUS carries swarmlet's memory-limit marker (the table) or only Docker's state (JSON).
 */
export function nodeRows(nodes: readonly Node[], selfId: string | undefined, marks = true): string[][] {
  return [...nodes]
    .sort((a, b) => naturalCompare(a.Description.Hostname, b.Description.Hostname))
    .map((node) => [
      // Docker's template writes `ID *` for the current node and `ID  ` for the others.
      `${node.ID} ${node.ID === selfId ? '*' : ' '}`,
      node.Description.Hostname,
      `${capitalize(node.Status.State)}${marks && node.Description.MemoryLimit === false ? NO_MEMORY_LIMITS : ''}`,
      capitalize(node.Spec.Availability),
      managerStatusCell(node),
      node.Description.Engine.EngineVersion,
    ]);
}

export function renderNodeTable(nodes: readonly Node[], selfId: string | undefined, format: OutputFormat = 'table'): string {
  if (format === 'table') return renderTable(NODE_LS_HEADER, nodeRows(nodes, selfId));
  // As docker does: the bare ID, and a Self field instead of the star.
  const rows = nodeRows(nodes, undefined, false).map(([id, ...rest]) => [id!.trim(), ...rest]);
  // TLSStatus says whether a node's certificate is from the current root; certificates arrive with membership.
  return rowsAsJson(NODE_LS_HEADER, rows, (i) => ({ Self: rows[i]![0] === selfId, TLSStatus: 'Unknown' }));
}
