/**
 * A token bucket per remote address, for handshakes. A handshake costs the responder an Ed25519 signature and a
 * verification (milliseconds in tweetnacl), so one address hammering the port could take a core; the bucket caps
 * each address at a steady rate while letting a node reconnect all its channels at once (the burst). Pure: the
 * time is passed in, so tests drive it without waiting.
 *
 * The table is bounded: buckets that have refilled are forgotten first (they carry no information), then the
 * oldest, so a sweep of spoofed or many source addresses cannot grow memory without end.
 */

interface Bucket {
  tokens: number;
  at: number;
}

export interface TokenBucketOptions {
  ratePerSecond: number;
  burst: number;
  /** Addresses remembered at most. */
  maxKeys?: number;
}

export class TokenBuckets {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: TokenBucketOptions) {
    this.#rate = options.ratePerSecond;
    this.#burst = options.burst;
    this.#maxKeys = options.maxKeys ?? 4096;
  }

  /** Takes one token for `key` at time `now` (ms); false when its bucket is empty. */
  take(key: string, now: number): boolean {
    if (this.#rate === Infinity) return true;
    let bucket = this.#buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate);
      bucket.at = now;
    } else {
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
      if (this.#buckets.size > this.#maxKeys) this.#evict(now);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.#rate >= this.#burst) this.#buckets.delete(key);
    }
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size <= this.#maxKeys) break;
      this.#buckets.delete(key);
    }
  }
}
