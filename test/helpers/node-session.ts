/** A NodeSession for tests: a worker w1 whose one manager is m1, beating every 20 ms, with whatever a test overrides. */

import { NodeSession, type NodeSessionOptions } from '../../src/cluster/node-session.ts';
import type { PeerNetwork } from '../../src/cluster/peers.ts';
import { silentLogger } from '../../src/util/logger.ts';

export function testSession(peers: PeerNetwork, overrides: Partial<NodeSessionOptions> = {}): NodeSession {
  return new NodeSession({
    selfId: 'w1',
    peers,
    managers: () => [{ nodeId: 'm1', addr: '10.0.0.1:4377' }],
    advertiseAddr: () => '10.0.0.2:4377',
    isLocalLeader: () => false,
    local: () => null,
    onInfo: () => {},
    log: silentLogger,
    heartbeatMs: 20,
    ...overrides,
  });
}
