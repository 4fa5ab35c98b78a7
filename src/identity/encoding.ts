/**
 * Byte encodings for keys, digests and secrets. Decoding is strict on purpose: Node's base64 decoder ignores
 * stray characters and the unused low bits of the last character, so two different texts could decode to the same
 * key or signature. A certificate must have exactly one spelling, or "every byte matters" stops being true.
 */

const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * The bytes `text` encodes, or `undefined` unless `text` is the one canonical unpadded base64url spelling of exactly
 * `length` bytes.
 */
export function fromBase64url(text: unknown, length: number): Uint8Array | undefined {
  if (typeof text !== 'string' || !BASE64URL.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length !== length || bytes.toString('base64url') !== text) return undefined;
  return new Uint8Array(bytes);
}

/**
 * `bytes` as a big-endian number in lowercase base 36, left-padded with zeros to `width` characters. Base 36 is
 * what Swarm's tokens use: case-insensitive, no punctuation, safe to read aloud and to double-click in a terminal.
 */
export function toBase36(bytes: Uint8Array, width: number): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  const text = hex === '' ? '0' : BigInt(`0x${hex}`).toString(36);
  if (text.length > width) throw new RangeError(`${bytes.length} bytes do not fit in ${width} base-36 digits`);
  return text.padStart(width, '0');
}
