/**
 * The PROXY protocol's version 2 header (haproxy.org/download/2.9/doc/proxy-protocol.txt), for a backend that
 * opted in: the mesh forwards a connection from its own address, so without the header a service sees every
 * client as the node that took the connection. Pure: bytes in, bytes out.
 *
 * Only what a TCP proxy needs: the PROXY command for TCP over IPv4 or IPv6 (an IPv4 client reaching an IPv6
 * address is sent as IPv4-mapped IPv6, as the spec asks when the families differ), and the LOCAL command for a
 * connection with no client address to tell. No TLVs.
 */

import { isIPv4, isIPv6 } from 'node:net';
import { invalidArgument } from '../errors.ts';

/** One end of a TCP connection. */
export interface Endpoint {
  address: string;
  port: number;
}

/** Who connected (source) to which address of this node (destination). */
export interface ProxyAddresses {
  source: Endpoint;
  destination: Endpoint;
}

export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
/** Version 2 in the high nibble; the command in the low one. */
const COMMAND = { local: 0x20, proxy: 0x21 } as const;
/** Address family in the high nibble (1 IPv4, 2 IPv6), transport in the low one (1 stream). */
const FAMILY = { unspec: 0x00, tcp4: 0x11, tcp6: 0x21 } as const;

/** The header for `addresses`, or the LOCAL header when there are none. */
export function encodeProxyV2(addresses: ProxyAddresses | null): Uint8Array {
  if (!addresses) return header(COMMAND.local, FAMILY.unspec, new Uint8Array(0));
  const { source, destination } = addresses;
  for (const { port } of [source, destination]) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalidArgument(`${port} is not a TCP port`);
  }
  const source4 = ipv4Bytes(unmapped(source.address));
  const destination4 = ipv4Bytes(unmapped(destination.address));
  const both4 = source4 && destination4;
  const src = both4 ? source4 : ipv6Bytes(source.address);
  const dst = both4 ? destination4 : ipv6Bytes(destination.address);
  const body = new Uint8Array(src.length * 2 + 4);
  body.set(src, 0);
  body.set(dst, src.length);
  const view = new DataView(body.buffer);
  view.setUint16(src.length * 2, source.port);
  view.setUint16(src.length * 2 + 2, destination.port);
  return header(COMMAND.proxy, both4 ? FAMILY.tcp4 : FAMILY.tcp6, body);
}

function header(command: number, family: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + body.length);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = command;
  out[13] = family;
  new DataView(out.buffer).setUint16(14, body.length);
  out.set(body, 16);
  return out;
}

/** `::ffff:1.2.3.4` (how a dual-stack socket shows an IPv4 client) as `1.2.3.4`; anything else unchanged. */
function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match ? match[1]! : address;
}

/** Four bytes of a dotted IPv4 address, or null for anything else. */
function ipv4Bytes(address: string): Uint8Array | null {
  if (!isIPv4(address)) return null;
  return Uint8Array.from(address.split('.').map(Number));
}

/** Sixteen bytes of an IPv6 address (IPv4 as IPv4-mapped); a zone (`%eth0`) is dropped. */
function ipv6Bytes(text: string): Uint8Array {
  const address = text.replace(/%.*$/, '');
  const v4 = ipv4Bytes(address);
  if (v4) return Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4);
  if (!isIPv6(address)) throw invalidArgument(`"${text}" is not an IP address`);
  const groups: number[] = [];
  const [head, tail] = address.includes('::') ? address.split('::') : [address, null];
  const parse = (part: string | null | undefined): number[] => {
    if (!part) return [];
    return part.split(':').flatMap((group) => {
      const embedded = ipv4Bytes(group);
      return embedded ? [(embedded[0]! << 8) | embedded[1]!, (embedded[2]! << 8) | embedded[3]!] : [parseInt(group, 16)];
    });
  };
  const front = parse(head);
  const back = parse(tail);
  groups.push(...front, ...new Array<number>(tail === null ? 0 : 8 - front.length - back.length).fill(0), ...back);
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    out[i * 2] = group >> 8;
    out[i * 2 + 1] = group & 0xff;
  });
  return out;
}
