/**
 * The forwarded connections open to each task, so that stopping a task can wait for them: a drain resolves when
 * the task's last connection ends, or when its grace period runs out. What is still open then is left to the task's
 * own shutdown, which comes next: the container gets SIGTERM, and a server closes its keep-alive connections
 * cleanly (`Connection: close` on its next answer) — a reset from the mesh would fail a request sent just then. Once
 * the container is gone its connections end like any other. Both
 * ends of the mesh keep one: the ingress (connections it forwards, to local or remote tasks) and the stream server
 * (connections other nodes forward to this node's tasks), so the task's own node sees every connection its task
 * serves, wherever the client came in.
 */

/** What a listener that closes needs of a connection: a way to cut it. */
export interface Cuttable {
  cut(reason: string): void;
}

export class TaskConnections<C extends Cuttable = Cuttable> {
  readonly #byTask = new Map<string, Set<C>>();
  /** Drains waiting for a task's connections to end. */
  readonly #waiters = new Map<string, Set<() => void>>();

  add(taskId: string, connection: C): void {
    let set = this.#byTask.get(taskId);
    if (!set) this.#byTask.set(taskId, (set = new Set()));
    set.add(connection);
  }

  /** `connection` to `taskId` ended (or never got through). */
  delete(taskId: string, connection: C): void {
    const set = this.#byTask.get(taskId);
    if (!set?.delete(connection)) return;
    if (set.size > 0) return;
    this.#byTask.delete(taskId);
    for (const done of this.#waiters.get(taskId) ?? []) done();
  }

  count(taskId: string): number {
    return this.#byTask.get(taskId)?.size ?? 0;
  }

  get size(): number {
    let total = 0;
    for (const set of this.#byTask.values()) total += set.size;
    return total;
  }

  /** Every open connection, for a listener that closes. */
  all(): C[] {
    return [...this.#byTask.values()].flatMap((set) => [...set]);
  }

  /**
   * Resolves when `taskId` has no open connection, or after `graceMs` with the rest still open. Callers take the
   * task out of rotation before, so no new connection arrives meanwhile.
   */
  drain(taskId: string, graceMs: number): Promise<void> {
    if (this.count(taskId) === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let waiters = this.#waiters.get(taskId);
      if (!waiters) this.#waiters.set(taskId, (waiters = new Set()));
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0) this.#waiters.delete(taskId);
        resolve();
      };
      const timer = setTimeout(done, graceMs);
      waiters.add(done);
    });
  }
}
