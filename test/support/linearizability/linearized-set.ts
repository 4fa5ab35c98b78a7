/**
 * Which operations the search has linearized so far: a bitset with a hash kept up to date on every change
 * (Zobrist hashing: the XOR of one fixed well-mixed word per member), so remembering a search configuration costs
 * O(1) to hash and a copy of the words only when it is new. Only completed operations enter the hash: the memo
 * matches configurations that differ in which pending operations they used (see memo.ts).
 */
export class LinearizedSet {
  readonly words: Uint32Array;
  private readonly pending: readonly boolean[];
  private currentHash = 0;

  /** `pending[i]` says operation i never returned. */
  constructor(pending: readonly boolean[]) {
    this.words = new Uint32Array(Math.ceil(pending.length / 32));
    this.pending = pending;
  }

  /** The hash of the completed members. */
  get hash(): number {
    return this.currentHash;
  }

  has(i: number): boolean {
    return (this.words[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  add(i: number): void {
    this.words[i >>> 5] |= 1 << (i & 31);
    if (!this.pending[i]) this.currentHash = (this.currentHash ^ memberHash(i)) >>> 0;
  }

  delete(i: number): void {
    this.words[i >>> 5] &= ~(1 << (i & 31));
    if (!this.pending[i]) this.currentHash = (this.currentHash ^ memberHash(i)) >>> 0;
  }

  snapshot(): Uint32Array {
    return this.words.slice();
  }
}

/** A well-mixed 32-bit word per member, derived from its index so no random source is needed. */
function memberHash(i: number): number {
  let h = Math.imul(i + 1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
