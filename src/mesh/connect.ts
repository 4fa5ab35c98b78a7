/**
 * A TCP connection to a container on this node, for either end of the mesh: the ingress reaching a local task,
 * and a node serving a mesh stream for one of its own tasks. Accepted within a deadline, with the PROXY header
 * (when the service asked for one) written before any of the client's bytes.
 */

import { connect, type OnReadOpts, type Socket } from 'node:net';
import { encodeProxyV2, type ProxyAddresses } from './proxy-protocol.ts';

/** How the socket reads, set when it is made: `onread` (Node reads into caller-chosen buffers) and a first look at it. */
export interface LocalSocketSetup {
  onread?: OnReadOpts;
  /** Called with the socket as soon as it exists, before it can read anything (to pause it, to track it). */
  prepare?(socket: Socket): void;
}

/** A TCP connection to a container, with the PROXY header written first when there is one. */
export function connectLocal(host: string, port: number, timeoutMs: number, proxy: ProxyAddresses | undefined, setup: LocalSocketSetup = {}): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true, ...(setup.onread ? { onread: setup.onread } : {}) });
    setup.prepare?.(socket);
    const timer = setTimeout(() => fail(new Error(`${host}:${port} did not accept within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', () => {}); // Reported through 'close' to whoever splices it.
      if (proxy) socket.write(encodeProxyV2(proxy));
      resolve(socket);
    });
  });
}
