/**
 * The forwarded connections open to each task, so that stopping a task can wait for them: a drain resolves when
 * the task's last connection ends, or when its grace period runs out — then whatever is still open is reset. Both
 * ends of the mesh keep one: the ingress (connections it forwards, to local or remote tasks) and the stream server
 * (connections other nodes forward to this node's tasks), so the task's own node sees every connection its task
 * serves, wherever the client came in.
 */

/** What a drain needs of a connection: a way to cut it when the grace runs out. */
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
   * Resolves when `taskId` has no open connection; after `graceMs`, the ones still open are cut first. Callers take
   * the task out of rotation before, so no new connection arrives meanwhile.
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
      const timer = setTimeout(() => {
        for (const connection of [...(this.#byTask.get(taskId) ?? [])]) connection.cut(`task ${taskId} is stopping and its grace period of ${graceMs} ms ran out`);
        // Reset is immediate: the container may be stopped now, whenever the sockets' close events arrive.
        done();
      }, graceMs);
      waiters.add(done);
    });
  }
}
