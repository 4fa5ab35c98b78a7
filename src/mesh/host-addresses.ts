/**
 * Addresses the node answers on inside an overlay network's bridge: the services' virtual IPs and the addresses of
 * tasks that run on other nodes, each bound as a /32 on the bridge interface so that a container's connection to it
 * arrives at the node, where the mesh's listener on that address takes it. Done with iproute2 (`ip`), which every
 * Linux that runs Docker has; no kernel module is involved — they are plain local addresses.
 *
 * Only /32 addresses inside the network's subnet are ever touched: the bridge's own gateway address (the engine's)
 * and anything else an administrator put there are left alone.
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** iproute2's `ip`: in /usr/sbin or /sbin, which a daemon's PATH (a unit's, a shell's as a user) may leave out. */
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((candidate) => existsSync(candidate)) ?? 'ip';

const ip = (args: string[]) => execFileAsync(IP, args);

export interface AddressBinder {
  /** The /32 addresses bound on `device` now. */
  list(device: string): Promise<string[]>;
  add(device: string, address: string): Promise<void>;
  remove(device: string, address: string): Promise<void>;
}

/** The binder of a real node: `ip -4 addr` on the bridge. */
export const ipAddressBinder: AddressBinder = {
  async list(device) {
    const { stdout } = await ip(['-4', '-o', 'addr', 'show', 'dev', device]);
    return [...stdout.matchAll(/\sinet (\d+\.\d+\.\d+\.\d+)\/32\s/g)].map((m) => m[1]!);
  },
  async add(device, address) {
    try {
      await ip(['-4', 'addr', 'add', `${address}/32`, 'dev', device]);
    } catch (err) {
      if (/File exists|Address already assigned/.test(String((err as { stderr?: string }).stderr ?? err))) return;
      throw err;
    }
  },
  async remove(device, address) {
    try {
      await ip(['-4', 'addr', 'del', `${address}/32`, 'dev', device]);
    } catch (err) {
      if (/Cannot assign requested address|Cannot find device/.test(String((err as { stderr?: string }).stderr ?? err))) return;
      throw err;
    }
  },
};

/** Brings `device`'s /32 addresses to exactly `wanted` (those inside `inSubnet`; others are not ours). */
export async function reconcileAddresses(binder: AddressBinder, device: string, wanted: ReadonlySet<string>, inSubnet: (address: string) => boolean): Promise<void> {
  const bound = new Set((await binder.list(device)).filter(inSubnet));
  for (const address of bound) if (!wanted.has(address)) await binder.remove(device, address);
  for (const address of wanted) if (!bound.has(address)) await binder.add(device, address);
}
