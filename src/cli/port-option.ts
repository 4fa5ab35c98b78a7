/**
 * `--publish`: Docker's two syntaxes for a published port, read as the docker CLI reads them, so a flag that works
 * with `docker service create` makes the same ports here.
 *
 * The long syntax is comma-separated `key=value` fields (`published=8080,target=80,protocol=udp,mode=host`,
 * keys case-insensitive, target required, tcp and ingress by default). The short syntax is `docker run -p`'s
 * `[PUBLISHED:]TARGET[/PROTOCOL]`, where either side may be a range: `8080:80`, `53:53/udp`, `80` (the manager
 * picks the published port), `8000-8001:80-81`. A host address in front (`127.0.0.1:8080:80`) is refused as Docker
 * refuses it: a service's port is open on every address of the node.
 */

import type { EndpointPortConfig } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';

type Protocol = NonNullable<EndpointPortConfig['Protocol']>;
const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'sctp'];
const MAX_PORT = 65535;

/** Go's `\w+=\w+`: the docker CLI takes a value with one `key=value` in it for the long syntax. */
const LONG_SYNTAX = /[0-9A-Za-z_]+=[0-9A-Za-z_]+/;

/** Parses one `--publish` value (`flag` names the flag in messages); a range in the short syntax makes several ports. */
export function parsePublish(text: string, flag = '-p, --publish'): EndpointPortConfig[] {
  try {
    return LONG_SYNTAX.test(text) ? [parseLong(text)] : parseShort(text);
  } catch (err) {
    throw invalidArgument(`invalid argument "${text}" for "${flag}" flag: ${(err as Error).message}`);
  }
}

/** A port as the docker CLI sends it: fields in Docker's order, a published port of 0 left out. */
function portConfig(protocol: Protocol, target: number, published: number, mode: 'ingress' | 'host'): EndpointPortConfig {
  return { Protocol: protocol, TargetPort: target, ...(published ? { PublishedPort: published } : {}), PublishMode: mode };
}

function parseLong(text: string): EndpointPortConfig {
  let protocol: Protocol = 'tcp';
  let mode: 'ingress' | 'host' = 'ingress';
  let target = 0;
  let published = 0;
  for (const field of text.split(',')) {
    const lower = field.toLowerCase();
    const equals = lower.indexOf('=');
    if (equals <= 0) throw new Error(`invalid field: ${field}`);
    const key = lower.slice(0, equals);
    const value = lower.slice(equals + 1);
    switch (key) {
      case 'protocol':
        if (!PROTOCOLS.includes(value)) throw new Error(`invalid protocol value '${value}'`);
        protocol = value as Protocol;
        break;
      case 'mode':
        if (value !== 'ingress' && value !== 'host') throw new Error(`invalid publish mode value (${value}): must be either 'ingress' or 'host'`);
        mode = value;
        break;
      case 'target':
        target = portNumber(value, 'target port');
        break;
      case 'published':
        published = portNumber(value, 'published port');
        break;
      default:
        throw new Error(`invalid field key: ${key}`);
    }
  }
  if (target === 0) throw new Error("missing mandatory field 'target'");
  return portConfig(protocol, target, published, mode);
}

/** Go's `strconv.ParseUint(value, 10, 16)`, with the docker CLI's wording for its two failures. */
function portNumber(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`invalid ${what} (${value}): value must be an integer: invalid syntax`);
  const port = Number(value);
  if (port > MAX_PORT) throw new Error(`invalid ${what} (${value}): value must be an integer: value out of range`);
  return port;
}

function parseShort(text: string): EndpointPortConfig[] {
  const [raw = '', protocolPart] = text.split('/');
  const protocol = protocolPart ? protocolPart.toLowerCase() : 'tcp';
  const parts = raw.split(':');
  const container = parts[parts.length - 1]!;
  const host = parts.length > 1 ? parts[parts.length - 2]! : '';
  const address = parts.slice(0, -2).join(':');
  if (container === '') throw new Error(`no port specified: ${raw}<empty>`);
  const targets = portRange(container, `invalid containerPort: ${container}`);
  const publishedRange = host === '' ? undefined : portRange(host, `invalid hostPort: ${host}`);
  if (publishedRange && targets.length > 1 && publishedRange.length !== targets.length) {
    throw new Error(`invalid ranges specified for container and host Ports: ${container} and ${host}`);
  }
  if (!PROTOCOLS.includes(protocol)) throw new Error(`invalid proto: ${protocolPart}`);
  if (address !== '') throw new Error('hostip is not supported');

  const result: EndpointPortConfig[] = [];
  for (const [i, target] of targets.entries()) {
    if (!publishedRange) result.push(portConfig(protocol as Protocol, target, 0, 'ingress'));
    // Equal ranges pair up; one target behind a range of published ports is published on each of them.
    else if (publishedRange.length === targets.length) result.push(portConfig(protocol as Protocol, target, publishedRange[i]!, 'ingress'));
    else for (const published of publishedRange) result.push(portConfig(protocol as Protocol, target, published, 'ingress'));
  }
  return result;
}

/** `80` or `8000-8010` into its ports. */
function portRange(text: string, message: string): number[] {
  const [startText = '', endText, ...rest] = text.split('-');
  const parse = (part: string) => {
    if (!/^\d+$/.test(part) || Number(part) > MAX_PORT) throw new Error(message);
    return Number(part);
  };
  if (rest.length > 0) throw new Error(message);
  const start = parse(startText);
  const end = endText === undefined ? start : parse(endText);
  if (end < start) throw new Error(message);
  return Array.from({ length: end - start + 1 }, (_, i) => start + i);
}

/** Docker's key for a port in `service update`: `published:target/protocol/mode`, unset fields empty. */
function portKey(port: EndpointPortConfig): string {
  return `${port.PublishedPort ?? 0}:${port.TargetPort}/${port.Protocol ?? ''}/${port.PublishMode ?? ''}`;
}

/**
 * `service update --publish-add/--publish-rm` on a spec's ports, with the docker CLI's rules: a port is removed by
 * its target port, protocol and mode (whatever it is published on, so `--publish-rm 80` removes `8080:80`); a port
 * already there is not added twice; and the result is sorted by its key, so the same flags make the same spec.
 */
export function updatePorts(
  current: readonly EndpointPortConfig[],
  add: readonly EndpointPortConfig[],
  remove: readonly EndpointPortConfig[],
): EndpointPortConfig[] {
  const existing = new Map<string, EndpointPortConfig>();
  for (const port of current) if (!existing.has(portKey(port))) existing.set(portKey(port), port);
  const removed = (port: EndpointPortConfig) =>
    remove.some(
      (gone) =>
        gone.TargetPort === port.TargetPort &&
        (gone.Protocol || 'tcp') === (port.Protocol || 'tcp') &&
        (gone.PublishMode || 'ingress') === (port.PublishMode || 'ingress'),
    );
  const kept = [...existing.values()].filter((port) => !removed(port));
  const added = add.filter((port) => !existing.has(portKey(port)));
  return [...kept, ...added].sort((a, b) => (portKey(a) < portKey(b) ? -1 : portKey(a) > portKey(b) ? 1 : 0));
}
