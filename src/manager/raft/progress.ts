/**
 * What a leader knows about one follower's log, and how fast it may send to it. A follower is probed one message
 * at a time until an append succeeds, then replicated to optimistically with up to maxInflight messages
 * outstanding, or sent a snapshot when the entries it needs were compacted away.
 */

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to be in the follower's log. */
  match = 0;
  /** Next index to send. */
  next: number;
  state: ProgressState = 'probe';
  /** Probe: a message is out; wait for its answer (or a heartbeat response) before sending another. */
  probeSent = false;
  /** Snapshot: the index of the snapshot sent, and ticks since, to retry when it was lost. */
  pendingSnapshot = 0;
  snapshotElapsed = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Last index of each append in flight, ascending (replicate state only). */
  private inflight: number[] = [];
  private readonly maxInflight: number;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.maxInflight = maxInflight;
  }

  becomeProbe(): void {
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = 'probe';
    this.probeSent = false;
    this.inflight = [];
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.inflight = [];
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.snapshotElapsed = 0;
    this.inflight = [];
  }

  /** A successful append up to `index`; false when it says nothing new (a stale or duplicated response). */
  maybeUpdate(index: number): boolean {
    this.probeSent = false;
    if (index <= this.match) return false;
    this.match = index;
    this.next = Math.max(this.next, index + 1);
    return true;
  }

  /** Nothing more may be sent until an answer arrives. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  /** Records an append carrying entries up to `lastIndex` (or none: lastIndex = next - 1). */
  sent(lastIndex: number, carriedEntries: boolean): void {
    if (this.state === 'replicate') {
      if (carriedEntries) {
        this.next = lastIndex + 1;
        this.inflight.push(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Appends up to `index` were acknowledged: their slots free up. */
  freeTo(index: number): void {
    let n = 0;
    while (n < this.inflight.length && this.inflight[n] <= index) n++;
    if (n > 0) this.inflight.splice(0, n);
  }

  /** A heartbeat answered but appends did not: assume the oldest was lost, so replication cannot stall. */
  freeFirst(): void {
    this.inflight.shift();
  }

  get inflightCount(): number {
    return this.inflight.length;
  }
}
