/**
 * The node's identity on disk: `<dataDir>/identity.json`, mode 0600, written durably (temp file, fsync, rename,
 * directory fsync, via DurableJSONFile) so a power cut while creating it leaves either no identity or a whole one.
 * The identity is created once and then kept: a node that changed keys on every start would be a stranger to its
 * cluster. This is the only module in src/identity that does I/O.
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SwarmletError } from '../errors.ts';
import { DurableJSONFile } from '../store/durable-json-file.ts';
import { cryptoRandom, type RandomSource } from '../util/ids.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { decodeIdentity, encodeIdentity, newIdentity, type IdentityRecord, type NodeIdentity } from './keys.ts';

export const IDENTITY_FILE = 'identity.json';
const PRIVATE_MODE = 0o600;

export interface LoadIdentityOptions {
  random?: RandomSource;
  /** Told when the file had to be made private again; never given key material. */
  logger?: Logger;
}

/** The identity kept in `dataDir`, created on first use. */
export async function loadOrCreateIdentity(dataDir: string, options: LoadIdentityOptions = {}): Promise<NodeIdentity> {
  const file = path.join(dataDir, IDENTITY_FILE);
  const store = new DurableJSONFile<IdentityRecord>(file);
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const record = await store.read();
  let identity: NodeIdentity;
  if (record === null) {
    identity = newIdentity(options.random ?? cryptoRandom);
    await store.write(encodeIdentity(identity));
  } else {
    const decoded = decodeIdentity(record);
    if (typeof decoded === 'string') {
      throw new SwarmletError(
        'corrupt_state',
        `the node identity in ${file} is unusable: ${decoded}. Restore it from a backup, or move it away ` +
          `(mv ${file} ${file}.damaged) to give this node a new identity; it must then join its cluster again.`,
      );
    }
    identity = decoded;
  }
  await keepPrivate(file, options.logger ?? silentLogger);
  return identity;
}

/**
 * Re-chmods the file to 0600 if anyone else may read it (a `chmod -R`, a restore from a backup tool that drops
 * modes). The key may already have been read, so this is said loudly, with what to do about it.
 */
async function keepPrivate(file: string, logger: Logger): Promise<void> {
  const { mode } = await fs.stat(file);
  if ((mode & 0o777) === PRIVATE_MODE) return;
  await fs.chmod(file, PRIVATE_MODE);
  if ((mode & 0o077) !== 0) {
    logger.warn(
      `${file} was readable by other users (mode ${(mode & 0o777).toString(8)}); it is 0600 again. If someone may ` +
        `have copied it, give this node a new identity: leave the cluster, move the file away and join again.`,
    );
  }
}
