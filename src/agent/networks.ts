/**
 * A swarm network's side on one node: an engine bridge network with the swarm network's subnet and gateway, made
 * when the node's first task on it is created. Its containers join it at the addresses the managers gave their tasks
 * (unique across the cluster), so an address means the same task on every node; the engine gives out only the top
 * block of the subnet by itself (standalone containers on an attachable network), which the managers never use.
 *
 * The bridge carries the label SWARMLET_NETWORK_LABEL with the swarm network's ID and a fixed interface name, so the
 * routing mesh finds it to bind the service VIPs and other nodes' task addresses on it (src/mesh/overlay.ts). Each
 * node makes its own; nothing about it crosses the wire. A bridge no task uses any more is removed by the mesh.
 *
 * An `--internal` network's bridge is the engine's internal kind: its containers reach each other, and what the node
 * answers on the gateway's subnet (the DNS server, the VIPs, other nodes' task addresses), but the engine forwards
 * nothing they send beyond the subnet. The engine still puts the gateway address on the bridge (checked on the real
 * engine, test/runtime/docker-runtime.test.ts), which the DNS server and the VIPs need.
 */

import type { Network, NetworkAttachment } from '../api/types.ts';
import { conflict } from '../errors.ts';
import { bridgeName, layoutOf, SWARMLET_NETWORK_LABEL } from '../manager/state/networks.ts';
import type { ContainerNetwork, ContainerRuntime } from '../runtime/runtime.ts';

/** The engine network's name on the node: the swarm network's name, as `docker network ls` on a Swarm node shows it. */
export const engineNetworkName = (network: Network) => network.Spec.Name;

/** A task's attachments as the engine takes them: each network at the task's address (no prefix length). */
export function containerNetworks(attachments: readonly NetworkAttachment[]): ContainerNetwork[] {
  return attachments
    .filter((attachment) => attachment.Addresses[0])
    .map((attachment) => ({ name: engineNetworkName(attachment.Network), address: attachment.Addresses[0]!.split('/')[0]! }));
}

export class NodeNetworks {
  readonly #runtime: ContainerRuntime;
  /**
   * Checks in flight, by swarm network ID: tasks starting together share one. Nothing is remembered after: the mesh
   * removes a bridge no task uses, so the engine is asked each time (one listing per container made).
   */
  readonly #inFlight = new Map<string, Promise<void>>();

  constructor(runtime: ContainerRuntime) {
    this.#runtime = runtime;
  }

  /** Makes sure the node has the bridge of every network in `attachments`; concurrent calls for one network share the work. */
  async ensure(attachments: readonly NetworkAttachment[]): Promise<void> {
    await Promise.all(attachments.map((attachment) => this.#ensureOne(attachment.Network)));
  }

  #ensureOne(network: Network): Promise<void> {
    let ready = this.#inFlight.get(network.ID);
    if (!ready) {
      ready = this.#make(network).finally(() => this.#inFlight.delete(network.ID));
      this.#inFlight.set(network.ID, ready);
    }
    return ready;
  }

  async #make(network: Network): Promise<void> {
    const name = engineNetworkName(network);
    const existing = (await this.#runtime.listNetworks([])).find((n) => n.name === name);
    if (existing) {
      if (existing.labels[SWARMLET_NETWORK_LABEL] === network.ID) return;
      throw conflict(
        `this node's engine has a network named "${name}" that is not the swarm network's: ` +
          `remove or rename it on this node (docker network rm ${name}), or give the swarm network another name`,
      );
    }
    const layout = layoutOf(network);
    try {
      await this.#runtime.createNetwork({
        name,
        labels: { [SWARMLET_NETWORK_LABEL]: network.ID, 'com.swarmlet.managed': '1' },
        subnet: layout.subnet,
        gateway: layout.gateway,
        ipRange: layout.local.range,
        bridgeName: bridgeName(network.ID),
        internal: network.Spec.Internal === true,
      });
    } catch (err) {
      // Made meanwhile by a pass of an earlier daemon (a restart): take it if it is ours.
      const made = (await this.#runtime.listNetworks([`${SWARMLET_NETWORK_LABEL}=${network.ID}`]).catch(() => []))[0];
      if (!made) throw err;
    }
  }
}
