/**
 * A bounded buffer that keeps the newest `capacity` items: pushing onto a full buffer drops the oldest. Fixed
 * memory whatever the traffic, which is what a manager on a Raspberry Pi can afford for history.
 */

export class RingBuffer<T> {
  readonly capacity: number;
  private readonly slots: Array<T | undefined>;
  /** Where the next item goes. */
  private next = 0;
  private count = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a ring buffer needs a capacity of at least 1, not ${capacity}`);
    this.capacity = capacity;
    this.slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    this.slots[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  /** The items from oldest to newest. */
  toArray(): T[] {
    const start = (this.next - this.count + this.capacity) % this.capacity;
    const items: T[] = [];
    for (let i = 0; i < this.count; i++) items.push(this.slots[(start + i) % this.capacity]!);
    return items;
  }
}
