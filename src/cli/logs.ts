/**
 * `swarmlet service logs [OPTIONS] SERVICE|TASK`: a service's or a task's output from every node, printed as the
 * docker CLI prints it — `name.slot.id@node    | message` — with Docker's flags.
 *
 * Like the docker CLI, it looks the reference up as a service, then as a task; asks the daemon for the stream
 * with the task context on every line (`details`), unless --raw; and turns each context into a name with the API
 * (node names, service names and slots, each looked up once). A TTY service's logs are raw bytes with no
 * context, so they are shown only with --raw, as docker does.
 */

import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { Node, Service, Task } from '../api/types.ts';
import { CONTEXT_KEYS, FrameParser, parseDetailedLine, STREAM } from '../cluster/log-frames.ts';
import { invalidArgument, SwarmletError } from '../errors.ts';
import { API_VERSION } from '../version.ts';
import type { ApiClient } from './api-client.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import { type OptionSpec, booleanOption, stringOption } from './flags.ts';
import { shortId } from './format.ts';
import { apiTimestamp } from './timestamp.ts';

const OPTIONS: OptionSpec[] = [
  { name: 'details', description: 'Show extra details provided to logs' },
  { name: 'follow', short: 'f', description: 'Follow log output' },
  { name: 'no-resolve', description: 'Do not map IDs to Names in output' },
  { name: 'no-task-ids', description: 'Do not include task IDs in output' },
  { name: 'no-trunc', description: 'Do not truncate output' },
  { name: 'raw', description: 'Do not neatly format logs' },
  { name: 'since', value: 'TIME', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  { name: 'tail', short: 'n', value: 'N', description: 'Number of lines to show from the end of the logs (default "all")' },
  { name: 'timestamps', short: 't', description: 'Show timestamps' },
];

export interface LogsFlags {
  details: boolean;
  noResolve: boolean;
  noTaskIds: boolean;
  noTrunc: boolean;
  timestamps: boolean;
}

/** Digits of a number in base 10: how wide slot numbers are padded. */
const digits = (n: number) => String(Math.max(0, Math.trunc(n))).length;

/** Turns a line's task context into `name.slot.id@node`, asking the API once per context, as docker does. */
export class TaskNamer {
  readonly #api: Pick<ApiClient, 'get'>;
  readonly #flags: LogsFlags;
  readonly #width: number;
  readonly #cache = new Map<string, Promise<string>>();

  constructor(api: Pick<ApiClient, 'get'>, flags: LogsFlags, width: number) {
    this.#api = api;
    this.#flags = flags;
    this.#width = width;
  }

  name(nodeId: string, serviceId: string, taskId: string): Promise<string> {
    const key = `${nodeId} ${serviceId} ${taskId}`;
    let named = this.#cache.get(key);
    if (!named) {
      named = this.#resolve(nodeId, serviceId, taskId);
      this.#cache.set(key, named);
    }
    return named;
  }

  async #resolve(nodeId: string, serviceId: string, taskId: string): Promise<string> {
    const resolve = this.#flags.noResolve;
    const [node, service, task] = await Promise.all([
      resolve ? nodeId : this.#api.get<Node>(`/nodes/${encodeURIComponent(nodeId)}`).then((n) => n.Spec.Name || n.Description.Hostname || nodeId, () => nodeId),
      resolve ? serviceId : this.#api.get<Service>(`/services/${encodeURIComponent(serviceId)}`).then((s) => s.Spec.Name, () => serviceId),
      this.#api.get<Task>(`/tasks/${encodeURIComponent(taskId)}`).catch(() => undefined),
    ]);
    const slot = task?.Slot ?? 0;
    const id = this.#flags.noTaskIds ? '' : `.${this.#flags.noTrunc ? taskId : shortId(taskId)}`;
    return `${service}.${slot}${id}@${node}${' '.repeat(Math.max(0, this.#width - digits(slot)))}`;
  }
}

/**
 * One line of a details stream as docker prints it: `[timestamp ]name.slot.id@node    | [details ]message`.
 * A line without a task context is printed as it came.
 */
export async function formatLine(line: string, flags: LogsFlags, namer: TaskNamer): Promise<string> {
  const parsed = parseDetailedLine(line, flags.timestamps);
  const context = parsed && [CONTEXT_KEYS.nodeId, CONTEXT_KEYS.serviceId, CONTEXT_KEYS.taskId].map((key) => parsed.details.get(key));
  if (!parsed || !context || context.some((value) => value === undefined)) return line;
  const [nodeId, serviceId, taskId] = context as string[];
  let output = parsed.timestamp !== undefined ? `${parsed.timestamp} ` : '';
  output += `${await namer.name(nodeId!, serviceId!, taskId!)}    | `;
  if (flags.details) {
    const rest = [...parsed.details].filter(([key]) => !Object.values(CONTEXT_KEYS).includes(key as never)).map(([key, value]) => `${key}=${value}`);
    output += `${rest.sort().join(',')} `;
  }
  return output + parsed.message;
}

