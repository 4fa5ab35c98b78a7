/**
 * What a node keeps of its cluster membership in `<dataDir>/membership.json` (mode 0600, written durably): its
 * certificate, the roots it trusts, its role, where it listens and is reached, and the managers it last knew, so
 * that after a restart it reconnects without mDNS or a typed address. A manager's replicated state lives in its
 * Raft storage; this file is what every node, worker or manager, needs to talk to the others.
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SwarmletError } from '../errors.ts';
import { decodeCertificate, encodeCertificate, type Certificate, type NodeRole } from '../identity/certificate.ts';
import { fromBase64url } from '../identity/encoding.ts';
import { KEY_BYTES } from '../identity/keys.ts';
import { DurableJSONFile } from '../store/durable-json-file.ts';

export const MEMBERSHIP_FILE = 'membership.json';

export interface KnownManager {
  nodeId: string;
  /** `ip:port` of its transport. */
  addr: string;
}

export interface Membership {
  version: 1;
  certificate: Certificate;
  /** Trusted root public keys, base64url. */
  roots: string[];
  role: NodeRole;
  /** Digest of the root the cluster's tokens name: what discovery filters on. */
  clusterDigest: string;
  /** Where the transport listens, `ip:port`. */
  listenAddr: string;
  /** Where peers reach this node, `ip:port`. */
  advertiseAddr: string;
  /** The address was chosen by swarmlet, not given: it follows the machine's address when that changes (DHCP). */
  advertiseAuto?: boolean;
  managers: KnownManager[];
  /** Cluster time minus this node's clock, learned from managers: a node without an RTC still judges expiry right. */
  clockOffsetMs: number;
}

function problem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'it is not an object';
  const m = value as Partial<Membership>;
  if (m.version !== 1) return `unknown version ${JSON.stringify(m.version)}`;
  if (typeof decodeCertificate(encodeCertificate(m.certificate as Certificate)) === 'string') return 'its certificate is malformed';
  if (!Array.isArray(m.roots) || m.roots.length === 0 || !m.roots.every((r) => fromBase64url(r, KEY_BYTES))) return 'its root keys are malformed';
  if (m.role !== 'manager' && m.role !== 'worker') return 'its role is not manager or worker';
  if (typeof m.listenAddr !== 'string' || typeof m.advertiseAddr !== 'string') return 'its addresses are missing';
  if (!Array.isArray(m.managers)) return 'its manager list is missing';
  return null;
}

export class MembershipFile {
  readonly file: string;
  readonly #store: DurableJSONFile<Membership>;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, MEMBERSHIP_FILE);
    this.#store = new DurableJSONFile<Membership>(this.file);
  }

  async read(): Promise<Membership | null> {
    const value = await this.#store.read();
    if (value === null) return null;
    const why = problem(value);
    if (why) {
      throw new SwarmletError(
        'corrupt_state',
        `the cluster membership in ${this.file} is unusable: ${why}. Restore it from a backup, or move it away and join the cluster again.`,
      );
    }
    return { ...value, clockOffsetMs: Number.isFinite(value.clockOffsetMs) ? value.clockOffsetMs : 0 };
  }

  async write(membership: Membership): Promise<void> {
    await this.#store.write(membership);
    await fs.chmod(this.file, 0o600);
  }

  async remove(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }
}
