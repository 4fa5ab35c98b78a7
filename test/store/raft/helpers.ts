/** Builders and temp dirs shared by the Raft storage tests. */

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Entry, Snapshot } from '../../../src/manager/raft/types.ts';
import type { Logger } from '../../../src/util/logger.ts';

export const entry = (index: number, term: number, data: unknown = { op: `set k${index}` }): Entry => ({ index, term, type: 'normal', data });

/** Entries first..last, all of `term`. */
export const entries = (first: number, last: number, term: number): Entry[] => {
  const out: Entry[] = [];
  for (let i = first; i <= last; i++) out.push(entry(i, term));
  return out;
};

export const snapshot = (index: number, term: number, data: unknown = { at: index }): Snapshot => ({
  metadata: { index, term, conf: { voters: ['m1'], learners: [] } },
  data,
});

export async function tempDir(prefix = 'swarmlet-raft-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A Logger that keeps its lines, for asserting that a repair was reported. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return { lines, debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };
}

/** Every file under `dir` with its bytes, to show that a refusal changed nothing. */
export async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await fs.readdir(dir, { recursive: true })) {
    const file = path.join(dir, name);
    if ((await fs.stat(file)).isFile()) out[name] = (await fs.readFile(file)).toString('base64');
  }
  return out;
}
