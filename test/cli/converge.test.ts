import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureProgress } from '../../src/cli/converge.ts';
import { service, task } from './docker-fixtures.ts';

const ID = 'v1abbs71d77e9wupts94kvt8f';

describe('measureProgress', () => {
  const replicated = service(ID, 'back', 'img', 'replicated', 0, 3);
  const t = (n: number, slot: number | undefined, desired: 'running' | 'shutdown', state: 'running' | 'pending' | 'failed', nodeId?: string) =>
    task(`t${n}`.padEnd(25, '0'), ID, slot, 'img', desired, state, 1, nodeId ? { nodeId } : {});

  it('counts slots with a running task that is meant to run', () => {
    assert.deepEqual(measureProgress(replicated, [t(1, 1, 'running', 'running'), t(2, 2, 'running', 'pending'), t(3, 3, 'shutdown', 'running')]), {
      running: 1,
      desired: 3,
      converged: false,
    });
    assert.deepEqual(measureProgress(replicated, [1, 2, 3].map((slot) => t(slot, slot, 'running', 'running'))), { running: 3, desired: 3, converged: true });
  });

  it('is not fooled by a restarted slot with two tasks or by slots beyond the replica count', () => {
    const tasks = [t(1, 1, 'running', 'running'), t(2, 1, 'running', 'running'), t(3, 4, 'running', 'running')];
    assert.equal(measureProgress(replicated, tasks).running, 1);
  });

  it('converges at once when scaled to zero', () => {
    assert.equal(measureProgress(service(ID, 'back', 'img', 'replicated', 0, 0), []).converged, true);
  });

  it('counts a global service per node', () => {
    const global = service(ID, 'g', 'img', 'global', 0, 0);
    assert.deepEqual(measureProgress(global, [t(1, undefined, 'running', 'running', 'n1'), t(2, undefined, 'running', 'pending', 'n2')]), {
      running: 1,
      desired: 2,
      converged: false,
    });
    assert.equal(measureProgress(global, []).converged, false, 'no tasks yet is not converged');
  });
});
