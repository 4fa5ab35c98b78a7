/**
 * `swarmlet init`: make this node a one-node cluster and its first manager (Docker's `swarm init`), with
 * Docker's request body so the daemon treats this CLI and the docker CLI alike.
 */

import type { Swarm } from '../api/types.ts';
import { invalidArgument, unavailable } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import { booleanOption, stringOption } from './flags.ts';

/**
 * Every interface, on swarmlet's transport port: not Docker's 2377, so Docker Swarm and swarmlet can run on one
 * box during a migration. Not sent when not given, so the daemon's own --listen-addr applies.
 */
const DEFAULT_LISTEN_ADDR = '0.0.0.0:4377';

export const initCommand: CommandSpec = {
  name: 'init',
  description: 'Initialize a swarm: this node becomes its first manager',
  options: [
    { name: 'advertise-addr', value: 'ADDR', description: 'Address other nodes reach this one at (e.g. 192.168.1.10)' },
    { name: 'listen-addr', value: 'ADDR', description: `Listen address for cluster traffic (default "${DEFAULT_LISTEN_ADDR}")` },
    { name: 'cert-expiry', value: 'DURATION', description: 'Validity period for node certificates (default 2160h0m0s)' },
    { name: 'force-new-cluster', description: 'Recover from a lost quorum: make this manager the only member of a new cluster, keeping its state' },
    { name: 'quiet', short: 'q', description: 'Only print the node ID' },
  ],
  async run(ctx) {
    const { options } = ctx.args;
    const expiry = stringOption(options, 'cert-expiry');
    const api = ctx.api();
    const nodeId = await api.post<string>('/swarm/init', {
      ListenAddr: stringOption(options, 'listen-addr') ?? '',
      AdvertiseAddr: stringOption(options, 'advertise-addr') ?? '',
      ForceNewCluster: booleanOption(options, 'force-new-cluster'),
      Spec: expiry ? { CAConfig: { NodeCertExpiry: parseDuration(expiry) } } : {},
    });
    if (booleanOption(options, 'quiet')) {
      ctx.out(`${nodeId}\n`);
      return;
    }
    const swarm = await api.get<Swarm>('/swarm');
    ctx.out(
      `Swarm initialized: current node (${nodeId}) is now a manager.\n\n` +
        `To add a worker to this swarm, run the following command on it (the address is optional: it is found over mDNS):\n\n` +
        `    swarmlet join --token ${swarm.JoinTokens.Worker}\n\n` +
        `To add a manager to this swarm, run 'swarmlet join-token manager' and follow the instructions.\n`,
    );
  },
};

export const joinCommand: CommandSpec = {
  name: 'join',
  args: '[host:port]',
  description: 'Join a swarm as a node and/or manager (the manager is found over mDNS when no address is given)',
  options: [
    { name: 'token', value: 'TOKEN', description: 'Token for entry into the swarm' },
    { name: 'advertise-addr', value: 'ADDR', description: 'Address other nodes reach this one at' },
    { name: 'listen-addr', value: 'ADDR', description: `Listen address for cluster traffic (default "${DEFAULT_LISTEN_ADDR}")` },
  ],
  async run(ctx) {
    const { options, positionals } = ctx.args;
    const token = stringOption(options, 'token');
    if (!token) throw invalidArgument('"swarmlet join" needs --token TOKEN: print one on a manager with "swarmlet join-token worker"');
    const api = ctx.api();
    await api.post('/swarm/join', {
      JoinToken: token,
      RemoteAddrs: positionals.length > 0 ? [positionals[0]] : [],
      ListenAddr: stringOption(options, 'listen-addr') ?? '',
      AdvertiseAddr: stringOption(options, 'advertise-addr') ?? '',
    });
    const info = await api.get<{ Swarm?: { ControlAvailable?: boolean } }>('/info');
    ctx.out(info.Swarm?.ControlAvailable ? 'This node joined a swarm as a manager.\n' : 'This node joined a swarm as a worker.\n');
  },
};

