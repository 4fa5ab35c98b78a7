/**
 * The DNS names a swarmlet daemon answers for on the LAN.
 *
 * Service type `_swarmlet._tcp.local`; instance `<hostname>-<first 12 characters of the node id>`, so people see
 * which machine it is and two daemons on one host (tests, or a reinstall) still differ. The SRV target — the name
 * the A record belongs to — is that same label under `.local`, not the machine's own `<hostname>.local`: Avahi
 * or systemd-resolved may already answer for the machine's name with every address it has (docker0 included),
 * and two responders disagreeing about one name is exactly what mDNS treats as a conflict. A name of our own holds
 * only the addresses we chose to advertise.
 *
 * Labels are kept to lowercase letters, digits and `-` (the hostname is folded into that), at most 63 bytes, so
 * they survive any DNS library and never need escaping. DNS compares names case-insensitively: readers lowercase
 * before comparing.
 */

export const SERVICE_TYPE = '_swarmlet._tcp.local';
/** DNS-SD's meta-query: "which service types are on this link?" (RFC 6763 §9). */
export const SERVICE_ENUMERATION = '_services._dns-sd._udp.local';

/** Bytes every packet about our service contains (labels are never partly compressed), for a cheap pre-filter. */
export const SERVICE_LABEL = '_swarmlet';

const MAX_LABEL = 63;
const ID_PREFIX = 12;

/** The instance label of a daemon: `<hostname>-<node id prefix>`, as a lowercase DNS label. */
export function instanceLabel(hostname: string, nodeId: string): string {
  const suffix = `-${nodeId.slice(0, ID_PREFIX)}`;
  const host =
    hostname
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, MAX_LABEL - suffix.length)
      .replace(/-+$/, '') || 'swarmlet';
  return `${host}${suffix}`;
}

/** `<label>._swarmlet._tcp.local`: the name of the SRV and TXT records. */
export function instanceName(label: string): string {
  return `${label}.${SERVICE_TYPE}`;
}

/** `<label>.local`: the SRV target, the name of the A records. */
export function hostName(label: string): string {
  return `${label}.local`;
}

/** The instance label of one of our service instance names, or undefined for any other name. */
export function parseInstanceName(name: string): string | undefined {
  const lower = name.toLowerCase();
  const suffix = `.${SERVICE_TYPE}`;
  if (!lower.endsWith(suffix)) return undefined;
  const label = lower.slice(0, -suffix.length);
  if (label.length === 0 || label.length > MAX_LABEL || label.includes('.')) return undefined;
  return label;
}

/** The hostname part of an instance label: the label without `-<node id prefix>` when it ends so. */
export function hostnameOf(label: string, nodeId: string): string {
  const suffix = `-${nodeId.slice(0, ID_PREFIX)}`;
  return label.endsWith(suffix) && label.length > suffix.length ? label.slice(0, -suffix.length) : label;
}
