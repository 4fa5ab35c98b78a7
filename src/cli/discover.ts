/**
 * `swarmlet discover`: list the swarmlet daemons on the local network, found over mDNS. It browses directly —
 * no daemon needed — so it also answers "is my new Pi there, and at which address?" before anything is joined.
 *
 * The interface flags mirror the daemon's: `--interface NAME` (repeatable) or `--advertise-addr IP`; without
 * them every LAN interface is used, container bridges and tunnels skipped. The table follows the docker CLI's
 * conventions (12-character IDs, `--format json` with one object per row); a daemon in no cluster shows `-`.
 */

import { browse } from '../discovery/browse.ts';
import { interfaceChoice } from '../discovery/interfaces.ts';
import type { Peer } from '../discovery/peer-cache.ts';
import { invalidArgument } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';
import type { CommandSpec } from './command.ts';
import { listOption, stringOption } from './flags.ts';
import { type OutputFormat, parseOutputFormat, rowsAsJson, shortId } from './format.ts';
import { renderTable } from './table.ts';

const DEFAULT_TIMEOUT = '3s';
export const DISCOVER_HEADER = ['CLUSTER', 'NODE ID', 'HOSTNAME', 'ROLE', 'ADDRESS'] as const;

/** The peers as a table or JSON lines; JSON carries the full cluster digest and node ID. */
export function renderPeers(peers: readonly Peer[], format: OutputFormat): string {
  const sorted = [...peers].sort((a, b) => a.cluster.localeCompare(b.cluster) || a.hostname.localeCompare(b.hostname) || a.nodeId.localeCompare(b.nodeId));
  const address = (peer: Peer) => peer.addresses.map((ip) => `${ip}:${peer.port}`).join(',');
  if (format === 'json') {
    return rowsAsJson(
      [...DISCOVER_HEADER],
      sorted.map((peer) => [peer.cluster, peer.nodeId, peer.hostname, peer.role, address(peer)]),
    );
  }
  return renderTable(
    DISCOVER_HEADER,
    sorted.map((peer) => [peer.cluster === '' ? '-' : shortId(peer.cluster), shortId(peer.nodeId), peer.hostname, peer.role, address(peer)]),
  );
}

function timeoutMs(text: string): number {
  const ms = parseDuration(text) / 1e6;
  if (!(ms >= 100 && ms <= 60_000)) throw invalidArgument(`invalid --timeout "${text}": give a duration between 100ms and 1m (e.g. 3s)`);
  return ms;
}

export const discoverCommand: CommandSpec = {
  name: 'discover',
  description: 'Find swarmlet daemons on the local network over mDNS (needs no daemon)',
  options: [
    { name: 'timeout', value: 'DURATION', description: `How long to listen for answers (default "${DEFAULT_TIMEOUT}")` },
    { name: 'interface', value: 'NAME', multiple: true, description: 'Network interface to search on (repeatable; default: every LAN interface, container bridges skipped)' },
    { name: 'advertise-addr', value: 'IP', description: 'Search on the interface that holds this address' },
    { name: 'format', value: 'FORMAT', description: 'Output format: table (default) or json (one object per row)' },
  ],
  examples: ['swarmlet discover', 'swarmlet discover --interface eth0 --timeout 5s'],
  async run(ctx) {
    const { options } = ctx.args;
    const format = parseOutputFormat(stringOption(options, 'format'));
    const timeout = stringOption(options, 'timeout') ?? DEFAULT_TIMEOUT;
    const interfaces = interfaceChoice({ interfaces: listOption(options, 'interface'), advertiseAddr: stringOption(options, 'advertise-addr') });
    if (interfaces.mode === 'off') throw invalidArgument('--interface off: there is nothing to search on; name an interface');
    const peers = await browse({ timeoutMs: timeoutMs(timeout), interfaces });
    ctx.out(renderPeers(peers, format));
    if (peers.length === 0 && format === 'table') ctx.err(`No swarmlet daemon answered within ${timeout}.\n`);
  },
};
