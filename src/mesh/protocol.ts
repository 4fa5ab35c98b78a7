/**
 * The mesh's stream between two nodes: one bulk channel (PeerNetwork.openStream) per forwarded connection, so a
 * busy service's bytes never queue behind or in front of Raft messages and heartbeats on the control channel.
 *
 *   ingress → task's node   request {type: 'mesh.connect', serviceId, taskId, port, proxy?}; the node connects to
 *                           the task's container at `port` before it answers, so a refusal lets the ingress try
 *                           another backend while the client waits
 *   both ways               bytes: the connection's payload, in order
 *                           {type: 'end'}: this side's half-close (a FIN), after its last bytes
 *                           {type: 'pause'} / {type: 'resume'}: this side's socket cannot take more for now
 *
 * Either end closing the channel before both `end`s resets the connection at the other end. `proxy` carries the
 * client's address for a PROXY protocol v2 header, written by the task's node before any payload.
 */

import * as v from 'valibot';
import type { ProxyAddresses } from './proxy-protocol.ts';

export const MESH_CONNECT = 'mesh.connect';

export interface MeshConnectRequest {
  type: typeof MESH_CONNECT;
  serviceId: string;
  taskId: string;
  /** The container port (the service's target port). */
  port: number;
  /** Present when the service asked for a PROXY protocol header. */
  proxy?: ProxyAddresses;
  [key: string]: unknown;
}

const id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const port = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));
const endpoint = v.object({ address: v.pipe(v.string(), v.maxLength(64)), port });

export const connectRequestSchema = v.object({
  type: v.literal(MESH_CONNECT),
  serviceId: id,
  taskId: id,
  port: v.pipe(port, v.minValue(1)),
  proxy: v.optional(v.object({ source: endpoint, destination: endpoint })),
});

/** The control messages of a mesh stream (anything else is ignored). */
export type MeshStreamMessage = { type: 'end' } | { type: 'pause' } | { type: 'resume' };
