/**
 * Which AEAD seals a session's frames, negotiated in the handshake as TLS does it. Two are spoken, with the same
 * shape (32-byte key, 12-byte nonce, 16-byte tag), so a frame looks the same under either:
 *
 *   aes-256-gcm        fastest where the CPU has AES instructions (x86 AES-NI, the ARMv8 crypto extensions):
 *                      8.2 GB/s against ChaCha20's 3.2 per operation on the x86 machine measured
 *   chacha20-poly1305  fastest without them: a Raspberry Pi 4's Cortex-A72 has no crypto extensions, and AES in
 *                      software is several times slower there, while ChaCha20 needs only additions, rotations and
 *                      xors, so it runs in constant time on any CPU
 *
 * A node offers AES-256-GCM only when its own CPU has AES instructions, and always offers ChaCha20-Poly1305. The
 * responder takes the first of the initiator's offers it offers too, so AES-GCM is chosen exactly when both nodes
 * have the hardware, and a mixed pair (a Pi 4 and an x86 box) settles on ChaCha20. The offer and the choice are in
 * the transcript both sides sign (handshake-messages.ts), so nobody in the path can steer the choice.
 *
 * SWARMLET_TRANSPORT_AEAD=aes-256-gcm or =chacha20-poly1305 makes a node offer only that one, whatever its CPU,
 * for tests and benchmarks (both ends read it when they share the environment); a peer that does not offer it is
 * refused ('no_common_aead'). Unset, empty or "auto": the hardware decides.
 */

import { getCiphers } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { invalidArgument } from '../errors.ts';

export const AEAD_NAMES = ['aes-256-gcm', 'chacha20-poly1305'] as const;
/** Also node:crypto's name for the cipher. */
export type AeadName = (typeof AEAD_NAMES)[number];

/** Each AEAD's byte on the wire. Ids this version does not know may appear in a newer peer's offer: they are skipped. */
const WIRE_ID: Readonly<Record<AeadName, number>> = { 'aes-256-gcm': 1, 'chacha20-poly1305': 2 };
const BY_WIRE_ID = new Map(AEAD_NAMES.map((name) => [WIRE_ID[name], name]));

export const AEAD_OVERRIDE_VARIABLE = 'SWARMLET_TRANSPORT_AEAD';

export function aeadWireId(name: AeadName): number {
  return WIRE_ID[name];
}

/** The AEAD a wire id names, or null for one this version does not speak. */
export function aeadFromWireId(id: number): AeadName | null {
  return BY_WIRE_ID.get(id) ?? null;
}

/** An offer as a peer wrote it, for messages: names where known, "#id" otherwise. */
export function describeOffer(ids: Uint8Array): string {
  return [...ids].map((id) => aeadFromWireId(id) ?? `#${id}`).join(', ') || 'nothing';
}

/**
 * Whether /proc/cpuinfo says every CPU has AES instructions: the `aes` flag on x86, the `aes` feature on ARM
 * (arm64, and 32-bit ARM kernels on ARMv8 parts). Any other architecture, or no CPU line at all, counts as no.
 */
export function cpuinfoHasAes(cpuinfo: string, arch: string): boolean {
  const field = arch === 'x64' || arch === 'ia32' ? 'flags' : arch === 'arm64' || arch === 'arm' ? 'Features' : null;
  if (!field) return false;
  const lines = cpuinfo.split('\n').filter((line) => line.split(':')[0]!.trim() === field);
  return lines.length > 0 && lines.every((line) => line.slice(line.indexOf(':') + 1).trim().split(/\s+/).includes('aes'));
}

let hardwareAes: boolean | undefined;

/** Read once per process; a system without a readable /proc/cpuinfo (not Linux, a sandbox) gets ChaCha20. */
export function hasHardwareAes(): boolean {
  if (hardwareAes === undefined) {
    try {
      hardwareAes = cpuinfoHasAes(readFileSync('/proc/cpuinfo', 'utf8'), process.arch);
    } catch {
      hardwareAes = false;
    }
  }
  return hardwareAes;
}

/**
 * What a node offers, best first: AES-256-GCM then ChaCha20-Poly1305 with hardware AES, ChaCha20-Poly1305 alone
 * without; or only the AEAD `override` names. Throws for an override that names no AEAD, so a misspelt variable
 * stops the node at start instead of being ignored.
 */
export function aeadOffer(hardwareAes: boolean, override?: string): AeadName[] {
  const forced = override?.trim().toLowerCase();
  if (forced && forced !== 'auto') {
    if (!(AEAD_NAMES as readonly string[]).includes(forced)) {
      throw invalidArgument(`${AEAD_OVERRIDE_VARIABLE} must be ${AEAD_NAMES.join(', ')} or auto, got ${JSON.stringify(override)}`);
    }
    return [forced as AeadName];
  }
  const offer: AeadName[] = hardwareAes ? ['aes-256-gcm', 'chacha20-poly1305'] : ['chacha20-poly1305'];
  // A Node built against an OpenSSL without one of them (none we ship) must not offer what it cannot run.
  const available = new Set(getCiphers());
  return offer.filter((name) => available.has(name));
}

/** This node's offer: its CPU's, unless the environment overrides it. */
export function localAeadOffer(env: NodeJS.ProcessEnv = process.env): AeadName[] {
  return aeadOffer(hasHardwareAes(), env[AEAD_OVERRIDE_VARIABLE]);
}

/** The responder's pick: the first of the initiator's offers (wire ids, in its order) that this node offers too. */
export function chooseAead(offered: Uint8Array, ours: readonly AeadName[]): AeadName | null {
  for (const id of offered) {
    const name = aeadFromWireId(id);
    if (name && ours.includes(name)) return name;
  }
  return null;
}
