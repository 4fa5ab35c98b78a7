/**
 * `network ls` and `network inspect --pretty`: the table NETWORK ID NAME DRIVER SCOPE as the docker CLI prints it
 * (sorted by name in natural order, IDs cut to 12 characters unless --no-trunc), its `--format json` rows with
 * docker's fields, and a short human-readable form of one network (a swarmlet addition: docker has none).
 */

import { naturalCompare, type OutputFormat, shortId } from '../format.ts';
import { renderTable } from '../table.ts';

/** A network as GET /networks and GET /networks/{id} answer (Docker's NetworkResource); the fields shown here. */
export interface NetworkResource {
  Id: string;
  Name: string;
  Driver?: string;
  Scope?: string;
  Created?: string;
  EnableIPv4?: boolean;
  EnableIPv6?: boolean;
  Internal?: boolean;
  Attachable?: boolean;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; Gateway?: string; IPRange?: string }> | null } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export const NETWORK_LS_HEADER = ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'];

const sorted = (networks: readonly NetworkResource[]) => [...networks].sort((a, b) => naturalCompare(a.Name, b.Name));
const idCell = (network: NetworkResource, noTrunc: boolean) => (noTrunc ? network.Id : shortId(network.Id));

/**
 * `2026-01-01T00:00:00.5Z` as Go's time.String() prints it, which is docker's CreatedAt: `2026-01-01 00:00:00.5
 * +0000 UTC` (an offset without a zone name is printed twice, as Go does).
 */
export function goTimeString(rfc3339: string): string {
  const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!match) return rfc3339;
  const [, date, time, fraction = '', zone] = match;
  const trimmed = fraction.replace(/0+$/, '');
  const offset = zone === 'Z' ? '+0000 UTC' : `${zone!.replace(':', '')} ${zone!.replace(':', '')}`;
  return `${date} ${time}${trimmed ? `.${trimmed}` : ''} ${offset}`;
}

/** The docker CLI's `network ls --format json` row: its fields, as strings, in Go's sorted order. */
function jsonRow(network: NetworkResource, noTrunc: boolean): string {
  const labels = Object.entries(network.Labels ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .sort()
    .join(',');
  return `${JSON.stringify({
    CreatedAt: network.Created ? goTimeString(network.Created) : '',
    Driver: network.Driver ?? '',
    ID: idCell(network, noTrunc),
    IPv4: String(network.EnableIPv4 ?? true),
    IPv6: String(network.EnableIPv6 ?? false),
    Internal: String(network.Internal ?? false),
    Labels: labels,
    Name: network.Name,
    Scope: network.Scope ?? '',
  })}\n`;
}

export function renderNetworkTable(networks: readonly NetworkResource[], format: OutputFormat = 'table', noTrunc = false): string {
  const list = sorted(networks);
  if (format === 'json') return list.map((network) => jsonRow(network, noTrunc)).join('');
  return renderTable(
    NETWORK_LS_HEADER,
    list.map((network) => [idCell(network, noTrunc), network.Name, network.Driver ?? '', network.Scope ?? '']),
  );
}

/** `network ls -q`: the IDs alone, in the table's order. */
export function networkIds(networks: readonly NetworkResource[], noTrunc = false): string {
  return sorted(networks)
    .map((network) => `${idCell(network, noTrunc)}\n`)
    .join('');
}

/** `network inspect --pretty`: what a user checks after `network create`. */
export function prettyNetwork(network: NetworkResource): string {
  const lines = [`ID:\t\t${network.Id}`, `Name:\t\t${network.Name}`, `Driver:\t\t${network.Driver ?? ''}`, `Scope:\t\t${network.Scope ?? ''}`];
  if (network.Attachable !== undefined) lines.push(`Attachable:\t${network.Attachable}`);
  if (network.Internal) lines.push('Internal:\ttrue');
  for (const config of network.IPAM?.Config ?? []) {
    if (config.Subnet) lines.push(`Subnet:\t\t${config.Subnet}`);
    if (config.Gateway) lines.push(`Gateway:\t${config.Gateway}`);
  }
  const pairs = (map: Record<string, string> | null | undefined) =>
    Object.keys(map ?? {})
      .sort()
      .map((key) => ` ${key}${map![key] ? `=${map![key]}` : ''}`);
  const labels = pairs(network.Labels);
  if (labels.length > 0) lines.push('Labels:', ...labels);
  const options = pairs(network.Options);
  if (options.length > 0) lines.push('Options:', ...options);
  return `${lines.join('\n')}\n`;
}
