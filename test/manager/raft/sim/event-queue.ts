/** A min-heap of timed events; ties keep insertion order so a run is a pure function of its seed. */

interface Slot<T> {
  at: number;
  seq: number;
  event: T;
}

export class EventQueue<T> {
  private heap: Slot<T>[] = [];
  private seq = 0;

  push(at: number, event: T): void {
    const heap = this.heap;
    heap.push({ at, seq: this.seq++, event });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  pop(): { at: number; event: T } | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l], heap[m])) m = l;
        if (r < heap.length && less(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return { at: top.at, event: top.event };
  }

  /** When the next event is due, or undefined when none is left. */
  peekTime(): number | undefined {
    return this.heap[0]?.at;
  }

  get size(): number {
    return this.heap.length;
  }
}

function less<T>(a: Slot<T>, b: Slot<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
