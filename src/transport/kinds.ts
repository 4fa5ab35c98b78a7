/**
 * The channel kinds and where they live on the node's one port. Each kind is its own WebSocket connection, so the
 * kernel gives each its own send and receive buffers: a bulk stream filling its socket cannot make a Raft
 * heartbeat wait behind it, which is the whole point of having kinds. The path names the kind (and a version), so
 * a node can refuse a kind with an HTTP status before the upgrade, spending nothing on a handshake it would not
 * finish; and each kind gets its own trust rules (a joining node has no cluster certificate yet).
 */

import type { LocalIdentity, VerifyPeer } from './handshake.ts';

/** 'control': Raft, heartbeats, assignments, status. 'bulk': the network's data streams. 'join': nodes joining with a token. */
export type ChannelKind = 'control' | 'bulk' | 'join';
export const CHANNEL_KINDS: readonly ChannelKind[] = ['control', 'bulk', 'join'];

const PATH_PREFIX = '/swarmlet/v1/';

export function channelPath(kind: ChannelKind): string {
  return `${PATH_PREFIX}${kind}`;
}

/** The kind a request path names, or null for any other path (query strings included: nothing else is served). */
export function parseChannelPath(path: string | undefined): ChannelKind | null {
  if (!path?.startsWith(PATH_PREFIX)) return null;
  const kind = path.slice(PATH_PREFIX.length);
  return (CHANNEL_KINDS as readonly string[]).includes(kind) ? (kind as ChannelKind) : null;
}

/** Who this end is and whom it trusts, for one channel kind ('join' may well use different rules from 'control'). */
export interface ChannelSecurity {
  identity: LocalIdentity;
  verifyPeer: VerifyPeer;
}

