/** `service logs`'s client side: --since as the docker CLI converts it, and lines printed as docker prints them. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLine, TaskNamer, type LogsFlags } from '../../src/cli/logs.ts';

const flags: LogsFlags = { details: false, noResolve: false, noTaskIds: false, noTrunc: false, timestamps: false };
const details = 'com.docker.swarm.node.id=node1,com.docker.swarm.service.id=svc1,com.docker.swarm.task.id=task1abcdefghijklmnop';

/** The three lookups docker's formatter makes, answered from fixtures and counted. */
function fakeApi(calls: string[] = []) {
  return {
    async get<T>(path: string): Promise<T> {
      calls.push(path);
      if (path === '/nodes/node1') return { Spec: {}, Description: { Hostname: 'pi-1' } } as T;
      if (path === '/services/svc1') return { Spec: { Name: 'back' } } as T;
      if (path.startsWith('/tasks/')) return { Slot: 3 } as T;
      throw new Error('no such thing');
    },
  };
}

describe('service logs in the CLI', () => {
  it('prints name.slot.id@node, padded to the widest slot, then the message; one lookup per task', async () => {
    const calls: string[] = [];
    const namer = new TaskNamer(fakeApi(calls), flags, 2);
    assert.equal(await formatLine(`${details} hello world\n`, flags, namer), 'back.3.task1abcdefg@pi-1     | hello world\n');
    await formatLine(`${details} again\n`, flags, namer);
    assert.equal(calls.length, 3);
  });

  it('keeps the timestamp in front, honours --no-resolve, --no-task-ids and --no-trunc, and shows other details', async () => {
    const stamped = { ...flags, timestamps: true };
    assert.equal(
      await formatLine(`2026-11-27T03:00:00.000000000Z ${details} hi\n`, stamped, new TaskNamer(fakeApi(), stamped, 1)),
      '2026-11-27T03:00:00.000000000Z back.3.task1abcdefg@pi-1    | hi\n',
    );
    const bare = { ...flags, noResolve: true, noTaskIds: true };
    assert.equal(await formatLine(`${details} hi\n`, bare, new TaskNamer(fakeApi(), bare, 1)), 'svc1.3@node1    | hi\n');
    const full = { ...flags, noTrunc: true, details: true };
    assert.equal(await formatLine(`${details},zone=b hi\n`, full, new TaskNamer(fakeApi(), full, 1)), 'back.3.task1abcdefghijklmnop@pi-1    | zone=b hi\n');
    assert.equal(await formatLine('no context\n', flags, new TaskNamer(fakeApi(), flags, 1)), 'no context\n');
  });
});
