/**
 * A binary min-heap: the scheduler keeps one per task group, so that picking the best node for each of a
 * service's thousand replicas costs a logarithm, not a sort of every node.
 */

export class Heap<T> {
  private readonly items: T[];
  private readonly less: (a: T, b: T) => boolean;

  /** Heapifies `items` (taken over, not copied) in linear time. */
  constructor(items: T[], less: (a: T, b: T) => boolean) {
    this.items = items;
    this.less = less;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  pop(): T | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (this.items.length > 0 && last !== undefined) {
      this.items[0] = last;
      this.down(0);
    }
    return top;
  }

  /** Replaces the least item with `item`: a pop and a push for the price of one sift. */
  replaceTop(item: T): void {
    this.items[0] = item;
    this.down(0);
  }

  private down(i: number): void {
    const { items, less } = this;
    const n = items.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && less(items[right]!, items[left]!) ? right : left;
      if (!less(items[child]!, items[i]!)) return;
      [items[i], items[child]] = [items[child]!, items[i]!];
      i = child;
    }
  }
}
