/**
 * `swarmlet init`: make this node a one-node cluster and its first manager (Docker's `swarm init`), with
 * Docker's request body so the daemon treats this CLI and the docker CLI alike.
 */

import type { CommandSpec } from './command.ts';
import { booleanOption, stringOption } from './flags.ts';

/** Docker's default: managers listen for other nodes on every interface, port 2377. */
const DEFAULT_LISTEN_ADDR = '0.0.0.0:2377';

export const initCommand: CommandSpec = {
  name: 'init',
  description: 'Initialize a swarm: this node becomes its first manager',
  options: [
    { name: 'advertise-addr', value: 'ADDR', description: 'Address other nodes reach this one at (e.g. 192.168.1.10)' },
    { name: 'listen-addr', value: 'ADDR', description: `Listen address for cluster traffic (default "${DEFAULT_LISTEN_ADDR}")` },
    { name: 'force-new-cluster', description: 'Recover from a lost quorum: make this manager the only member of a new cluster, keeping its state' },
    { name: 'quiet', short: 'q', description: 'Only print the node ID' },
  ],
  async run(ctx) {
    const { options } = ctx.args;
    const nodeId = await ctx.api().post<string>('/swarm/init', {
      ListenAddr: stringOption(options, 'listen-addr') ?? DEFAULT_LISTEN_ADDR,
      AdvertiseAddr: stringOption(options, 'advertise-addr') ?? '',
      ForceNewCluster: booleanOption(options, 'force-new-cluster'),
      Spec: {},
    });
    if (booleanOption(options, 'quiet')) {
      ctx.out(`${nodeId}\n`);
      return;
    }
    ctx.out(
      `Swarm initialized: current node (${nodeId}) is now a manager.\n\n` +
        `To run a service on it: swarmlet service create --name NAME IMAGE [COMMAND]\n` +
        `To see the cluster:     swarmlet node ls\n`,
    );
  },
};
