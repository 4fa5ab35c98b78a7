/**
 * The simulator's replicated state machine: a key-value map with write and compare-and-set. Commands carry a
 * unique id and are applied at most once, because the network may deliver a forwarded proposal twice and Raft
 * will then commit it twice; the result of the first application is remembered and returned again.
 */

export interface KvCommand {
  id: string;
  op: 'write' | 'cas';
  key: string;
  value?: string;
  expected?: string | null;
  new?: string;
}

export type KvResult = { ok: boolean };

export interface KvData {
  values: Record<string, string>;
  results: Record<string, KvResult>;
}

export class KvStore {
  private data: KvData;

  constructor(data?: KvData) {
    this.data = data ? { values: { ...data.values }, results: { ...data.results } } : { values: {}, results: {} };
  }

  apply(cmd: KvCommand): KvResult {
    const seen = this.data.results[cmd.id];
    if (seen) return seen;
    let result: KvResult;
    if (cmd.op === 'write') {
      this.data.values[cmd.key] = cmd.value!;
      result = { ok: true };
    } else {
      const current = this.data.values[cmd.key] ?? null;
      result = { ok: current === cmd.expected };
      if (result.ok) this.data.values[cmd.key] = cmd.new!;
    }
    this.data.results[cmd.id] = result;
    return result;
  }

  read(key: string): string | null {
    return this.data.values[key] ?? null;
  }

  snapshot(): KvData {
    return { values: { ...this.data.values }, results: { ...this.data.results } };
  }

  /** A digest for comparing replicas. */
  digest(): string {
    return JSON.stringify(Object.entries(this.data.values).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}

export function isKvCommand(data: unknown): data is KvCommand {
  return typeof data === 'object' && data !== null && typeof (data as KvCommand).id === 'string' && ((data as KvCommand).op === 'write' || (data as KvCommand).op === 'cas');
}
