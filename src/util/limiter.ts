/** At most `slots` pieces of async work at once; the rest wait their turn, first come first served. */
export class Limiter {
  readonly #slots: number;
  readonly #waiting: Array<() => void> = [];
  #busy = 0;

  constructor(slots: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`a limiter needs at least one slot, not ${slots}`);
    this.#slots = slots;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    while (this.#busy >= this.#slots) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#busy++;
    try {
      return await work();
    } finally {
      this.#busy--;
      this.#waiting.shift()?.();
    }
  }
}
