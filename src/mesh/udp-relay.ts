/**
 * The task's end of a mesh UDP stream: a node serves `mesh.udp` for its own tasks only, as stream-server.ts does
 * `mesh.connect` — the same lookup must confirm that the task runs here, for that service, with that port, or the
 * request is refused, so a peer can never use the mesh to send datagrams to another address or port of this
 * machine. Then the node opens a UDP socket connected to the container (before it answers, so a container address
 * that cannot be reached lets the ingress try another task) and relays framed datagrams both ways until either side
 * ends: the stream closes (the ingress ended the flow), the container's socket fails (ECONNREFUSED: nothing
 * listens there any more — the stream closes, and the ingress moves the flow), or nothing passed for a while.
 *
 * That idle timeout is a backstop: the ingress ends its flows (and so their streams) on its own timeouts, and this
 * end waits a little longer than the longest of them, so it never cuts a flow the ingress still keeps. It matters
 * when the ingress's node vanished without closing, until the transport's keepalive notices.
 */

import * as v from 'valibot';
import { invalidArgument, notFound, unavailable } from '../errors.ts';
import type { PeerMessage } from '../cluster/peers.ts';
import type { StreamChannel } from '../cluster/mux/stream.ts';
import type { Logger } from '../util/logger.ts';
import { ChannelStream } from './channel-stream.ts';
import { connectDatagram, socketLink, streamLink, type DatagramLink } from './datagram-link.ts';
import { resolveMeshLimits, type MeshLimits } from './limits.ts';
import { MESH_UDP, udpRequestSchema } from './protocol.ts';
import type { LocalTaskLookup, StreamServing } from './stream-server.ts';

/** How much longer than the ingress's stream timeout this end keeps a quiet flow. */
const IDLE_MARGIN_MS = 5_000;

export interface UdpRelayStats {
  /** Flows relayed now. */
  flows: number;
  /** Datagrams dropped because the way on was full. */
  dropped: number;
}

/** The relays of this node, for stats and shutdown. */
export interface UdpRelay {
  stats(): UdpRelayStats;
  /** Ends every relayed flow and refuses new ones. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Serves this node's tasks' UDP ports to the other nodes' UDP ingress over `peers`. At most udpMaxFlows flows are
 * relayed at once, from all nodes together; more are refused.
 */
export function serveUdp(peers: StreamServing, lookup: LocalTaskLookup, limits: Partial<MeshLimits> | undefined, log: Logger): UdpRelay {
  const resolved = resolveMeshLimits(limits);
  const flows = new Set<() => void>();
  /** Flows whose container socket is being opened: they count against the limit already. */
  let opening = 0;
  let dropped = 0;
  let stopped = false;

  const serve = async (request: PeerMessage, channel: StreamChannel): Promise<unknown> => {
    const parsed = v.safeParse(udpRequestSchema, request);
    if (!parsed.success) throw invalidArgument(`a malformed mesh UDP request: ${parsed.issues[0].message}`);
    const { serviceId, taskId, port } = parsed.output;
    if (stopped) throw unavailable('this node is leaving the routing mesh: the UDP flow is refused');
    const address = lookup(serviceId, taskId, port);
    if (address === null) throw notFound(`task ${taskId} of service ${serviceId} does not run on this node with port ${port}: the UDP flow is refused`);
    if (flows.size + opening >= resolved.udpMaxFlows) throw unavailable(`this node relays ${flows.size + opening} UDP flows, its most: try another task`);
    opening++;
    const socket = await connectDatagram(address, port, resolved.connectTimeoutMs).finally(() => opening--);
    if (channel.closed || stopped) {
      socket.close();
      throw new Error('the mesh stream closed while the container was being reached');
    }

    const idleMs = resolved.udpStreamTimeoutMs + IDLE_MARGIN_MS;
    let lastActivity = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const finish = (reason: string | null) => {
      if (!flows.delete(stop)) return;
      clearTimeout(timer);
      container.close();
      stream.close();
      if (reason) log.debug(`mesh UDP flow from node ${channel.peer.nodeId} to task ${taskId} ended: ${reason}`);
    };
    const stop = () => finish(null);
    const arm = (ms: number) => {
      timer = setTimeout(() => {
        const quiet = performance.now() - lastActivity;
        if (quiet >= idleMs) finish(`no datagram either way for ${idleMs} ms`);
        else arm(idleMs - quiet);
      }, ms);
      timer.unref();
    };
    const relay = (to: () => DatagramLink) => (datagram: Buffer) => {
      lastActivity = performance.now();
      if (!to().send(datagram)) dropped++;
    };
    const onDropped = () => dropped++;
    const container: DatagramLink = socketLink(socket, { onDatagram: relay(() => stream), onEnd: finish, onDropped });
    const stream: DatagramLink = streamLink(new ChannelStream(channel, resolved.maxBufferedBytes), { onDatagram: relay(() => container), onEnd: finish, onDropped });
    flows.add(stop);
    arm(idleMs);
    return { ok: true };
  };
  // A refusal's message goes back to the opener, which logs it.
  peers.serveStreams(MESH_UDP, serve);

  return {
    stats: () => ({ flows: flows.size, dropped }),
    async stop() {
      stopped = true;
      for (const stop of [...flows]) stop();
    },
  };
}
