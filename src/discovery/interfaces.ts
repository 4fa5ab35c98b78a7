/**
 * Which network interfaces discovery speaks on, and which address it advertises on each.
 *
 * mDNS goes only where the node was told to be reachable. A Docker host has docker0, veth*, br-* and friends, whose
 * addresses mean nothing to other machines (DESIGN.md: bonjour-service listed h2's docker0 address), and an
 * appliance may sit on a LAN it must not announce itself to. So:
 * - `off` disables discovery;
 * - a list of interface names uses exactly those (the user asked, even for a bridge named br-lan);
 * - an advertise address uses the one interface that holds it, and advertises that address alone;
 * - otherwise (`auto`) every interface that is up, not loopback, and not named like a container or VPN interface.
 * Each chosen interface becomes one link: its own socket with IP_MULTICAST_IF and group membership on that
 * interface only, and the interface's subnets, used to drop packets that arrived from anywhere else.
 *
 * Resolution is a pure function of `os.networkInterfaces()`'s answer, so it is tested without a network and run
 * again whenever the advertiser or watcher rescans (an address that comes late with DHCP, or changes).
 * IPv4 only: every swarmlet address today is one, and one family keeps one socket per interface.
 */

import type { NetworkInterfaceInfo } from 'node:os';
import { isIPv4 } from 'node:net';
import { SwarmletError, invalidArgument } from '../errors.ts';

export type InterfaceChoice =
  | { mode: 'off' }
  | { mode: 'auto' }
  | { mode: 'names'; names: string[] }
  | { mode: 'address'; address: string };

export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** An IPv4 subnet as a network number and a mask, both unsigned 32-bit. */
export interface Subnet {
  network: number;
  mask: number;
}

/** One interface discovery uses. */
export interface LinkSpec {
  /** The interface's name, e.g. `eth0`. */
  interface: string;
  /** The address mDNS is sent from and advertised (the advertise address in `address` mode). */
  address: string;
  /** Every IPv4 subnet of the interface: a packet from outside them did not come from this link. */
  subnets: Subnet[];
}

/**
 * Names of interfaces whose addresses other machines cannot use: container bridges and their veth ends, virtual
 * machine bridges, overlay and VPN tunnels. Skipped in `auto` mode only.
 */
const NOT_LAN = /^(docker|veth|br-|virbr|vnet|cni|flannel|cali|cilium|weave|vxlan|kube|lxcbr|lxdbr|podman|tailscale|wg|zt|tun|tap)/;

/** True for an interface name `auto` mode never uses. */
export function isContainerOrTunnelInterface(name: string): boolean {
  return NOT_LAN.test(name);
}

/**
 * The choice from what users type. `interfaces`: `on` (the default), `off`, or interface names (a comma-separated
 * string or a list); `advertiseAddr`: Docker's `--advertise-addr`, an IPv4 address with or without a port, or an
 * interface name. Names win over an address; neither means `auto`.
 */
export function interfaceChoice(input: { interfaces?: string | readonly string[]; advertiseAddr?: string }): InterfaceChoice {
  const names = (typeof input.interfaces === 'string' ? input.interfaces.split(',') : (input.interfaces ?? []))
    .map((name) => name.trim())
    .filter((name) => name !== '');
  // `on` is the daemon's default spelled out: the advertise address's interface, or `auto`.
  if (names.length === 1 && names[0] === 'on') names.length = 0;
  if (names.includes('off')) {
    if (names.length > 1) throw invalidArgument(`discovery interfaces "${names.join(',')}": "off" cannot be combined with interface names`);
    return { mode: 'off' };
  }
  for (const name of names) {
    if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name)) throw invalidArgument(`"${name}" is not a network interface name`);
  }
  if (names.length > 0) return { mode: 'names', names: [...new Set(names)] };
  const advertise = input.advertiseAddr?.trim() ?? '';
  if (advertise === '') return { mode: 'auto' };
  const host = /^\d+\.\d+\.\d+\.\d+:\d+$/.test(advertise) ? advertise.slice(0, advertise.lastIndexOf(':')) : advertise;
  if (isIPv4(host)) return { mode: 'address', address: host };
  if (host.includes(':') || host.startsWith('[')) {
    throw invalidArgument(`advertise address "${advertise}" is IPv6; discovery speaks IPv4 only: name the interface to use instead`);
  }
  if (/^[A-Za-z0-9_.@-]{1,15}$/.test(host)) return { mode: 'names', names: [host] };
  throw invalidArgument(`advertise address "${advertise}" is neither an IPv4 address nor an interface name`);
}

/** The links a choice finds on this machine, and why any part of it found nothing (one sentence each). */
export interface Resolution {
  links: LinkSpec[];
  problems: string[];
}

/**
 * The links for a choice, given the machine's interfaces. Never throws: a named interface that is missing or has
 * no address yet is a problem to report while the others are used, and a rescan may find it later.
 */
export function resolveLinks(choice: InterfaceChoice, table: InterfaceTable): Resolution {
  const ipv4 = (name: string) => (table[name] ?? []).filter((info) => info.family === 'IPv4');
  const link = (name: string, address: string): LinkSpec => ({
    interface: name,
    address,
    subnets: ipv4(name).map((info) => subnetOf(info.address, info.netmask)),
  });

  switch (choice.mode) {
    case 'off':
      return { links: [], problems: [] };
    case 'names': {
      const links: LinkSpec[] = [];
      const problems: string[] = [];
      for (const name of choice.names) {
        const first = ipv4(name)[0];
        if (first) links.push(link(name, first.address));
        else problems.push(table[name] ? `interface ${name} has no IPv4 address (or is down)` : `no network interface is named ${name}`);
      }
      return { links, problems };
    }
    case 'address': {
      const name = Object.keys(table).find((candidate) => ipv4(candidate).some((info) => info.address === choice.address));
      if (name === undefined) return { links: [], problems: [`no network interface holds the advertise address ${choice.address}`] };
      return { links: [link(name, choice.address)], problems: [] };
    }
    case 'auto': {
      const links = Object.keys(table)
        .filter((name) => !isContainerOrTunnelInterface(name))
        .flatMap((name) => {
          const first = ipv4(name).find((info) => !info.internal);
          return first ? [link(name, first.address)] : [];
        });
      const problems = links.length === 0 ? ['no network interface with an IPv4 address (container bridges and tunnels are skipped)'] : [];
      return { links, problems };
    }
  }
}

/** The links for a choice, or an `unavailable` error saying what to do when it found none. */
export function requireLinks(choice: InterfaceChoice, table: InterfaceTable): LinkSpec[] {
  const { links, problems } = resolveLinks(choice, table);
  if (links.length === 0 && choice.mode !== 'off') {
    throw new SwarmletError('unavailable', `discovery has no interface to use: ${problems.join('; ')}; name one with --interface`);
  }
  return links;
}

/** True when `address` lies in one of the link's subnets. */
export function onLink(spec: LinkSpec, address: string): boolean {
  const value = ipv4ToNumber(address);
  if (value === undefined) return false;
  return spec.subnets.some((subnet) => ((value & subnet.mask) >>> 0) === subnet.network);
}

export function subnetOf(address: string, netmask: string): Subnet {
  const mask = ipv4ToNumber(netmask) ?? 0xffffffff;
  return { network: ((ipv4ToNumber(address) ?? 0) & mask) >>> 0, mask };
}

function ipv4ToNumber(address: string): number | undefined {
  if (!isIPv4(address)) return undefined;
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}
