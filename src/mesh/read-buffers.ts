/**
 * Where the reads of a container's socket land when the ingress splices it to a client (socket-splice.ts), through
 * net's `onread`: Node's own path allocates a fresh 64 KiB buffer for every read, and a download then costs a read
 * and a write syscall, an allocation and its collection per 64 KiB. Here:
 *
 * - A read first lands in one landing buffer that every connection shares, and is copied out of it at once. So a
 *   connection between two exchanges holds no buffer of its own: 10,000 idle connections cost nothing here.
 * - A read that fills the landing buffer, written to the client whole at once, means bulk is flowing and the client
 *   keeps up: the connection then reads into a 1 MiB buffer of its own and its chunks are written as they are, no
 *   copy, 16 times fewer syscalls than Node's 64 KiB. It goes back to the landing buffer when a read comes in under
 *   64 KiB (the flow slowed or ended) and when the client falls behind (a write the kernel did not take whole).
 * - So a client that reads slowly or stops pins at most one bulk buffer, once, then copies of at most 64 KiB; and
 *   bulk buffers come from one pool per process with a budget (BULK_BUDGET_BYTES): past it, connections stay on
 *   the landing buffer, as costly as Node's own path and no more.
 *
 * Reusing a buffer is safe because its socket reads nothing while a write points into it (the splice stops reading
 * until the client took every byte), and reading into the shared landing buffer is safe because each read's callback
 * runs, and copies its bytes out, before any other socket reads.
 */

/** What a read lands in first; Node reads 64 KiB at a time too. A read that fills it may start bulk mode. */
export const LANDING_BYTES = 64 * 1024;
/**
 * A connection's own read buffer while bulk flows. On loopback (test/bench/pipe.bench.ts) the forwarding thread spent
 * about 0.6 CPU-s per GB with Node's 64 KiB reads, 0.35 with 256 KiB buffers, 0.25 with 1 MiB.
 */
export const BULK_BYTES = 1024 * 1024;
/** Bulk buffers one process holds at most (in use, left behind with a write in flight, or spare). */
export const BULK_BUDGET_BYTES = 64 * 1024 * 1024;
/** Bulk buffers kept for the next transfer, so a burst of them does not allocate each time. */
const SPARE_BULK_BUFFERS = 8;

/** The landing buffer and the bulk buffers of one process (tests make their own, with small budgets). */
export class ReadBuffers {
  readonly bulkBytes: number;
  readonly budgetBytes: number;
  readonly #spareCount: number;
  readonly #spare: Buffer[] = [];
  #landing: Buffer | null = null;
  #bytes = 0;

  constructor(bulkBytes = BULK_BYTES, budgetBytes = BULK_BUDGET_BYTES, spareCount = SPARE_BULK_BUFFERS) {
    this.bulkBytes = bulkBytes;
    this.budgetBytes = budgetBytes;
    this.#spareCount = spareCount;
  }

  /** The shared landing buffer: whatever lands here is copied out before the next read. */
  get landing(): Buffer {
    return (this.#landing ??= Buffer.allocUnsafeSlow(LANDING_BYTES));
  }

  /** Bytes of bulk buffers alive: in use, left behind with a write in flight, or spare. */
  get bytes(): number {
    return this.#bytes;
  }

  /** A bulk buffer for one connection's reads, or null when the budget is spent. */
  take(): Buffer | null {
    const spare = this.#spare.pop();
    if (spare) return spare;
    if (this.#bytes + this.bulkBytes > this.budgetBytes) return null;
    this.#bytes += this.bulkBytes;
    return Buffer.allocUnsafeSlow(this.bulkBytes);
  }

  /** Back from a connection with nothing pointing into it: kept for the next, or let go. */
  give(buffer: Buffer): void {
    if (this.#spare.length < this.#spareCount) this.#spare.push(buffer);
    else this.#bytes -= buffer.length;
  }

  /** Let go of a buffer a write may still point into: the collector frees it once the write is done with it. */
  drop(buffer: Buffer): void {
    this.#bytes -= buffer.length;
  }
}

let shared: ReadBuffers | null = null;

/** The process's pool. */
export function readBuffers(): ReadBuffers {
  return (shared ??= new ReadBuffers());
}

/**
 * Where one socket's reads land, and who takes them: `buffer` and `read` are its `onread` pair. The taker writes
 * each chunk and says whether reading may go on; false means a write is in flight (or the connection is being
 * reset), and the taker resumes the socket once the write is done.
 */
export class Landing {
  readonly #pool: ReadBuffers;
  #next: Buffer;
  /** The buffer of this connection's own being read into (bulk mode): nothing else points into it between reads. */
  #own: Buffer | null = null;
  /** The bulk buffer left behind with a write pointing into it; free again by the time the socket reads. */
  #held: Buffer | null = null;
  /** Whether bulk mode is allowed: a splice whose bound is under a bulk buffer keeps to the landing buffer. */
  bulk = true;
  /** Takes a chunk; false stops reading until the taker resumes the socket. Nothing reads before a splice sets it. */
  take: (chunk: Buffer) => boolean = () => false;

  constructor(pool: ReadBuffers = readBuffers()) {
    this.#pool = pool;
    this.#next = pool.landing;
  }

  /** The size of a bulk buffer this landing may read into. */
  get bulkBytes(): number {
    return this.#pool.bulkBytes;
  }

  /** net's `onread.buffer`: called once when the socket connects and after every read. */
  readonly buffer = (): Buffer => this.#next;

  /** net's `onread.callback`: `length` bytes were read into `buffer`. */
  readonly read = (length: number, buffer: Buffer): boolean => {
    if (buffer === this.#own) {
      const more = this.take(buffer.subarray(0, length));
      if (more && length >= LANDING_BYTES) return true;
      // The client fell behind (the write is in flight) or the flow slowed: back to the landing buffer.
      this.#own = null;
      this.#next = this.#pool.landing;
      if (more) this.#pool.give(buffer);
      else this.#held = buffer;
      return more;
    }
    // This socket reads only once every write to the client is done: a buffer held for one is free by now.
    const free = this.#held;
    this.#held = null;
    const chunk = Buffer.allocUnsafe(length); // small ones are slices of Node's pool: cheaper than copyBytesFrom
    buffer.copy(chunk, 0, 0, length);
    const more = this.take(chunk);
    if (more && length === LANDING_BYTES && this.bulk) {
      this.#own = free ?? this.#pool.take();
      if (this.#own) this.#next = this.#own;
    } else if (free) {
      this.#pool.give(free);
    }
    return more;
  };

  /** The socket closed: its buffers go back (one a write may still point into is only let go). */
  release(): void {
    if (this.#own) this.#pool.give(this.#own);
    if (this.#held) this.#pool.drop(this.#held);
    this.#own = this.#held = null;
    this.#next = this.#pool.landing;
  }
}
