/**
 * The part of dns-packet (5.6.1) that discovery uses, typed here because the package ships no declarations.
 *
 * Kept narrow on purpose: discovery is the only user, and every decoded field is checked again where it is read
 * (`packets.ts`), because `decode` returns whatever the bytes said — a record's `data` has the shape of its type
 * only when the type is one the reader asked for.
 */

declare module 'dns-packet' {
  export interface Question {
    name: string;
    type: string;
    /** A class name (`IN`), or a number for classes dns-packet does not know (e.g. with the mDNS QU bit set). */
    class?: string | number;
  }

  export interface SrvData {
    port: number;
    target: string;
    priority?: number;
    weight?: number;
  }

  export interface Answer {
    name: string;
    type: string;
    class?: string | number;
    ttl?: number;
    /** mDNS cache-flush bit (the top bit of the class). */
    flush?: boolean;
    /** A: dotted address; PTR: a name; SRV: SrvData; TXT: Buffer[] when decoded, strings or buffers to encode. */
    data?: unknown;
  }

  export interface Packet {
    id?: number;
    type?: 'query' | 'response';
    flags?: number;
    /** `QUERY` for ordinary queries; mDNS ignores every other opcode (RFC 6762 §18.3). */
    opcode?: string;
    questions?: Question[];
    answers?: Answer[];
    authorities?: Answer[];
    additionals?: Answer[];
  }

  const dnsPacket: {
    encode(packet: Packet): Buffer;
    decode(buf: Buffer): Packet;
    readonly AUTHORITATIVE_ANSWER: number;
  };
  export default dnsPacket;
}
