/**
 * The daemon's use of mDNS discovery (src/discovery): advertise this node — cluster digest, node ID, role and
 * transport port — so that `swarmlet discover` lists it and joiners find managers; find the managers of the
 * cluster a join token pins; and, once in a cluster, watch for managers whose address changed (DHCP) and hand
 * the new address to the node, which dials it on its next attempt.
 *
 * Where mDNS is spoken: `--discovery off` nowhere; `--discovery eth0,wlan0` on those interfaces; by default on
 * the interface of the advertise address (the daemon's flag, then the cluster's), or — before any address is
 * known, for a daemon waiting to join — on every LAN interface that is not a container bridge, veth or tunnel.
 */

import type { ClusterNode } from '../cluster/cluster-node.ts';
import type { Membership } from '../cluster/credentials.ts';
import { splitAddress } from '../cluster/peers.ts';
import { Advertiser } from '../discovery/advertiser.ts';
import { browse } from '../discovery/browse.ts';
import { interfaceChoice, type InterfaceChoice } from '../discovery/interfaces.ts';
import type { Peer } from '../discovery/peer-cache.ts';
import { Watcher } from '../discovery/watcher.ts';
import { describeError } from '../errors.ts';
import { DEFAULT_TRANSPORT_PORT } from '../manager/state/init.ts';
import type { Logger } from '../util/logger.ts';
import type { DaemonOptions } from './options.ts';

export interface DaemonDiscovery {
  /** `ip:port` of the managers of the cluster `clusterDigest` names, found within `timeoutMs`. */
  findManagers(clusterDigest: string, timeoutMs: number): Promise<string[]>;
  /** The node joined, left or changed role or address: advertise that. */
  update(membership: Membership | null): void;
  /** Feeds managers seen at new addresses to the node. */
  attach(node: ClusterNode): void;
  stop(): Promise<void>;
}

const OFF: DaemonDiscovery = {
  findManagers: async () => [],
  update: () => {},
  attach: () => {},
  stop: async () => {},
};

/** How long a join listens for more managers after the first one answers. */
const GATHER_MS = 400;

const peerAddress = (peer: Peer) => `${peer.addresses[0]}:${peer.port}`;

/** The interfaces to use: explicit names win; else the interface of the advertise address; else every LAN one. */
function choose(options: DaemonOptions, advertiseAddr: string | undefined): InterfaceChoice {
  const names = options.discovery && options.discovery !== 'on' ? options.discovery : undefined;
  return interfaceChoice({ ...(names ? { interfaces: names } : {}), ...(advertiseAddr ? { advertiseAddr } : {}) });
}

export async function startDiscovery(options: DaemonOptions, nodeId: string, hostname: string, log: Logger): Promise<DaemonDiscovery> {
  if (options.discovery === 'off') return OFF;
  let choice = choose(options, options.advertiseAddr);
  const listenPort = options.listenAddr ? splitAddress(options.listenAddr.includes(':') ? options.listenAddr : `${options.listenAddr}:${DEFAULT_TRANSPORT_PORT}`).port : DEFAULT_TRANSPORT_PORT;
  const advertiser = new Advertiser({ service: { nodeId, hostname, role: 'none', cluster: '', port: listenPort }, interfaces: choice, log });
  try {
    await advertiser.start();
  } catch (err) {
    log.warn(`mDNS discovery is off: ${describeError(err)}`);
    return OFF;
  }
  let watcher: Watcher | null = null;
  let node: ClusterNode | null = null;
  let watching = '';

  const watch = async (membership: Membership | null) => {
    const key = membership ? `${membership.clusterDigest}|${JSON.stringify(choice)}` : '';
    if (key === watching) return;
    watching = key;
    await watcher?.stop();
    watcher = null;
    if (!membership) return;
    const next = new Watcher({ interfaces: choice, clusterDigest: membership.clusterDigest, selfNodeId: nodeId, log });
    watcher = next;
    next.subscribe((event) => {
      if (event.type === 'lost' || event.peer.role !== 'manager' || event.peer.addresses.length === 0) return;
      if (event.type === 'changed' && event.previous.addresses[0] !== event.peer.addresses[0]) {
        log.info(`manager ${event.peer.nodeId} is now at ${peerAddress(event.peer)} (found over mDNS)`);
      }
      node?.noteDiscovered(event.peer.nodeId, peerAddress(event.peer));
    });
    await next.start().catch((err: unknown) => log.warn(`mDNS watcher: ${describeError(err)}`));
  };

  const api: DaemonDiscovery = {
    async findManagers(clusterDigest, timeoutMs) {
      // Stop soon after the first manager answers, but not at once: the others answer within moments, and a
      // joiner whose first choice cannot admit it (a manager still catching up) then has the rest to try.
      const started = performance.now();
      const peers = await browse({
        timeoutMs,
        interfaces: choice,
        clusterDigest,
        until: (found) => found.some((peer) => peer.role === 'manager') && performance.now() - started >= GATHER_MS,
        log,
      });
      return peers.filter((peer) => peer.role === 'manager' && peer.addresses.length > 0).map(peerAddress);
    },
    update(membership) {
      if (membership) choice = choose(options, options.advertiseAddr ?? membership.advertiseAddr);
      const port = membership ? splitAddress(membership.advertiseAddr).port : listenPort;
      advertiser
        .update({ role: membership?.role ?? 'none', cluster: membership?.clusterDigest ?? '', port, interfaces: choice })
        .catch((err: unknown) => log.warn(`mDNS advertisement: ${describeError(err)}`));
      void watch(membership);
    },
    attach(clusterNode) {
      node = clusterNode;
      const membership = clusterNode.membership;
      if (membership) api.update(membership);
    },
    async stop() {
      await watcher?.stop();
      await advertiser.stop();
    },
  };
  return api;
}
