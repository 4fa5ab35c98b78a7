/**
 * GET /services/{id}/logs and /tasks/{id}/logs: a service's (or a task's) output from every node, in Docker's
 * multiplexed stream format, so `docker service logs` works through the swarmlet socket as it does against
 * Docker. The gathering is LogGather's (src/cluster/log-gather.ts); this file reads the query as Docker's daemon
 * reads it, picks the tasks, and ties the gather to the HTTP response: its backpressure, and its end — when every
 * node's stream has ended, or, when following, when the client goes away or the service is removed.
 */

import type { ServerResponse } from 'node:http';
import type { Task } from '../types.ts';
import { invalidArgument, notFound, unavailable } from '../../errors.ts';
import { LogGather, type GatherRequest } from '../../cluster/log-gather.ts';
import type { ContainerLogOptions } from '../../cluster/log-streams.ts';
import type { ClusterState } from '../../manager/state/cluster-state.ts';
import { findService, requireSwarm } from '../../manager/state/queries.ts';
import type { ApiContext } from '../context.ts';
import type { Router } from '../router.ts';

/** Docker's reading of a boolean query parameter: anything but empty, 0, no, false or none is true. */
function queryFlag(query: URLSearchParams, name: string): boolean {
  const value = (query.get(name) ?? '').trim().toLowerCase();
  return !['', '0', 'no', 'false', 'none'].includes(value);
}

/** The query as Docker's daemon takes it; a malformed value is a 400 naming it. */
export function parseLogQuery(query: URLSearchParams): { options: ContainerLogOptions; details: boolean } {
  const stdout = queryFlag(query, 'stdout');
  const stderr = queryFlag(query, 'stderr');
  if (!stdout && !stderr) throw invalidArgument('Bad parameters: you must choose at least one stream');
  const since = query.get('since')?.trim() || undefined;
  if (since !== undefined && !/^\d{1,12}(?:\.\d{1,9})?$/.test(since)) {
    throw invalidArgument(`invalid value for "since": ${JSON.stringify(since)} is not a Unix timestamp (seconds[.nanoseconds])`);
  }
  const rawTail = query.get('tail')?.trim() || 'all';
  if (rawTail !== 'all' && !/^-?\d{1,9}$/.test(rawTail)) throw invalidArgument(`invalid value for "tail": ${JSON.stringify(rawTail)} is not a number or "all"`);
  // A negative tail means all of it, as for Docker's container logs.
  const tail = rawTail === 'all' || rawTail.startsWith('-') ? 'all' : String(Number(rawTail));
  return {
    options: { stdout, stderr, follow: queryFlag(query, 'follow'), timestamps: queryFlag(query, 'timestamps'), since, tail },
    details: queryFlag(query, 'details'),
  };
}

function findTask(state: ClusterState, ref: string): Task {
  requireSwarm(state);
  const task = state.tasks[ref] ?? Object.values(state.tasks).find((t) => t.ID.startsWith(ref));
  if (!task) throw notFound(`task ${ref} not found`);
  return task;
}

/** A node whose tasks cannot be asked for: known to be down (dialling it would only wait out a deadline). */
function downNode(state: ClusterState, nodeId: string): string | undefined {
  const node = state.nodes[nodeId];
  if (node?.Status.State !== 'down') return undefined;
  return `node ${node.Description.Hostname || nodeId} is down: the logs of its tasks cannot be read until it is back`;
}

interface Selection {
  /** Whether the spec gives the containers a TTY: then the stream is raw bytes, not frames, as in Docker. */
  tty: boolean;
  /** The tasks wanted, from the current state; undefined once the service is gone. */
  tasks(state: ClusterState): Task[] | undefined;
}

async function serveLogs(ctx: ApiContext, res: ServerResponse, query: URLSearchParams, select: (state: ClusterState) => Selection): Promise<void> {
  await ctx.proposer.read();
  const selection = select(ctx.proposer.state);
  const { options, details } = parseLogQuery(query);
  const opener = ctx.taskLogs?.();
  if (!opener) throw unavailable('this node cannot gather task logs: it is not connected to the cluster yet; try again in a moment');
  const mux = !selection.tty;
  const request: GatherRequest = { options, details, mux };
  res.writeHead(200, { 'Content-Type': mux ? 'application/vnd.docker.multiplexed-stream' : 'application/vnd.docker.raw-stream' });
  // The status goes out now, so a client following an idle service is not left waiting for a first line.
  res.flushHeaders();
  const gather = new LogGather(opener, request, { write: (bytes) => res.write(bytes), end: () => res.end() }, ctx.now);
  res.on('drain', () => gather.drained());
  const check = (nodeId: string) => downNode(ctx.proposer.state, nodeId);
  let stopWatching = () => {};
  res.once('close', () => {
    stopWatching();
    gather.close();
  });
  gather.add(selection.tasks(ctx.proposer.state) ?? [], check);
  if (!options.follow) {
    gather.seal();
    return;
  }
  stopWatching = ctx.proposer.watch(() => {
    const tasks = selection.tasks(ctx.proposer.state);
    if (tasks) return gather.add(tasks, check);
    // The service was removed: nothing more will come.
    gather.close();
    res.end();
  });
}

export function logRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/services/{id}/logs', ({ res, params, query }) =>
    serveLogs(ctx, res, query, (state) => {
      const service = findService(state, params.id!);
      return {
        tty: service.Spec.TaskTemplate.ContainerSpec.TTY === true,
        tasks: (now) => (now.services[service.ID] ? Object.values(now.tasks).filter((task) => task.ServiceID === service.ID) : undefined),
      };
    }),
  );

  router.add('GET', '/tasks/{id}/logs', ({ res, params, query }) =>
    serveLogs(ctx, res, query, (state) => {
      const task = findTask(state, params.id!);
      return {
        tty: task.Spec.ContainerSpec?.TTY === true,
        tasks: (now) => (now.tasks[task.ID] ? [now.tasks[task.ID]!] : undefined),
      };
    }),
  );
}
