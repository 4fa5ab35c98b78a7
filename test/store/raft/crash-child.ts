/**
 * The process the crash test kills: it runs the seeded workload against DiskRaftStorage and prints
 * "acked N" once the N-th step's promise has resolved. stdout is a pipe, which Node writes synchronously on
 * Linux, so a line the parent reads was printed before the next step began.
 *
 * Usage: node crash-child.ts <dataDir> <seed> <segmentBytes>
 */

import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { ModelRaftStorage } from './model.ts';
import { applyStep, nextStep, seededRandom } from './workload.ts';

const [dataDir, seed, segmentBytes] = process.argv.slice(2);
const storage = new DiskRaftStorage({ dataDir, log: silentLogger, segmentBytes: Number(segmentBytes) });
const model = ModelRaftStorage.fromPersisted(await storage.load());
const rng = seededRandom(Number(seed));
process.stdout.write('ready\n');
for (let n = 1; ; n++) {
  const step = nextStep(model, rng);
  await applyStep(storage, step);
  await applyStep(model, step);
  process.stdout.write(`acked ${n}\n`);
}
