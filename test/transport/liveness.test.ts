/**
 * Liveness over real sockets: a connection that goes half-open (a TCP proxy in the path stops passing anything,
 * as a dead peer or a forgetful NAT would) is closed by keepalive on both ends within three keepalive periods,
 * and a sender whose peer stops reading is stopped at maxBufferedBytes instead of buffering without end.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dial, TransportError } from '../../src/transport/endpoint.ts';
import { alice, CapturingLogger, closedWith, echoServer, freezableProxy, security, within } from './socket-helpers.ts';

const KEEPALIVE_MS = 100;
/** Timers fire late on a loaded machine; the bound is still well under a fourth period. */
const SLACK_MS = 80;

describe('transport liveness', () => {
  it('closes a half-open connection on both ends within 3x the keepalive period (timeout)', async () => {
    const limits = { handshakesPerSecondPerAddress: Infinity, keepaliveMs: KEEPALIVE_MS, keepaliveMisses: 2 };
    const echo = await echoServer({ limits });
    const proxy = await freezableProxy(echo.server.port);
    try {
      const accepted = echo.nextChannel();
      const channel = await dial(`127.0.0.1:${proxy.port}`, 'control', security(alice), { limits });
      const serverSide = await accepted;
      // Several keepalive periods of a healthy, quiet connection: pings are answered, nothing closes.
      await new Promise((resolve) => setTimeout(resolve, 4 * KEEPALIVE_MS));
      assert.deepEqual(await channel.request('alive', 1000), { echo: 'alive' });
      assert.equal(serverSide.closed, false);

      const mark = echo.log.mark();
      const clientClosed = closedWith(channel);
      const serverClosed = closedWith(serverSide);
      const frozenAt = Date.now();
      proxy.freeze();
      const [clientReason, serverReason] = await within(Promise.all([clientClosed, serverClosed]), 3 * KEEPALIVE_MS + SLACK_MS, 'both ends to give up');
      const elapsed = Date.now() - frozenAt;
      assert.ok(elapsed >= 2 * KEEPALIVE_MS - 20, `closed after ${elapsed} ms: too eager`);
      for (const reason of [clientReason, serverReason]) assert.ok(reason instanceof TransportError && reason.reason === 'timeout', String(reason));
      await echo.log.waitFor(mark, ['closing the control channel', serverSide.remoteAddress, 'timeout:', 'keepalive']);
    } finally {
      await proxy.close();
      await echo.server.close();
    }
  });

  it('closes a channel whose peer stopped reading once maxBufferedBytes wait to be written (stalled)', async () => {
    const echo = await echoServer({ onChannel: () => {} });
    const proxy = await freezableProxy(echo.server.port);
    const log = new CapturingLogger();
    try {
      const channel = await dial(`127.0.0.1:${proxy.port}`, 'control', security(alice), { log, limits: { maxBufferedBytes: 1 << 20, highWaterMarkBytes: 256 * 1024 } });
      const closed = closedWith(channel);
      proxy.freeze();
      // A control sender that ignores backpressure, as control senders do: 64 KiB every millisecond.
      const payload = 'x'.repeat(64 * 1024);
      const pump = setInterval(() => channel.send(payload), 1);
      try {
        const reason = await within(closed, 10_000, 'the sender to give up');
        assert.ok(reason instanceof TransportError && reason.reason === 'stalled', String(reason));
        assert.ok(channel.bufferedAmount <= (1 << 20) + 64 * 1024 + 100, `${channel.bufferedAmount} bytes were buffered`);
      } finally {
        clearInterval(pump);
      }
      await log.waitFor(0, ['closing the control channel', `127.0.0.1:${proxy.port}`, 'stalled:']);
    } finally {
      await proxy.close();
      await echo.server.close();
    }
  });
});
