/**
 * Which task of a service takes the next connection on a published port. Pure: no I/O, no timers; time is an
 * argument. Least connections first, because a mesh connection can last anywhere from a millisecond (an HTTP
 * request) to days (a database session), and counting what is open is the one signal every node has locally.
 * Ties — the common case on a quiet service — go round robin, so equal backends take turns instead of the first
 * one in the table taking everything.
 *
 * The table of backends is replaced whole whenever the set of eligible tasks changes (a task started, stopped,
 * turned unhealthy): tasks that stay keep their counts and their draining mark, so a replacement never resets the
 * balance or puts a task that is being stopped back into rotation. A backend that failed to accept a connection
 * rests for a moment, so a task that just died costs one failed attempt, not one per connection, until the table
 * catches up.
 */

/** One task that may take connections: on this node (its container's address) or on another (reached by stream). */
export interface Backend {
  taskId: string;
  nodeId: string;
  /** The container's IP address when the task runs on this node; null when it runs elsewhere. */
  address: string | null;
}

interface Entry {
  backend: Backend;
  /** Connections handed to it and not yet released. */
  active: number;
  draining: boolean;
  /** Until when (in the caller's clock) it takes nothing after a failed connection. */
  restingUntil: number;
}

/** How long a backend that refused a connection is passed over, by default. */
export const DEFAULT_REST_MS = 1_000;

export class Balancer {
  readonly #entries = new Map<string, Entry>();
  /** The table's order: round robin walks it. */
  #order: string[] = [];
  /** Where the round robin looks first next time. */
  #cursor = 0;
  readonly #restMs: number;

  constructor(restMs = DEFAULT_REST_MS) {
    this.#restMs = restMs;
  }

  /**
   * Replaces the table at once. Tasks that stay keep their counts and draining marks; removed tasks are
   * forgotten (their connections' releases are then ignored); new tasks start at zero.
   */
  replace(backends: readonly Backend[]): void {
    const next = new Map<string, Entry>();
    for (const backend of backends) {
      if (next.has(backend.taskId)) continue;
      const kept = this.#entries.get(backend.taskId);
      next.set(backend.taskId, kept ? { ...kept, backend } : { backend, active: 0, draining: false, restingUntil: -Infinity });
    }
    this.#entries.clear();
    for (const [taskId, entry] of next) this.#entries.set(taskId, entry);
    this.#order = [...next.keys()];
    if (this.#cursor >= this.#order.length) this.#cursor = 0;
  }

  /**
   * Takes a backend for a new connection and counts it; null when none may take one. `exclude` holds tasks this
   * connection already tried. A resting backend is used only when nothing else is left.
   */
  pick(now: number, exclude: ReadonlySet<string> = new Set()): Backend | null {
    const n = this.#order.length;
    let best: { index: number; entry: Entry; resting: boolean } | null = null;
    for (let step = 0; step < n; step++) {
      const index = (this.#cursor + step) % n;
      const entry = this.#entries.get(this.#order[index]!)!;
      if (entry.draining || exclude.has(entry.backend.taskId)) continue;
      const resting = entry.restingUntil > now;
      // Fewer connections wins; a tie goes to the first after the cursor; a resting backend loses to any other.
      if (!best || (best.resting && !resting) || (best.resting === resting && entry.active < best.entry.active)) best = { index, entry, resting };
    }
    if (!best) return null;
    best.entry.active++;
    this.#cursor = (best.index + 1) % n;
    return best.entry.backend;
  }

  /** A connection to `taskId` ended (or never got through). Ignored for a task no longer in the table. */
  release(taskId: string): void {
    const entry = this.#entries.get(taskId);
    if (entry && entry.active > 0) entry.active--;
  }

  /** `taskId` refused a connection at `now`: pass it over for a while. */
  failed(taskId: string, now: number): void {
    const entry = this.#entries.get(taskId);
    if (entry) entry.restingUntil = now + this.#restMs;
  }

  /** Takes `taskId` out of rotation for good: it is about to be stopped. Its open connections still count. */
  drain(taskId: string): void {
    const entry = this.#entries.get(taskId);
    if (entry) entry.draining = true;
  }

  /** Open connections counted for `taskId` (0 for a task not in the table). */
  active(taskId: string): number {
    return this.#entries.get(taskId)?.active ?? 0;
  }

  isDraining(taskId: string): boolean {
    return this.#entries.get(taskId)?.draining ?? false;
  }

  /** The table as it stands, in order: for stats and tests. */
  snapshot(): Array<Backend & { active: number; draining: boolean }> {
    return this.#order.map((taskId) => {
      const { backend, active, draining } = this.#entries.get(taskId)!;
      return { ...backend, active, draining };
    });
  }
}
