/**
 * The sockets under discovery, behind a two-method interface so the protocol logic runs on an in-memory network in
 * tests (test/discovery/fake-network.ts) and on UDP here.
 *
 * One socket per chosen interface, never one for "all interfaces":
 * - `shared` (advertiser, watcher): bound to 0.0.0.0:5353 with SO_REUSEADDR, so Avahi, another daemon or a
 *   `swarmlet discover` on the same host can bind it too; joins 224.0.0.251 on this interface only
 *   (IP_ADD_MEMBERSHIP with the interface's address) and sends through it only (IP_MULTICAST_IF). It must be bound
 *   to the wildcard: Linux delivers a datagram to a socket bound to a unicast address only when it was sent to that
 *   address, and mDNS is sent to the group. (multicast-dns binds to the interface's address when given one, and so
 *   hears no multicast at all on Linux — one of the reasons discovery talks to dns-packet directly.)
 * - `oneshot` (browse): bound to the interface's address on an ephemeral port, no membership. Its queries come from
 *   a port other than 5353, so responders answer it by unicast (RFC 6762 §5.1, §6.7): no contention for port
 *   5353 with a daemon on the same host, and no waiting for the one-answer-per-second multicast rule.
 * Both send with IP TTL 255 (RFC 6762 §11) and multicast loopback on, so a daemon on the same host is found.
 *
 * Linux delivers a group's datagrams to every socket bound to the port that joined the group on *any* interface
 * (IP_MULTICAST_ALL, which Node cannot clear): with Avahi joined on docker0, our eth0 socket hears docker0's
 * packets too. The link layer above therefore drops every datagram whose source is not on the link's subnets.
 */

import dgram from 'node:dgram';
import { SwarmletError, describeError } from '../errors.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import type { LinkSpec } from './interfaces.ts';
import { MDNS_GROUP, MDNS_PORT } from './packets.ts';

export type LinkMode = 'shared' | 'oneshot';

export interface Endpoint {
  address: string;
  port: number;
}

export interface MdnsSocket {
  /** Sends to the mDNS group (default) or to one endpoint. Resolves false when the send failed; never rejects. */
  send(data: Buffer, to?: Endpoint): Promise<boolean>;
  /** Idempotent. */
  close(): Promise<void>;
}

export interface MdnsNetwork {
  /** Opens a socket on one interface; `onDatagram` must not throw (the link layer guarantees it). */
  open(spec: LinkSpec, mode: LinkMode, onDatagram: (data: Buffer, from: Endpoint) => void): Promise<MdnsSocket>;
}

const GROUP: Endpoint = { address: MDNS_GROUP, port: MDNS_PORT };

/** The real network: UDP over IPv4. */
export function udpNetwork(log: Logger = silentLogger): MdnsNetwork {
  return {
    async open(spec, mode, onDatagram) {
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: mode === 'shared' });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(mode === 'shared' ? { port: MDNS_PORT, address: '0.0.0.0' } : { port: 0, address: spec.address }, () => {
            socket.off('error', reject);
            resolve();
          });
        });
        socket.setMulticastInterface(spec.address);
        socket.setMulticastTTL(255);
        socket.setMulticastLoopback(true);
        if (mode === 'shared') socket.addMembership(MDNS_GROUP, spec.address);
      } catch (err) {
        socket.close();
        const hint = mode === 'shared' ? ' (is port 5353 held by a program that does not share it?)' : '';
        throw new SwarmletError('unavailable', `cannot open mDNS on ${spec.interface} (${spec.address}): ${describeError(err)}${hint}`, { cause: err });
      }
      socket.on('error', (err) => log.warn(`mDNS socket on ${spec.interface}: ${describeError(err)}`));
      socket.on('message', (data, rinfo) => onDatagram(data, { address: rinfo.address, port: rinfo.port }));

      let closed: Promise<void> | undefined;
      return {
        send(data, to = GROUP) {
          return new Promise<boolean>((resolve) => {
            try {
              socket.send(data, to.port, to.address, (err) => {
                if (err) log.debug(`mDNS send on ${spec.interface} to ${to.address}:${to.port}: ${describeError(err)}`);
                resolve(!err);
              });
            } catch (err) {
              // Closed meanwhile (ERR_SOCKET_DGRAM_NOT_RUNNING), or an address that cannot be sent to.
              log.debug(`mDNS send on ${spec.interface}: ${describeError(err)}`);
              resolve(false);
            }
          });
        },
        close() {
          closed ??= new Promise<void>((resolve) => {
            try {
              socket.close(() => resolve());
            } catch {
              resolve();
            }
          });
          return closed;
        },
      };
    },
  };
}
