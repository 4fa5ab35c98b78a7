/**
 * The errors the Raft storage raises, with messages that tell an operator what to do. A damaged Raft state is
 * never reset silently: a manager that forgot its log or its vote could help elect two leaders or lose committed
 * changes, so it refuses to start and says how to recover.
 */

import { SwarmletError } from '../../errors.ts';

/** Refuses a damaged file or directory under the Raft data dir. */
export function corruptRaftState(file: string, reason: string, cause?: unknown): SwarmletError {
  return new SwarmletError(
    'corrupt_state',
    `Raft state ${file} is damaged (${reason}). swarmlet will not guess, and leaves the files as they are. ` +
      'If the other managers still form a quorum, remove this manager from the cluster, move its raft directory ' +
      'away and join it again: it gets its state back from them. If no quorum is left, run ' +
      '`swarmlet init --force-new-cluster` on the manager with an intact state to rebuild a one-manager cluster from it.',
    { cause },
  );
}

const FULL = new Set(['ENOSPC', 'EDQUOT']);

export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && FULL.has(code)) return true;
  return err instanceof SwarmletError && isDiskFull(err.cause);
}

/** A save that found no room: nothing it began is left behind, and the next save may succeed. */
export function diskFull(file: string, cause: unknown): SwarmletError {
  return new SwarmletError(
    'internal',
    `could not write the Raft log ${file}: the disk is full. Nothing was changed; free some space and swarmlet carries on.`,
    { cause },
  );
}

/** The errors storageFailed made, so that wrapping one again keeps it as it is. */
const fatal = new WeakSet<object>();

/**
 * After a failed write barrier the kernel may have dropped the pages it could not write while marking them
 * clean, so what is on disk is unknown. Only a fresh start, which re-reads the files, is safe.
 */
export function storageFailed(cause: unknown): SwarmletError {
  if (isStorageFailure(cause)) return cause as SwarmletError;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const error = new SwarmletError(
    'internal',
    `the Raft storage failed (${code ?? (cause as Error)?.message ?? cause}) and will not write again: ` +
      'what reached the disk is unknown. Check the disk, then restart swarmlet so it re-reads its state.',
    { cause },
  );
  fatal.add(error);
  return error;
}

/** True for an error after which the storage refuses to write until it is loaded again. */
export function isStorageFailure(err: unknown): boolean {
  return typeof err === 'object' && err !== null && fatal.has(err);
}
