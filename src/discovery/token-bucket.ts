/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. Discovery spends one per packet it is about to
 * decode or answer, so a flood of packets that look like ours costs a bounded amount of work per second, and the
 * event loop keeps serving everything else. Time is an input (monotonic milliseconds).
 */

export class TokenBucket {
  private readonly rate: number;
  private readonly burst: number;
  private tokens: number;
  private last: number;

  constructor(rate: number, burst: number, now: number) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = now;
  }

  /** Takes a token if one is left. */
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
