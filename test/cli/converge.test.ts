import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service, Task, TaskState, UpdateStatus } from '../../src/api/types.ts';
import { ApiClient } from '../../src/cli/api-client.ts';
import { type ConvergeOptions, measureProgress, waitForConvergence } from '../../src/cli/converge.ts';
import { ProgressWriter, progressBar, slotBarLine } from '../../src/cli/views/progress.ts';
import { type FakeApi, type FakeReply, type FakeRequest, startFakeApi } from './fake-api.ts';
import { lines, service, task } from './docker-fixtures.ts';

const ID = 'v1abbs71d77e9wupts94kvt8f';
const NODE_A = 'aaaaaaaaaaaa1111111111111';
const NODE_B = 'bbbbbbbbbbbb2222222222222';

/** The service `web` running `image`, with `replicas` slots and maybe an UpdateStatus. */
function web(image: string, replicas: number, status?: UpdateStatus): Service {
  return { ...service(ID, 'web', image, 'replicated', 0, replicas), ...(status ? { UpdateStatus: status } : {}) };
}

/** Task number `n` of `web` in `slot`, made from `image`; higher numbers are newer. */
function t(n: number, slot: number | undefined, image: string, desired: TaskState, state: TaskState, options: { err?: string; nodeId?: string } = {}): Task {
  return task(`t${n}`.padEnd(25, '0'), ID, slot, image, desired, state, 1, { createdSecondsAgo: 1000 - n, ...options });
}

const status = (State: UpdateStatus['State'], Message = ''): UpdateStatus => ({ State, StartedAt: '2026-11-27T02:59:00.000Z', Message });
const bar = (state: TaskState) => progressBar(state);

describe('measureProgress', () => {
  const replicated = web('img', 3);

  it('counts slots whose task meant to run is running', () => {
    const progress = measureProgress(replicated, [t(1, 1, 'img', 'running', 'running'), t(2, 2, 'img', 'running', 'pending'), t(3, 3, 'img', 'shutdown', 'running')]);
    assert.equal(progress.running, 1);
    assert.equal(progress.desired, 3);
    assert.equal(progress.converged, false);
    assert.deepEqual(progress.slots, [{ label: '1/3', state: 'running' }, { label: '2/3', state: 'pending' }, { label: '3/3' }]);
    assert.equal(measureProgress(replicated, [1, 2, 3].map((slot) => t(slot, slot, 'img', 'running', 'running'))).converged, true);
  });

  it('does not count a running task made from an older spec: the slot waits for its replacement', () => {
    const tasks = [t(1, 1, 'img:old', 'running', 'running'), t(2, 1, 'img', 'running', 'starting')];
    const progress = measureProgress(web('img', 1), tasks);
    assert.deepEqual(progress.slots, [{ label: '1/1', state: 'starting' }]);
    assert.equal(progress.converged, false);
  });

  it('shows a slot\'s newest task, and a retired task only for its error', () => {
    const restarted = measureProgress(web('img', 1), [t(1, 1, 'img', 'running', 'failed', { err: 'exit 1' }), t(2, 1, 'img', 'running', 'pending')]);
    assert.deepEqual(restarted.slots, [{ label: '1/1', state: 'pending' }]);
    const failed = measureProgress(web('img', 1), [t(1, 1, 'img', 'shutdown', 'shutdown'), t(2, 1, 'img', 'shutdown', 'rejected', { err: 'No such image: img' })]);
    assert.deepEqual(failed.slots, [{ label: '1/1', state: 'rejected', error: 'No such image: img' }]);
  });

  it('is not fooled by slots beyond the replica count or another service\'s tasks', () => {
    const other = { ...t(9, 2, 'img', 'running', 'running'), ServiceID: 'other' };
    const progress = measureProgress(replicated, [t(1, 1, 'img', 'running', 'running'), t(3, 4, 'img', 'running', 'running'), other]);
    assert.equal(progress.running, 1);
  });

  it('converges at once when scaled to zero', () => {
    assert.equal(measureProgress(web('img', 0), []).converged, true);
  });

  it('counts a global service per node, in node order', () => {
    const global = { ...service(ID, 'g', 'img', 'global', 0, 0) };
    const progress = measureProgress(global, [t(1, undefined, 'img', 'running', 'pending', { nodeId: NODE_B }), t(2, undefined, 'img', 'running', 'running', { nodeId: NODE_A })]);
    assert.deepEqual(progress, {
      global: true,
      running: 1,
      desired: 2,
      converged: false,
      slots: [{ label: 'aaaaaaaaaaaa', state: 'running' }, { label: 'bbbbbbbbbbbb', state: 'pending' }],
    });
    assert.equal(measureProgress(global, []).converged, false, 'no tasks yet is not converged');
  });
});

