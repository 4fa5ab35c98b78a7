/**
 * What managers do for nodes' identities: admit a joining node (check its token, record it, issue its first
 * certificate) and renew certificates — before they expire, after the node's role changed, or after the root
 * was rotated. Any manager can do either: the root key is in the replicated state, and the join is committed
 * through Raft (a follower's proposal is forwarded to the leader).
 *
 * Certificates are issued by the manager's clock, which the cluster trusts; the answer carries that time so a
 * node without a real-time clock learns it.
 */

import type { Node } from '../api/types.ts';
import { invalidArgument, unavailable } from '../errors.ts';
import { issueCertificate, type Certificate } from '../identity/certificate.ts';
import { fromBase64url } from '../identity/encoding.ts';
import { KEY_BYTES } from '../identity/keys.ts';
import { toBase64url } from '../identity/encoding.ts';
import type { RaftProposer } from '../manager/consensus/raft-proposer.ts';
import { activeRoot, clusterDigest, roleForSecret, rootSigner } from '../manager/state/security.ts';
import type { ClusterState } from '../manager/state/cluster-state.ts';
import type { Logger } from '../util/logger.ts';
import type { KnownManager } from './credentials.ts';
import { managersOf } from './dispatcher.ts';
import { parseNodeDescription } from './node-report.ts';
import type { PeerMessage } from './peers.ts';
import { splitAddress } from './peers.ts';
import type { SecureChannel } from '../transport/endpoint.ts';

/** What a joining node is given. */
export interface JoinAnswer {
  nodeId: string;
  role: 'manager' | 'worker';
  certificate: Certificate;
  roots: string[];
  clusterDigest: string;
  managers: KnownManager[];
  /** The cluster's time when the certificate was issued. */
  now: number;
}

export interface AdmissionOptions {
  proposer: RaftProposer;
  log: Logger;
  now?: () => number;
}

const NS_PER_MS = 1_000_000;

export class Admission {
  readonly #proposer: RaftProposer;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(options: AdmissionOptions) {
    this.#proposer = options.proposer;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  /** Serves a join channel: one join request, answered, then the channel is closed by the joiner. */
  serveJoin(channel: SecureChannel): void {
    channel.onRequest(async (message) => {
      try {
        return await this.join(channel, message as PeerMessage);
      } catch (err) {
        this.#log.warn(`refused a join from ${channel.remoteAddress}: ${(err as Error).message}`);
        throw err;
      }
    });
    // A join channel does one thing; one left open is closed after a while.
    setTimeout(() => channel.close('join channel idle'), 30_000).unref();
  }

  async join(channel: SecureChannel, message: PeerMessage): Promise<JoinAnswer> {
    if (message.type !== 'join') throw invalidArgument('expected a join request');
    await this.#proposer.read();
    const state = this.#proposer.state;
    const security = state.security;
    if (!state.swarm || !security) throw unavailable('this manager is not in a cluster');
    const role = typeof message.secret === 'string' ? roleForSecret(security, message.secret) : null;
    if (!role) throw invalidArgument('invalid join token: it does not admit anyone to this cluster; print a current one on a manager with "swarmlet join-token worker"');
    const nodeId = channel.peer.nodeId;
    const agreementKey = fromBase64url(message.agreementKey, KEY_BYTES);
    if (!agreementKey) throw invalidArgument('the join request holds no X25519 key');
    const description = parseNodeDescription(message.description);
    const addr = joinerAddress(String(message.advertiseAddr ?? ''), channel.remoteAddress);
    const now = this.#now();
    const iso = new Date(now).toISOString();
    const ip = addr.replace(/:\d+$/, '');
    const node: Node = {
      ID: nodeId,
      Version: { Index: 0 },
      CreatedAt: iso,
      UpdatedAt: iso,
      Spec: { Labels: {}, Role: role, Availability: 'active' },
      Description: description,
      Status: { State: 'ready', Addr: ip },
      ...(role === 'manager' ? { ManagerStatus: { Reachability: 'unknown' as const, Addr: addr } } : {}),
    };
    const signingKey = toBase64url(channel.peer.signingKey);
    await this.#proposer.propose({
      type: 'node.join',
      node,
      member: { signingKey, agreementKey: toBase64url(agreementKey), addr, issuer: clusterDigest(security) },
    });
    const certificate = this.#issue(this.#proposer.state, nodeId, now);
    this.#log.info(`node ${nodeId} (${description.Hostname}, ${addr}) joined as a ${role}`);
    return {
      nodeId,
      role,
      certificate,
      roots: security.roots.map((root) => root.publicKey),
      clusterDigest: clusterDigest(security),
      managers: managersOf(this.#proposer.state),
      now,
    };
  }

  /** A fresh certificate for a member, with the role it has now. */
  async renew(nodeId: string): Promise<{ certificate: Certificate; roots: string[]; now: number }> {
    await this.#proposer.read();
    const state = this.#proposer.state;
    if (!state.security?.members[nodeId]) throw unavailable(`node ${nodeId} is not a member of this cluster`);
    const now = this.#now();
    const certificate = this.#issue(state, nodeId, now);
    const issuer = certificate.issuer;
    if (state.security.members[nodeId]!.issuer !== issuer) {
      await this.#proposer.propose({ type: 'member.update', nodeId, issuer });
    }
    return { certificate, roots: state.security.roots.map((root) => root.publicKey), now };
  }

  #issue(state: ClusterState, nodeId: string, now: number): Certificate {
    const security = state.security!;
    const member = security.members[nodeId]!;
    const role = state.nodes[nodeId]?.Spec.Role ?? 'worker';
    const ttlMs = Math.max(1_000, Math.floor((state.swarm?.Spec.CAConfig.NodeCertExpiry ?? 7_776_000_000_000_000) / NS_PER_MS));
    return issueCertificate(rootSigner(activeRoot(security)), { nodeId, role, signingKey: member.signingKey, agreementKey: member.agreementKey, ttlMs }, now);
  }
}

/** The joiner's transport address: as it advertised, with the address it connected from when it gave none. */
export function joinerAddress(advertised: string, remoteAddress: string): string {
  const remoteHost = remoteAddress.replace(/:\d+$/, '').replace(/^::ffff:/, '');
  try {
    const { host, port } = splitAddress(advertised);
    return host === '0.0.0.0' || host === '' ? `${remoteHost}:${port}` : advertised;
  } catch {
    return `${remoteHost}:4377`;
  }
}
