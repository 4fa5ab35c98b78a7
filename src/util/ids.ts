/**
 * Object IDs in Swarm's form: 25 characters of lowercase base-36, so IDs look familiar and the docker CLI's
 * 12-character truncation keeps them readable. Randomness is injected so the pure parts stay deterministic.
 */

import { randomBytes } from 'node:crypto';

export type RandomSource = (bytes: number) => Uint8Array;

export const cryptoRandom: RandomSource = (bytes) => randomBytes(bytes);

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
export const ID_LENGTH = 25;

export function newId(random: RandomSource = cryptoRandom): string {
  // One byte per digit; the small modulo bias (256 mod 36) does not matter for identifiers.
  const bytes = random(ID_LENGTH);
  let id = '';
  for (let i = 0; i < ID_LENGTH; i++) id += ALPHABET[bytes[i]! % ALPHABET.length];
  return id;
}

/** A seeded generator for simulations and tests (mulberry32). */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
    }
    return out;
  };
}
