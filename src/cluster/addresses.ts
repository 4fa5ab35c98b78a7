/**
 * The address a node advertises when told none: the first IPv4 address of an interface that is up, not loopback,
 * and not a container bridge, veth or tunnel (their addresses mean nothing to other machines). Docker Swarm
 * refuses to guess when there are several; swarmlet takes the first and logs it, and `--advertise-addr` overrides.
 */

import os from 'node:os';
import { isContainerOrTunnelInterface } from '../discovery/interfaces.ts';

export function defaultAdvertiseAddress(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string | null {
  for (const [name, addresses] of Object.entries(interfaces)) {
    if (isContainerOrTunnelInterface(name)) continue;
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return null;
}
