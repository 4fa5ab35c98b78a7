/**
 * An in-memory network between in-process managers: each manager's RaftTransport sends through the hub, which
 * delivers asynchronously (on the next turn of the event loop, as a socket would) and as a copy that went through
 * JSON, so no object is ever shared between two managers. A member can be cut off — both ways, or only what
 * reaches it — and healed; a message is lost if either end is cut off when it is sent or when it arrives.
 */

import type { RaftTransport } from '../../../src/manager/consensus/raft-driver.ts';
import type { MemberId, Message, MessageType } from '../../../src/manager/raft/types.ts';
import type { Disposer } from '../../../src/runtime/runtime.ts';

/** Which of a member's traffic a cut loses: everything, or only what is sent to it. */
export type Cut = 'both' | 'inbound';

export class MemoryHub {
  private readonly handlers = new Map<MemberId, (message: unknown) => void>();
  private readonly cuts = new Map<MemberId, Cut>();
  /** Messages handed to the hub, by type: tests assert on what went over the wire (a forward, a snapshot). */
  readonly sent = new Map<MessageType, number>();
  delivered = 0;
  lost = 0;
  /** Bytes of JSON carried, for the benchmark. */
  bytes = 0;

  transport(id: MemberId): RaftTransport {
    return {
      send: (messages) => this.send(messages),
      onMessage: (handler): Disposer => {
        this.handlers.set(id, handler);
        return () => {
          if (this.handlers.get(id) === handler) this.handlers.delete(id);
        };
      },
    };
  }

  /** Cuts `id` off: its messages in both directions (a partition), or only those sent to it. */
  isolate(id: MemberId, cut: Cut = 'both'): void {
    this.cuts.set(id, cut);
  }

  heal(id: MemberId): void {
    this.cuts.delete(id);
  }

  sentOf(type: MessageType): number {
    return this.sent.get(type) ?? 0;
  }

  private passes(from: MemberId, to: MemberId): boolean {
    return this.cuts.get(from) !== 'both' && !this.cuts.has(to);
  }

  private send(messages: Message[]): void {
    const wire: { from: MemberId; to: MemberId; json: string }[] = [];
    for (const m of messages) {
      this.sent.set(m.type, this.sentOf(m.type) + 1);
      if (!this.passes(m.from, m.to)) {
        this.lost++;
        continue;
      }
      const json = JSON.stringify(m);
      this.bytes += json.length;
      wire.push({ from: m.from, to: m.to, json });
    }
    if (wire.length === 0) return;
    setImmediate(() => {
      for (const { from, to, json } of wire) {
        const handler = this.handlers.get(to);
        if (!handler || !this.passes(from, to)) {
          this.lost++;
          continue;
        }
        this.delivered++;
        handler(JSON.parse(json));
      }
    });
  }
}
