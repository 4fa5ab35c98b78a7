/**
 * Runs a pass on demand, never two at once: a request that arrives during a pass causes exactly one more pass
 * after it, however many requests arrived. The agent and the manager's reconciler both work this way — every
 * trigger (a change, an engine event, a timer) just asks, and the pass reads the latest state.
 */

export class SerialRunner {
  private readonly pass: () => Promise<void>;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  /** `pass` must handle its own errors: a rejection here would be lost. */
  constructor(pass: () => Promise<void>) {
    this.pass = pass;
  }

  kick(): void {
    if (this.stopped) return;
    this.again = true;
    this.running ??= this.loop();
  }

  /** Resolves when no pass is running or wanted. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** No pass starts after this; resolves when the current one has ended. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    while (this.again && !this.stopped) {
      this.again = false;
      await this.pass();
    }
    // Cleared in the same step as the last check of `again`: a kick can never fall between the two and be lost.
    this.running = null;
  }
}
