/**
 * Client histories of the key-value workload, as the simulator records them. checker-history.ts converts them
 * for the linearizability checker (test/support/linearizability/). Times are simulated milliseconds.
 */

export type KvOpKind = 'read' | 'write' | 'cas';

export interface HistoryOp {
  /** The client process; a process runs one operation at a time. */
  process: number;
  op: KvOpKind;
  key: string;
  /** write: the value written; read: the value observed on 'ok' (null for a key never written). */
  value?: string | null;
  /** cas: the value expected and the value to set. */
  expected?: string | null;
  new?: string;
  invokeTime: number;
  /** null when the outcome is unknown: the operation may take effect at any time after invokeTime. */
  completeTime: number | null;
  /**
   * ok: took effect (a cas that matched, a read that observed `value`);
   * fail: definitely took no effect (refused before reaching Raft — no leader — or a cas whose comparison failed);
   * unknown: timed out or its node crashed; it may or may not have taken effect.
   */
  result: 'ok' | 'fail' | 'unknown';
  /** Why an operation failed: 'no_leader', 'mismatch', 'down'... (informational). */
  error?: string;
}

export type History = HistoryOp[];