/** GETs a stream from the daemon: the response once its status says it is one; an API error otherwise. */
function openStream(api: ApiClient, path: string, query: Record<string, string | undefined>): Promise<http.IncomingMessage> {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, value);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: api.socketPath, method: 'GET', path: `/v${API_VERSION}${path}?${search}`, headers: { Host: 'swarmlet' } }, (res) => {
      if ((res.statusCode ?? 0) < 400) return resolve(res);
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let message = text.trim() || `GET ${path}: the daemon answered HTTP ${res.statusCode}`;
        try {
          message = (JSON.parse(text) as { message?: string }).message ?? message;
        } catch {
          // Not JSON: the text itself.
        }
        reject(new SwarmletError(res.statusCode === 404 ? 'not_found' : res.statusCode === 400 ? 'invalid_argument' : 'unavailable', message));
      });
    });
    req.on('error', (err) => reject(new SwarmletError('unavailable', `lost the connection to the swarmlet daemon at unix://${api.socketPath}: ${err.message}`, { cause: err })));
    req.end();
  });
}

const isNotFound = (err: unknown) => err instanceof SwarmletError && err.code === 'not_found';

/** The service or task a reference names, looked up in that order (as docker does). */
async function findTarget(api: ApiClient, ref: string): Promise<{ path: string; tty: boolean; width: number }> {
  try {
    const service = await api.get<Service>(`/services/${encodeURIComponent(ref)}`);
    const replicas = service.Spec.Mode?.Replicated?.Replicas;
    return { path: `/services/${service.ID}/logs`, tty: service.Spec.TaskTemplate.ContainerSpec.TTY === true, width: replicas === undefined ? 1 : digits(replicas) };
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    const task = await api.get<Task>(`/tasks/${encodeURIComponent(ref)}`);
    return { path: `/tasks/${task.ID}/logs`, tty: task.Spec.ContainerSpec?.TTY === true, width: digits(task.Slot ?? 0) };
  } catch (err) {
    if (isNotFound(err)) throw new SwarmletError('not_found', `no such task or service: ${ref}`);
    throw err;
  }
}

export const logsCommand: CommandSpec = {
  name: 'logs',
  args: '<service|task>',
  description: 'Fetch the logs of a service or task',
  options: OPTIONS,
  examples: ['swarmlet service logs -f --tail 20 back', 'swarmlet service logs --since 10m -t back'],
  async run(ctx: CommandContext) {
    const { options } = ctx.args;
    const raw = booleanOption(options, 'raw');
    const flags: LogsFlags = {
      details: booleanOption(options, 'details'),
      noResolve: booleanOption(options, 'no-resolve'),
      noTaskIds: booleanOption(options, 'no-task-ids'),
      noTrunc: booleanOption(options, 'no-trunc'),
      timestamps: booleanOption(options, 'timestamps'),
    };
    const since = stringOption(options, 'since');
    const api = ctx.api();
    const target = await findTarget(api, ctx.args.positionals[0]!);
    if (target.tty && !raw) throw invalidArgument('tty service logs only supported with --raw');
    const res = await openStream(api, target.path, {
      stdout: '1',
      stderr: '1',
      follow: booleanOption(options, 'follow') ? '1' : undefined,
      timestamps: flags.timestamps ? '1' : undefined,
      // The context is what names each line; --raw without --details goes without it.
      details: flags.details || !raw ? '1' : undefined,
      since: since ? apiTimestamp(since, ctx.now(), 'since') : undefined,
      tail: stringOption(options, 'tail') ?? 'all',
    });
    if (target.tty) {
      const decoder = new StringDecoder('utf8');
      for await (const chunk of res) ctx.out(decoder.write(chunk as Buffer));
      ctx.out(decoder.end());
      return;
    }
    const namer = new TaskNamer(api, flags, target.width);
    const parser = new FrameParser();
    for await (const chunk of res) {
      for (const { stream, payload } of parser.push(chunk as Buffer)) {
        const text = Buffer.from(payload).toString('utf8');
        if (stream === STREAM.systemerr) throw new SwarmletError('internal', `error from daemon in stream: ${text}`);
        const line = raw ? text : await formatLine(text, flags, namer);
        if (stream === STREAM.stderr) ctx.err(line);
        else ctx.out(line);
      }
    }
  },
};