describe('progress view', () => {
  it('draws the lifecycle position as a bar, full at running', () => {
    assert.equal(bar('running'), `[${'='.repeat(49)}>]`);
    assert.equal(bar('pending'), `[${'='.repeat(12)}>${' '.repeat(37)}]`);
    assert.equal(bar('failed'), '');
    assert.equal(slotBarLine({ label: '1/3', state: 'running' }), `1/3: running   ${bar('running')}`);
    assert.equal(slotBarLine({ label: '1/3', state: 'failed', error: `bad\n${'x'.repeat(100)}` }), `1/3: bad ${'x'.repeat(70)}…`);
    assert.equal(slotBarLine({ label: '2/3' }), '2/3:');
  });

  it('redraws the block in place on a terminal, with notes above it, cut to the width', () => {
    let output = '';
    const writer = new ProgressWriter((text) => (output += text), { tty: true, columns: 30 });
    writer.show({ overall: 'overall progress: 0 out of 1 tasks', slots: [{ label: '1/1', state: 'new' }] });
    assert.equal(output, 'overall progress: 0 out of 1 \n1/1: new       [=====>       \n');
    output = '';
    writer.note('web.1: failed: exit 1');
    assert.equal(output, '\x1b[2A\r\x1b[Jweb.1: failed: exit 1\noverall progress: 0 out of 1 \n1/1: new       [=====>       \n');
    output = '';
    writer.show({ overall: 'overall progress: 0 out of 1 tasks', slots: [{ label: '1/1', state: 'new' }] });
    assert.equal(output, '', 'an unchanged block is not redrawn');
    writer.finish();
    writer.note('after');
    assert.equal(output, 'after\n', 'after finish, output goes below the block');
  });
});

