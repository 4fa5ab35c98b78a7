import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SerialRunner } from '../../src/util/serial-runner.ts';

describe('SerialRunner', () => {
  it('never runs two passes at once, and a kick during a pass causes exactly one more', async () => {
    let running = 0;
    let passes = 0;
    let release!: () => void;
    const runner = new SerialRunner(async () => {
      running++;
      assert.equal(running, 1);
      passes++;
      if (passes === 1) await new Promise<void>((resolve) => (release = resolve));
      running--;
    });
    runner.kick();
    runner.kick();
    runner.kick();
    release();
    await runner.idle();
    assert.equal(passes, 2);
  });

  it('does not lose a kick that arrives just as a pass ends', async () => {
    // The kick lands a few microtask hops after the pass: one of these depths falls between the loop's last
    // check and the moment the runner counts as idle, where a kick used to be lost.
    for (let depth = 0; depth < 8; depth++) {
      let passes = 0;
      const runner = new SerialRunner(async () => {
        passes++;
        if (passes > 1) return;
        let hop: Promise<void> = Promise.resolve();
        for (let i = 0; i < depth; i++) hop = hop.then(() => undefined);
        void hop.then(() => runner.kick());
      });
      runner.kick();
      for (let i = 0; i < 20; i++) await Promise.resolve();
      await runner.idle();
      assert.equal(passes, 2, `kick lost at depth ${depth}`);
    }
  });

  it('runs nothing after stop', async () => {
    let passes = 0;
    const runner = new SerialRunner(async () => {
      passes++;
    });
    await runner.stop();
    runner.kick();
    await runner.idle();
    assert.equal(passes, 0);
  });
});
