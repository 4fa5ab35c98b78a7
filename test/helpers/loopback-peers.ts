/**
 * PeerNetworks on loopback for tests: nodes that trust each other, found by the ports they listen on, with 'ghost'
 * a node whose address answers nothing. Control and bulk channels are served; join channels are not.
 */

import { PeerNetwork } from '../../src/cluster/peers.ts';
import { ed25519Identity } from '../../src/transport/handshake.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { testNode, trusting } from '../transport/helpers.ts';

export type TestNode = ReturnType<typeof testNode>;

export class LoopbackPeers {
  readonly nodes: TestNode[];
  readonly networks: PeerNetwork[] = [];
  readonly ports = new Map<string, number>();
  readonly #trust;

  constructor(...names: string[]) {
    this.nodes = names.map((name) => testNode(name));
    this.#trust = trusting(...this.nodes);
  }

  /** Starts a PeerNetwork for `self` on a free port. */
  async network(self: TestNode): Promise<PeerNetwork> {
    const security = { identity: ed25519Identity(self.certificate, self.keys.secretKey), verifyPeer: this.#trust };
    const peers = new PeerNetwork({
      selfId: self.nodeId,
      listenAddr: '127.0.0.1:0',
      serverSecurity: (kind) => (kind === 'join' ? null : security),
      dialSecurity: () => security,
      addressesOf: (id) => (this.ports.has(id) ? [`127.0.0.1:${this.ports.get(id)}`] : id === 'ghost' ? ['127.0.0.1:1'] : []),
      log: silentLogger,
      dialTimeoutMs: 1_000,
    });
    await peers.start();
    this.ports.set(self.nodeId, peers.port);
    this.networks.push(peers);
    return peers;
  }

  async stop(): Promise<void> {
    for (const peers of this.networks) await peers.stop();
  }
}
