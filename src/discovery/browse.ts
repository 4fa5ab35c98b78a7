/**
 * One-shot browse: "which swarmlet daemons are on my links right now?", for `swarmlet discover` and for a node
 * looking for the managers of the cluster its join token names. Needs no daemon.
 *
 * It queries from an ephemeral port on each chosen interface (network.ts, `oneshot`), so responders answer it by
 * unicast at once — no contention for port 5353 with a daemon on the same host. Queries go out at 0, 0.25, 0.75,
 * 1.75, 3.75 s... (the gap doubles) until the window closes, each listing the PTRs already heard as known answers
 * so daemons that answered stay quiet. Only answers echoing one of our query ids are read: anything else sent to
 * the ephemeral port is not an answer to us. `until` ends the window early, e.g. at the first manager found.
 */

import { randomInt } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { SwarmletError } from '../errors.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { monotonicClock, type Clock } from './clock.ts';
import { requireLinks, type InterfaceChoice, type InterfaceTable } from './interfaces.ts';
import { LinkSet } from './link-set.ts';
import { SERVICE_LABEL } from './names.ts';
import { udpNetwork, type MdnsNetwork } from './network.ts';
import { queryPacket } from './packets.ts';
import { PeerCache, type Peer } from './peer-cache.ts';
import { comparePeers } from './watcher.ts';

export interface BrowseOptions {
  /** How long to listen, ms. */
  timeoutMs: number;
  /** Default `auto`. */
  interfaces?: InterfaceChoice;
  /** Only peers of this cluster (root key digest); '' for daemons in no cluster. */
  clusterDigest?: string;
  /** Ends the browse as soon as it returns true for the peers found so far. */
  until?: (peers: readonly Peer[]) => boolean;
  signal?: AbortSignal;
  /** Gap before the second query, ms (default 250); each later gap doubles. */
  firstRetryMs?: number;
  network?: MdnsNetwork;
  listInterfaces?: () => InterfaceTable;
  clock?: Clock;
  /** Query ids (1..65535). */
  randomId?: () => number;
  log?: Logger;
}

/**
 * Browses for `timeoutMs` (or until `until` holds) and returns the peers found, sorted by hostname. Throws
 * `unavailable` when the interface choice finds no interface or no socket could be opened; `off` finds nothing.
 */
export async function browse(options: BrowseOptions): Promise<Peer[]> {
  const choice = options.interfaces ?? { mode: 'auto' };
  if (choice.mode === 'off') return [];
  const listInterfaces = options.listInterfaces ?? networkInterfaces;
  requireLinks(choice, listInterfaces()); // fails early, with the reason, when nothing can be used
  const clock = options.clock ?? monotonicClock;
  const log = options.log ?? silentLogger;
  const randomId = options.randomId ?? (() => randomInt(1, 65536));
  const cache = new PeerCache();
  const ids = new Set<number>();
  const matching = (): Peer[] =>
    [...cache.peers(clock.now()).values()]
      .filter((peer) => options.clusterDigest === undefined || peer.cluster === options.clusterDigest)
      .sort(comparePeers);

  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const links = new LinkSet({
    network: options.network ?? udpNetwork(log),
    mode: 'oneshot',
    choice,
    listInterfaces,
    needles: () => [Buffer.from(SERVICE_LABEL)],
    clock,
    log,
    hooks: {
      opened: () => {},
      closing: async () => {},
      packet: (_link, packet) => {
        if (typeof packet.id !== 'number' || !ids.has(packet.id)) return;
        cache.observe(packet, clock.now());
        if (options.until?.(matching())) finish();
      },
      reconciled: () => {},
    },
  });

  const timers: NodeJS.Timeout[] = [];
  const query = () => {
    const id = randomId();
    ids.add(id);
    const packet = queryPacket(cache.knownAnswers(clock.now()), { id });
    for (const link of links.links()) void link.send(packet);
  };
  const onAbort = () => finish();
  try {
    if (options.signal?.aborted) return [];
    options.signal?.addEventListener('abort', onAbort, { once: true });
    await links.start();
    if (links.links().length === 0) throw new SwarmletError('unavailable', `discovery could not listen: ${links.failures.join('; ')}`);
    timers.push(setTimeout(finish, options.timeoutMs));
    // `until` may turn true with time alone (a caller that waits a moment for more answers after the first), and
    // peers already heard do not answer the next query: look again now and then, not only when a packet arrives.
    let poll: NodeJS.Timeout | undefined;
    if (options.until) {
      poll = setInterval(() => {
        if (options.until!(matching())) finish();
      }, 50);
      timers.push(poll);
    }
    let at = 0;
    let gap = options.firstRetryMs ?? 250;
    while (at < options.timeoutMs) {
      timers.push(setTimeout(query, at));
      at += gap;
      gap *= 2;
    }
    await done;
    return matching();
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    for (const timer of timers) clearTimeout(timer); // clears the interval too (one id space in Node)
    await links.stop();
  }
}
