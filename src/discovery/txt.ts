/**
 * What a swarmlet daemon says about itself in its DNS-SD TXT record, and the strict reading of what others say.
 *
 * The TXT record is the one place where a stranger on the LAN hands us free-form bytes that end up in decisions
 * (which manager to dial, which cluster a node belongs to). So the reader accepts exactly the keys and shapes the
 * writer produces — `v=1`, `cluster=<root key digest or empty>`, `node=<id>`, `role=manager|worker|none`,
 * `port=<1..65535>` — and answers a reason instead of throwing for anything else. Limits come before any parsing:
 * a record of more than MAX_TXT_STRINGS strings or MAX_TXT_BYTES bytes is refused whole, so a huge record costs a
 * length check. Keys compare case-insensitively and the first occurrence of a key wins (RFC 6763 §6.4 and §6.5);
 * unknown keys are ignored, so a later version may add some without breaking this one.
 */

/** The version this code writes and the only one it reads; a peer speaking another one is not listed. */
export const TXT_VERSION = '1';

export const DISCOVERY_ROLES = ['manager', 'worker', 'none'] as const;
/** `none`: the daemon is in no cluster yet (it can still be found, to be joined). */
export type DiscoveryRole = (typeof DISCOVERY_ROLES)[number];

/** A record with more strings or bytes than this is refused without being read. Ours is about 110 bytes. */
export const MAX_TXT_STRINGS = 16;
export const MAX_TXT_BYTES = 1024;

const NODE_ID = /^[a-z0-9]{1,64}$/;
const CLUSTER_DIGEST = /^[a-z0-9]{1,128}$/;
const PORT = /^[1-9][0-9]{0,4}$/;

/** The facts a TXT record carries. */
export interface ServiceFields {
  nodeId: string;
  role: DiscoveryRole;
  /** The cluster's root key digest; '' while the daemon is in no cluster. */
  cluster: string;
  /** The node transport's port. */
  port: number;
}

export type TxtResult = { ok: true; fields: ServiceFields } | { ok: false; reason: string };

/** Why these fields cannot be advertised, or undefined when they can (the advertiser checks its own input too). */
export function invalidFieldsReason(fields: ServiceFields): string | undefined {
  if (!NODE_ID.test(fields.nodeId)) return `node id "${fields.nodeId}" is not 1 to 64 lowercase letters and digits`;
  if (!DISCOVERY_ROLES.includes(fields.role)) return `role "${fields.role}" is not one of ${DISCOVERY_ROLES.join(', ')}`;
  if (fields.cluster !== '' && !CLUSTER_DIGEST.test(fields.cluster)) return `cluster digest "${fields.cluster}" is not lowercase letters and digits`;
  if (!Number.isInteger(fields.port) || fields.port < 1 || fields.port > 65535) return `port ${fields.port} is not in 1..65535`;
  return undefined;
}

/** The TXT strings for these fields, in a fixed order. */
export function encodeTxt(fields: ServiceFields): string[] {
  return [`v=${TXT_VERSION}`, `cluster=${fields.cluster}`, `node=${fields.nodeId}`, `role=${fields.role}`, `port=${fields.port}`];
}

/** Reads a TXT record's strings (as dns-packet decodes them) into fields, or the reason they are refused. */
export function parseTxt(strings: unknown): TxtResult {
  if (!Array.isArray(strings)) return { ok: false, reason: 'TXT data is not a list of strings' };
  if (strings.length > MAX_TXT_STRINGS) return { ok: false, reason: `TXT record has ${strings.length} strings (at most ${MAX_TXT_STRINGS})` };
  let total = 0;
  for (const item of strings) {
    if (!(item instanceof Uint8Array)) return { ok: false, reason: 'TXT string is not bytes' };
    total += item.length + 1;
  }
  if (total > MAX_TXT_BYTES) return { ok: false, reason: `TXT record has ${total} bytes (at most ${MAX_TXT_BYTES})` };

  const values = new Map<string, string>();
  for (const item of strings as Uint8Array[]) {
    // latin1 maps each byte to one character, so a non-ASCII byte can never pass the ASCII patterns below.
    const text = Buffer.from(item.buffer, item.byteOffset, item.byteLength).toString('latin1');
    const equals = text.indexOf('=');
    if (equals <= 0) continue; // an empty string, a boolean attribute, or a missing key: not ours
    const key = text.slice(0, equals).toLowerCase();
    if (!values.has(key)) values.set(key, text.slice(equals + 1));
  }

  const version = values.get('v');
  if (version !== TXT_VERSION) return { ok: false, reason: version === undefined ? 'TXT record has no version' : `TXT version "${printable(version)}" is not ${TXT_VERSION}` };
  const nodeId = values.get('node');
  if (nodeId === undefined || !NODE_ID.test(nodeId)) return { ok: false, reason: `TXT node id is missing or malformed` };
  const role = values.get('role');
  if (!DISCOVERY_ROLES.includes(role as DiscoveryRole)) return { ok: false, reason: `TXT role is missing or unknown` };
  const cluster = values.get('cluster') ?? '';
  if (cluster !== '' && !CLUSTER_DIGEST.test(cluster)) return { ok: false, reason: `TXT cluster digest is malformed` };
  const portText = values.get('port');
  const port = portText !== undefined && PORT.test(portText) ? Number(portText) : 0;
  if (port < 1 || port > 65535) return { ok: false, reason: `TXT port is missing or not in 1..65535` };
  return { ok: true, fields: { nodeId, role: role as DiscoveryRole, cluster, port } };
}

/** A peer's value as it may appear in a log line: short, and without control characters. */
function printable(text: string): string {
  return text.slice(0, 32).replace(/[^\x20-\x7e]/g, '?');
}
