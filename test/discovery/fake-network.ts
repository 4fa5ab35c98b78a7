/**
 * An in-memory MdnsNetwork: sockets on fake interfaces, multicast delivered to every shared socket whose link
 * holds the sender's address (the same segment), unicast to the socket bound to the destination, asynchronously
 * like UDP, and with multicast loopback like the real sockets. Every datagram sent is recorded, so tests can say
 * what went out, on which interface, to whom.
 */

import type { NetworkInterfaceInfo } from 'node:os';
import { onLink, type InterfaceTable, type LinkSpec } from '../../src/discovery/interfaces.ts';
import type { Endpoint, LinkMode, MdnsNetwork, MdnsSocket } from '../../src/discovery/network.ts';
import { MDNS_GROUP, MDNS_PORT } from '../../src/discovery/packets.ts';

export interface SentDatagram {
  interface: string;
  from: Endpoint;
  to: Endpoint;
  data: Buffer;
  /** performance.now() when it was sent. */
  at: number;
}

interface FakeSocket {
  spec: LinkSpec;
  mode: LinkMode;
  port: number;
  onDatagram: (data: Buffer, from: Endpoint) => void;
}

export class FakeNetwork implements MdnsNetwork {
  readonly sent: SentDatagram[] = [];
  private readonly sockets = new Set<FakeSocket>();
  private nextPort = 40000;

  async open(spec: LinkSpec, mode: LinkMode, onDatagram: (data: Buffer, from: Endpoint) => void): Promise<MdnsSocket> {
    const socket: FakeSocket = { spec, mode, port: mode === 'shared' ? MDNS_PORT : this.nextPort++, onDatagram };
    this.sockets.add(socket);
    let closed = false;
    return {
      send: async (data, to = { address: MDNS_GROUP, port: MDNS_PORT }) => {
        if (closed) return false;
        const from = { address: spec.address, port: socket.port };
        this.sent.push({ interface: spec.interface, from, to, data, at: performance.now() });
        setImmediate(() => this.deliver(data, from, to));
        return true;
      },
      close: async () => {
        closed = true;
        this.sockets.delete(socket);
      },
    };
  }

  /**
   * Delivers a datagram now, as if `from` had sent it (multicast when `to` is the group). `anyLink`: every shared
   * socket hears a multicast, whatever its link — what Linux does when any program joined the group on the
   * interface it arrived on (IP_MULTICAST_ALL).
   */
  deliver(data: Buffer, from: Endpoint, to: Endpoint = { address: MDNS_GROUP, port: MDNS_PORT }, options: { anyLink?: boolean } = {}): void {
    for (const socket of [...this.sockets]) {
      if (!this.sockets.has(socket)) continue;
      const hears =
        to.address === MDNS_GROUP
          ? socket.mode === 'shared' && (options.anyLink === true || onLink(socket.spec, from.address))
          : socket.spec.address === to.address && socket.port === to.port;
      if (hears) socket.onDatagram(data, from);
    }
  }

  /** The open sockets' interfaces and ports. */
  openSockets(): Array<{ interface: string; address: string; port: number; mode: LinkMode }> {
    return [...this.sockets].map((socket) => ({ interface: socket.spec.interface, address: socket.spec.address, port: socket.port, mode: socket.mode }));
  }
}

/** One IPv4 entry of `os.networkInterfaces()`. */
export function nic(cidr: string, internal = false): NetworkInterfaceInfo {
  const [address, prefix] = cidr.split('/') as [string, string];
  const bits = Number(prefix);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const netmask = [24, 16, 8, 0].map((shift) => (mask >>> shift) & 0xff).join('.');
  return { address, netmask, family: 'IPv4', mac: '02:00:00:00:00:01', internal, cidr };
}

/** A mutable interface table, so a test can change an address and let a rescan see it. */
export function table(entries: Record<string, string[]>): InterfaceTable {
  return Object.fromEntries(Object.entries(entries).map(([name, cidrs]) => [name, cidrs.map((cidr) => nic(cidr, name === 'lo'))]));
}
