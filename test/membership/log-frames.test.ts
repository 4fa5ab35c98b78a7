/**
 * Docker's multiplexed log stream and Swarm's task context: frames read back the same however the bytes were
 * cut, and the details prefix is byte for byte what Docker's daemon writes and the docker CLI splits.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { detailsOf, encodeFrame, FrameParser, parseDetailedLine, STREAM, type StreamType, withDetails } from '../../src/cluster/log-frames.ts';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

describe('multiplexed log frames', () => {
  it('writes the 8-byte header Docker writes: stream, three zeros, big-endian length', () => {
    assert.deepEqual([...encodeFrame(STREAM.stderr, 'hi\n')], [2, 0, 0, 0, 0, 0, 0, 3, 0x68, 0x69, 0x0a]);
  });

  it('parses any chunking of a stream into the same frames', () => {
    const frame = fc.record({ stream: fc.constantFrom<StreamType>(STREAM.stdout, STREAM.stderr, STREAM.systemerr), payload: fc.uint8Array({ maxLength: 300 }) });
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 20 }), fc.array(fc.nat({ max: 400 }), { maxLength: 30 }), (frames, cuts) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f.stream, f.payload)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const parser = new FrameParser();
        const parsed = [];
        let from = 0;
        for (const at of [...points, stream.length]) {
          parsed.push(...parser.push(stream.subarray(from, at)));
          from = at;
        }
        assert.equal(parser.pendingBytes, 0);
        assert.deepEqual(parsed.map((f) => [f.stream, Buffer.from(f.payload)]), frames.map((f) => [f.stream, Buffer.from(f.payload)]));
      }),
      { seed: Number(process.env.FC_SEED ?? 20261127), verbose: true },
    );
  });

  it('keeps a cut-short frame pending, and refuses a malformed header or an absurd length', () => {
    const parser = new FrameParser();
    assert.deepEqual(parser.push(encodeFrame(STREAM.stdout, 'abc').subarray(0, 9)), []);
    assert.equal(parser.pendingBytes, 9);
    assert.throws(() => new FrameParser().push(Buffer.from([7, 0, 0, 0, 0, 0, 0, 1, 0])), /malformed header/);
    assert.throws(() => new FrameParser().push(Buffer.from([1, 0, 0, 0, 0xff, 0, 0, 0])), /over the 1048576-byte limit/);
  });
});

describe('the task context in front of each line', () => {
  const context = { nodeId: 'n0de', serviceId: 's3rv', taskId: 't4sk' };

  it('is the sorted, query-escaped key=value list Docker writes', () => {
    assert.equal(detailsOf(context), 'com.docker.swarm.node.id=n0de,com.docker.swarm.service.id=s3rv,com.docker.swarm.task.id=t4sk');
    assert.equal(detailsOf({ ...context, nodeId: 'a b,c=d' }).split(',')[0], 'com.docker.swarm.node.id=a+b%2Cc%3Dd');
  });

  it('goes after the timestamp when there is one, in front otherwise', () => {
    const details = detailsOf(context);
    assert.equal(text(withDetails(Buffer.from('hello world\n'), details, false)), `${details} hello world\n`);
    assert.equal(text(withDetails(Buffer.from('2026-11-27T03:00:00.000000000Z hello world\n'), details, true)), `2026-11-27T03:00:00.000000000Z ${details} hello world\n`);
  });

  it('comes apart again as the docker CLI splits it', () => {
    const line = text(withDetails(Buffer.from('2026-11-27T03:00:00.000000000Z a b\n'), detailsOf({ ...context, nodeId: 'x y' }), true));
    const parsed = parseDetailedLine(line, true)!;
    assert.equal(parsed.timestamp, '2026-11-27T03:00:00.000000000Z');
    assert.equal(parsed.details.get('com.docker.swarm.node.id'), 'x y');
    assert.equal(parsed.message, 'a b\n');
    assert.equal(parseDetailedLine('no-context-here\n', false), undefined);
  });
});