export const joinTokenCommand: CommandSpec = {
  name: 'join-token',
  args: '<worker|manager>',
  description: 'Manage join tokens',
  options: [
    { name: 'rotate', description: 'Rotate join token' },
    { name: 'quiet', short: 'q', description: 'Only display token' },
  ],
  async run(ctx) {
    const { options, positionals } = ctx.args;
    const role = positionals[0];
    if (role !== 'worker' && role !== 'manager') throw invalidArgument(`unknown role ${JSON.stringify(role)}: use worker or manager`);
    const api = ctx.api();
    if (booleanOption(options, 'rotate')) {
      const before = await api.get<Swarm>('/swarm');
      await api.post('/swarm/update', {}, { version: String(before.Version.Index), [role === 'worker' ? 'rotateWorkerToken' : 'rotateManagerToken']: 'true' });
      if (!booleanOption(options, 'quiet')) ctx.out(`Successfully rotated ${role} join token.\n\n`);
    }
    const swarm = await api.get<Swarm>('/swarm');
    const token = role === 'worker' ? swarm.JoinTokens.Worker : swarm.JoinTokens.Manager;
    if (booleanOption(options, 'quiet')) {
      ctx.out(`${token}\n`);
      return;
    }
    ctx.out(`To add a ${role} to this swarm, run the following command (the address is optional: it is found over mDNS):\n\n    swarmlet join --token ${token}\n\n`);
  },
};

export const leaveCommand: CommandSpec = {
  name: 'leave',
  description: 'Leave the swarm',
  options: [{ name: 'force', short: 'f', description: 'Force this node to leave the swarm, ignoring warnings' }],
  async run(ctx) {
    await ctx.api().post('/swarm/leave', undefined, booleanOption(ctx.args.options, 'force') ? { force: 'true' } : {});
    ctx.out('Node left the swarm.\n');
  },
};

/** Polls until the cluster says its root rotation is over: every node then holds a certificate from the new root. */
async function waitForRotation(api: ReturnType<CommandContext['api']>, timeoutMs: number): Promise<Swarm> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const swarm = await api.get<Swarm>('/swarm');
    if (!swarm.RootRotationInProgress) return swarm;
    if (Date.now() > deadline) {
      throw unavailable('the root key rotation is still in progress: some nodes have not renewed their certificates yet (are they down?). It finishes once they do; check with "swarmlet ca".');
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export const caCommand: CommandSpec = {
  name: 'ca',
  description: "Display and rotate the cluster's root key",
  options: [
    { name: 'rotate', description: 'Make a new root key; every node gets a certificate from it, then the old one is dropped' },
    { name: 'detach', short: 'd', description: 'Exit immediately instead of waiting for the rotation to finish' },
    { name: 'quiet', short: 'q', description: 'Only print the cluster digest' },
  ],
  async run(ctx) {
    const { options } = ctx.args;
    const api = ctx.api();
    let swarm = await api.get<Swarm>('/swarm');
    if (booleanOption(options, 'rotate')) {
      const spec = { ...swarm.Spec, CAConfig: { ...swarm.Spec.CAConfig, ForceRotate: (swarm.Spec.CAConfig.ForceRotate ?? 0) + 1 } };
      await api.post('/swarm/update', spec, { version: String(swarm.Version.Index) });
      swarm = booleanOption(options, 'detach') ? await api.get<Swarm>('/swarm') : await waitForRotation(api, 120_000);
    }
    const digest = swarm.JoinTokens.Worker.split('-')[2] ?? '';
    if (booleanOption(options, 'quiet')) {
      ctx.out(`${digest}\n`);
      return;
    }
    ctx.out(
      `cluster root digest: ${digest}${swarm.RootRotationInProgress ? ' (rotation in progress)' : ''}\n` +
        (booleanOption(options, 'rotate') ? 'The join tokens changed with the root: print them again with "swarmlet join-token worker" (or manager).\n' : ''),
    );
  },
};
