/** Node addresses as the transport prints and parses them: "ip:port", "[ipv6]:port". */

import { invalidArgument } from '../errors.ts';

/** "ip:port" for logs and for `remoteAddress`; IPv6 in brackets, IPv4-mapped IPv6 shown as IPv4. */
export function formatAddress(ip: string | undefined, port: number | undefined): string {
  const host = unmapIp(ip ?? 'unknown');
  return host.includes(':') ? `[${host}]:${port ?? 0}` : `${host}:${port ?? 0}`;
}

export function unmapIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** Splits "host:port" or "[v6]:port". Throws on anything else: a bad address is the caller's mistake. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) throw invalidArgument(`"${address}" is not a node address: expected host:port or [ipv6]:port`);
  return { host: match[1] ?? match[2]!, port };
}
