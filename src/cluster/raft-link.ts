/**
 * Raft messages between managers, over the control channels of the peer network. Raft tolerates loss, so a
 * message to a manager without a channel is dropped while one is dialled: the next heartbeat or append carries
 * the same information.
 */

import type { RaftTransport } from '../manager/consensus/raft-driver.ts';
import type { Message } from '../manager/raft/types.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { PeerNetwork } from './peers.ts';

export class RaftLink implements RaftTransport {
  readonly #peers: PeerNetwork;
  readonly #handlers = new Set<(message: unknown) => void>();

  constructor(peers: PeerNetwork) {
    this.#peers = peers;
    peers.on('raft', (envelope, channel) => {
      const message = envelope.message as Partial<Message> | undefined;
      // A peer speaks only for itself: a message claiming to come from another member is dropped.
      if (!message || typeof message !== 'object' || message.from !== channel.peer.nodeId) return;
      for (const handler of this.#handlers) handler(message);
    });
  }

  send(messages: Message[]): void {
    for (const message of messages) this.#peers.send(message.to, { type: 'raft', message });
  }

  onMessage(handler: (message: unknown) => void): Disposer {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }
}