describe('waitForConvergence', () => {
  let api: FakeApi;
  let reply: (req: FakeRequest) => FakeReply = () => ({ status: 404, body: { message: 'not found' } });
  before(async () => {
    api = await startFakeApi((req) => reply(req));
  });
  after(() => api.close());

  interface Frame {
    service: Service;
    tasks: Task[];
  }

  /**
   * Runs the wait against a daemon that answers with one frame per poll (the last one from then on), on a fake clock
   * that each pause moves forward. Non-TTY unless the options say otherwise.
   */
  async function watch(frames: Frame[], options: Partial<ConvergeOptions> = {}) {
    let polls = 0;
    reply = (req) => {
      if (req.path === `/services/${ID}`) return { body: frames[Math.min(polls++, frames.length - 1)]!.service };
      if (req.path === '/tasks') {
        assert.deepEqual(JSON.parse(req.query.get('filters')!), { service: [ID] });
        return { body: frames[Math.min(polls - 1, frames.length - 1)]!.tasks };
      }
      return { status: 404, body: { message: 'unexpected' } };
    };
    let output = '';
    let clock = 0;
    let sleeps = 0;
    const error = await waitForConvergence(new ApiClient(api.socket), ID, {
      ref: 'web',
      out: (text) => (output += text),
      tty: false,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
        sleeps++;
      },
      ...options,
    }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    return { output, error, polls, sleeps };
  }

  const creating: Frame[] = [
    { service: web('img', 3), tasks: [t(1, 1, 'img', 'running', 'pending'), t(2, 2, 'img', 'running', 'pending')] },
    { service: web('img', 3), tasks: [t(1, 1, 'img', 'running', 'running'), t(2, 2, 'img', 'running', 'starting'), t(3, 3, 'img', 'running', 'preparing')] },
    { service: web('img', 3), tasks: [t(1, 1, 'img', 'running', 'running'), t(2, 2, 'img', 'running', 'starting'), t(3, 3, 'img', 'running', 'preparing')] },
    { service: web('img', 3), tasks: [1, 2, 3].map((slot) => t(slot, slot, 'img', 'running', 'running')) },
  ];

  it('in a log, prints a slot\'s line only when its state changes, and the overall count when it does', async () => {
    const { output, error, polls, sleeps } = await watch(creating);
    assert.equal(error, undefined);
    assert.equal(
      output,
      lines(
        'overall progress: 0 out of 3 tasks',
        '1/3: pending',
        '2/3: pending',
        'overall progress: 1 out of 3 tasks',
        '1/3: running',
        '2/3: starting',
        '3/3: preparing',
        'overall progress: 3 out of 3 tasks',
        '2/3: running',
        '3/3: running',
        'verify: Service web converged',
      ),
    );
    assert.equal(polls, 4);
    assert.equal(sleeps, 3, 'no extra wait once converged');
  });

  it('on a terminal, draws a bar per slot and redraws the block in place when it changes', async () => {
    const { output, error } = await watch(creating, { tty: true, columns: 120 });
    assert.equal(error, undefined);
    const erase = '\x1b[4A\r\x1b[J';
    const frames = output.split(erase);
    assert.equal(frames.length, 3, 'drawn, redrawn, unchanged (not redrawn), redrawn');
    assert.equal(frames[0], lines('overall progress: 0 out of 3 tasks', `1/3: pending   ${bar('pending')}`, `2/3: pending   ${bar('pending')}`, '3/3:'));
    assert.equal(
      frames[2],
      lines(
        'overall progress: 3 out of 3 tasks',
        ...[1, 2, 3].map((slot) => `${slot}/3: running   ${bar('running')}`),
        'verify: Service web converged',
      ),
    );
  });

  it('follows a global service per node, waiting for its tasks to appear', async () => {
    const global = service(ID, 'g', 'img', 'global', 0, 0);
    const { output, error } = await watch([
      { service: global, tasks: [] },
      { service: global, tasks: [t(1, undefined, 'img', 'running', 'running', { nodeId: NODE_A }), t(2, undefined, 'img', 'running', 'pending', { nodeId: NODE_B })] },
      { service: global, tasks: [t(1, undefined, 'img', 'running', 'running', { nodeId: NODE_A }), t(2, undefined, 'img', 'running', 'running', { nodeId: NODE_B })] },
    ]);
    assert.equal(error, undefined);
    assert.equal(
      output,
      lines(
        'overall progress: waiting for new tasks',
        'overall progress: 1 out of 2 tasks',
        'aaaaaaaaaaaa: running',
        'bbbbbbbbbbbb: pending',
        'overall progress: 2 out of 2 tasks',
        'bbbbbbbbbbbb: running',
        'verify: Service web converged',
      ),
    );
  });

  it('follows a rolling update until the daemon says it completed, not when the old tasks still run', async () => {
    const { output, error, polls } = await watch([
      // Just after the request: the old tasks run, the update has not started.
      { service: web('img:2', 2), tasks: [t(1, 1, 'img:1', 'running', 'running'), t(2, 2, 'img:1', 'running', 'running')] },
      { service: web('img:2', 2, status('updating')), tasks: [t(1, 1, 'img:1', 'shutdown', 'running'), t(2, 2, 'img:1', 'running', 'running'), t(3, 1, 'img:2', 'running', 'preparing')] },
      { service: web('img:2', 2, status('updating')), tasks: [t(2, 2, 'img:1', 'running', 'running'), t(3, 1, 'img:2', 'running', 'running')] },
      // Every slot runs the new spec, but the daemon still watches the last one for its monitor period.
      { service: web('img:2', 2, status('updating')), tasks: [t(3, 1, 'img:2', 'running', 'running'), t(4, 2, 'img:2', 'running', 'running')] },
      { service: web('img:2', 2, status('completed', 'update completed')), tasks: [t(3, 1, 'img:2', 'running', 'running'), t(4, 2, 'img:2', 'running', 'running')] },
    ]);
    assert.equal(error, undefined);
    assert.equal(polls, 5);
    assert.equal(
      output,
      lines(
        'overall progress: 0 out of 2 tasks',
        '1/2: preparing',
        'overall progress: 1 out of 2 tasks',
        '1/2: running',
        'overall progress: 2 out of 2 tasks',
        '2/2: running',
        'verify: Service web converged',
      ),
    );
  });

  it('fails with the daemon\'s message and what to do when the update pauses; the task\'s error is printed once', async () => {
    const failing = t(3, 1, 'img:2', 'running', 'rejected', { err: 'No such image: img:2' });
    const message = 'update paused: task t30000000000 failed while being updated: No such image: img:2';
    const { output, error } = await watch([
      { service: web('img:2', 2, status('updating')), tasks: [t(2, 2, 'img:1', 'running', 'running'), failing] },
      { service: web('img:2', 2, status('updating')), tasks: [t(2, 2, 'img:1', 'running', 'running'), failing] },
      { service: web('img:2', 2, status('paused', message)), tasks: [t(2, 2, 'img:1', 'running', 'running'), failing] },
    ]);
    assert.equal(
      error?.message,
      `service update paused: ${message}; see \`swarmlet service ps web\`, then resume with \`swarmlet service update web\` (with the fix) ` +
        'or go back with `swarmlet service update --rollback web`',
    );
    assert.equal(output, lines('web.1: rejected: No such image: img:2', 'overall progress: 0 out of 2 tasks', '1/2: rejected'));
  });

  it('follows an automatic rollback, then fails with why the update was rolled back', async () => {
    const reason = 'update rolled back: task t30000000000 failed while being updated: exit 1';
    const rolledBack = (state: UpdateStatus['State'], message: string) => ({ ...web('img:1', 2, status(state, message)), PreviousSpec: web('img:2', 2).Spec });
    const { output, error } = await watch([
      {
        service: web('img:2', 2, status('updating')),
        tasks: [t(1, 1, 'img:1', 'shutdown', 'shutdown'), t(2, 2, 'img:1', 'running', 'running'), t(3, 1, 'img:2', 'running', 'failed', { err: 'exit 1' })],
      },
      {
        service: rolledBack('rollback_started', reason),
        tasks: [t(1, 1, 'img:1', 'shutdown', 'shutdown'), t(2, 2, 'img:1', 'running', 'running'), t(3, 1, 'img:2', 'shutdown', 'failed', { err: 'exit 1' }), t(5, 1, 'img:1', 'running', 'pending')],
      },
      { service: rolledBack('rollback_started', reason), tasks: [t(2, 2, 'img:1', 'running', 'running'), t(5, 1, 'img:1', 'running', 'running')] },
      { service: rolledBack('rollback_completed', 'rollback completed'), tasks: [t(2, 2, 'img:1', 'running', 'running'), t(5, 1, 'img:1', 'running', 'running')] },
    ]);
    assert.equal(error?.message, `service rolled back: ${reason}; it runs its previous spec again: see \`swarmlet service ps web\` for the tasks that failed`);
    assert.equal(
      output,
      lines(
        'web.1: failed: exit 1',
        'overall progress: 0 out of 2 tasks',
        '1/2: failed',
        `rollback: ${reason}`,
        'overall progress: rolling back update: 1 out of 2 tasks',
        '1/2: pending',
        '2/2: running',
        'overall progress: rolling back update: 2 out of 2 tasks',
        '1/2: running',
      ),
    );
  });

  it('succeeds when the user asked for the rollback and it completes', async () => {
    const back = (state: UpdateStatus['State'], message: string) => web('img:1', 2, status(state, message));
    const { output, error } = await watch(
      [
        { service: back('rollback_started', 'manually requested rollback'), tasks: [t(3, 1, 'img:2', 'running', 'running'), t(4, 2, 'img:2', 'running', 'running')] },
        { service: back('rollback_started', 'manually requested rollback'), tasks: [t(4, 2, 'img:2', 'running', 'running'), t(5, 1, 'img:1', 'running', 'running')] },
        { service: back('rollback_completed', 'rollback completed'), tasks: [t(5, 1, 'img:1', 'running', 'running'), t(6, 2, 'img:1', 'running', 'running')] },
      ],
      { rollback: true },
    );
    assert.equal(error, undefined);
    assert.equal(
      output,
      lines(
        'rollback: manually requested rollback',
        'overall progress: rolling back update: 0 out of 2 tasks',
        'overall progress: rolling back update: 1 out of 2 tasks',
        '1/2: running',
        'overall progress: rolling back update: 2 out of 2 tasks',
        '2/2: running',
        'verify: Service web converged',
      ),
    );
  });

  it('fails when a rollback pauses, saying how to carry on', async () => {
    const { error } = await watch([{ service: web('img:1', 1, status('rollback_paused', 'rollback paused: task t5 failed')), tasks: [] }], { rollback: true });
    assert.equal(
      error?.message,
      'service rollback paused: rollback paused: task t5 failed; see `swarmlet service ps web`, then run `swarmlet service update web` to carry on with the spec it has now',
    );
  });

  it('does not report the errors of tasks that had ended before the wait, but reports one retired between polls', async () => {
    const old = t(1, 1, 'img:1', 'shutdown', 'failed', { err: 'old failure' });
    const { output } = await watch([
      { service: web('img:2', 1, status('updating')), tasks: [old, t(2, 1, 'img:1', 'running', 'running')] },
      { service: web('img:2', 1, status('updating')), tasks: [old, t(2, 1, 'img:1', 'shutdown', 'shutdown'), t(3, 1, 'img:2', 'shutdown', 'failed', { err: 'exit 2' })] },
      { service: web('img:2', 1, status('completed')), tasks: [old, t(3, 1, 'img:2', 'shutdown', 'failed', { err: 'exit 2' }), t(4, 1, 'img:2', 'running', 'running')] },
    ]);
    assert.doesNotMatch(output, /old failure/);
    assert.equal(output.match(/web\.1: failed: exit 2\n/g)?.length, 1);
  });

  it('draws no bars beyond 20 slots, only the overall line', async () => {
    const tasks = Array.from({ length: 21 }, (_, i) => t(i + 1, i + 1, 'img', 'running', 'running'));
    const { output } = await watch([{ service: web('img', 21), tasks }]);
    assert.equal(output, lines('overall progress: 21 out of 21 tasks', 'verify: Service web converged'));
  });

  it('gives up after the timeout with the last error and a pointer to service ps', async () => {
    const frames = [{ service: web('img', 1), tasks: [t(1, 1, 'img', 'running', 'rejected', { err: 'No such image: img' })] }];
    const { error, polls, sleeps } = await watch(frames, { timeoutMs: 1000, pollMs: 250 });
    assert.equal(
      error?.message,
      'service web did not converge within 1s (0 of 1 tasks running; last error: No such image: img): see `swarmlet service ps web`; the service stays as it is',
    );
    assert.equal(polls, 5);
    assert.equal(sleeps, 4);
    const updating = await watch([{ service: web('img', 1, status('updating')), tasks: [] }], { timeoutMs: 500, pollMs: 250 });
    assert.match(updating.error?.message ?? '', /within 500ms \(0 of 1 tasks running\).*; the update goes on without the CLI watching$/);
  });
});
