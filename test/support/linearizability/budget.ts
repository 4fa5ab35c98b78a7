/**
 * A bound on the search. Deciding linearizability is NP-complete (Gibbons & Korach), so a history with enough
 * concurrency can take longer than any CI run; a test must then hear "unknown", never hang, and never hear "ok".
 */

export interface BudgetOptions {
  /** Search steps (one visit of a call or return event) over the whole check. Default 20 million. */
  maxSteps?: number;
  /** Wall-clock limit in milliseconds over the whole check. Default 30 000. */
  timeoutMs?: number;
  /** The clock; injected so tests can run out of time without waiting. Default `performance.now`. */
  now?: () => number;
}

/** How often the clock is read: reading it costs far more than a step. */
const CLOCK_EVERY = 4096;

export class Budget {
  private stepsLeft: number;
  private readonly deadline: number;
  private readonly now: () => number;
  private used = 0;
  private readonly maxSteps: number;
  private readonly timeoutMs: number;
  /** Why the budget ran out, once it has. */
  exhaustedBy: string | undefined;

  constructor(options: BudgetOptions = {}) {
    const maxSteps = options.maxSteps ?? 20_000_000;
    const timeoutMs = options.timeoutMs ?? 30_000;
    this.now = options.now ?? (() => performance.now());
    this.stepsLeft = maxSteps;
    this.deadline = this.now() + timeoutMs;
    this.maxSteps = maxSteps;
    this.timeoutMs = timeoutMs;
  }

  get steps(): number {
    return this.used;
  }

  /** Takes one step; false once the budget is spent (and from then on). */
  spend(): boolean {
    if (this.exhaustedBy !== undefined) return false;
    this.used++;
    if (--this.stepsLeft < 0) {
      this.exhaustedBy = `the step budget (${this.maxSteps} steps)`;
      return false;
    }
    if (this.used % CLOCK_EVERY === 0 && this.now() > this.deadline) {
      this.exhaustedBy = `the time budget (${this.timeoutMs} ms)`;
      return false;
    }
    return true;
  }
}
