/**
 * What the listener refuses, over real sockets: garbage on the port, wrong paths and kinds, peers that send the
 * wrong first message or nothing at all, foreign certificates, and frames replayed, tampered with, oversized or of
 * an unknown type after a valid handshake. For each, the server logs one line with the peer's address and the
 * reason, and — the point of the exercise — a good client keeps being served the whole time: a background loop of
 * requests on one channel must see no failure, and a fresh dial must work after each case.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, afterEach, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { dial, type SecureChannel } from '../../src/transport/endpoint.ts';
import { encodeEnvelope } from '../../src/transport/envelope.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { FRAME_TYPE } from '../../src/transport/frames.ts';
import { Initiator } from '../../src/transport/handshake.ts';
import { PROTOCOL_VERSION } from '../../src/transport/handshake-messages.ts';
import { options, trusting } from './helpers.ts';
import {
  alice, cluster, echoServer, handshakenWs, mallory, openRawWs, openTcp, security, within, type EchoServer,
} from './socket-helpers.ts';

const HANDSHAKE_TIMEOUT_MS = 300;
const message = (body: unknown) => encodeEnvelope({ kind: 'message', body });

describe('the listener refuses bad peers and keeps serving good ones', () => {
  let echo: EchoServer;
  let good: SecureChannel;
  let traffic: NodeJS.Timeout;
  const served = { ok: 0, failed: [] as string[] };

  before(async () => {
    echo = await echoServer({ limits: { handshakesPerSecondPerAddress: Infinity, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS } });
    good = await dial(echo.address, 'control', security(alice));
    let n = 0;
    traffic = setInterval(() => {
      const i = n++;
      good.request({ i }, 2000).then(
        (reply) => (JSON.stringify(reply) === JSON.stringify({ echo: { i } }) ? served.ok++ : served.failed.push(`bad reply ${JSON.stringify(reply)}`)),
        (err: Error) => served.failed.push(err.message),
      );
    }, 5);
  });

  afterEach(async () => {
    const fresh = await dial(echo.address, 'control', security(alice));
    assert.deepEqual(await fresh.request('after', 2000), { echo: 'after' });
    fresh.close();
  });

  after(async () => {
    clearInterval(traffic);
    assert.deepEqual(await good.request('last', 2000), { echo: 'last' });
    assert.deepEqual(served.failed, [], 'the good client saw failures');
    assert.ok(served.ok > 20, `only ${served.ok} requests were served during the tests`);
    assert.deepEqual(echo.log.lines.filter((l) => l.level === 'error'), [], 'nothing reached the error level');
    good.close();
    await echo.server.close();
  });

  /** Waits for the server's refusal line naming `address` and `reason`. */
  const refused = (from: number, address: string, reason: string) => echo.log.waitFor(from, ['refused', address, `${reason}:`]);

  it('answers garbage bytes on the TCP port with 400 and closes (malformed)', async () => {
    const tcp = await openTcp(echo.server.port);
    const mark = echo.log.mark();
    tcp.socket.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), randomBytes(300)])); // a TLS ClientHello's start
    await within(tcp.closed, 2000, 'server closing the garbage connection');
    assert.match(tcp.received(), /^HTTP\/1\.1 400 /);
    await refused(mark, tcp.localAddress, 'malformed');
  });

  it('answers a plain HTTP request with 426 (not_websocket)', async () => {
    const tcp = await openTcp(echo.server.port);
    const mark = echo.log.mark();
    tcp.socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    await within(tcp.closed, 2000, 'server closing');
    assert.match(tcp.received(), /^HTTP\/1\.1 426 /);
    await refused(mark, tcp.localAddress, 'not_websocket');
  });

  it('answers an unknown path with 404 before any upgrade (unknown_path)', async () => {
    for (const path of ['/swarmlet/v2/control', '/swarmlet/v1/other', '/', '/swarmlet/v1/control?x=1']) {
      const mark = echo.log.mark();
      const ws = new WebSocket(`ws://${echo.address}${path}`);
      ws.on('error', () => {});
      const [, response] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; socket: { localPort: number } }];
      assert.equal(response.statusCode, 404, path);
      await refused(mark, `127.0.0.1:${response.socket.localPort}`, 'unknown_path');
      ws.terminate();
    }
  });

  it('answers a kind security() refuses with 403 (kind_refused), and the dialer says so', async () => {
    const mark = echo.log.mark();
    await assert.rejects(dial(echo.address, 'join', security(alice)), (err: unknown) => err instanceof TransportError && err.reason === 'refused' && err.message.includes('HTTP 403'));
    await refused(mark, '127.0.0.1:', 'kind_refused');
  });

  it('closes a connection whose first message is text, random bytes, or another protocol version (malformed, version)', async () => {
    const hello = new Initiator(options(alice, cluster, 'newer')).start();
    const newer = Buffer.from(hello.ok ? hello.send! : []);
    newer[4] = PROTOCOL_VERSION + 1;
    // What a node of the release before AEAD negotiation sends: version 1, no offer.
    const certificateLength = Buffer.alloc(2);
    certificateLength.writeUInt16BE(alice.certificate.length);
    const version1 = Buffer.concat([Buffer.from('SWLH'), Buffer.of(1, 1), randomBytes(32), certificateLength, alice.certificate]);
    for (const [first, reason, code, says] of [
      ['hello?', 'malformed', 4000, ''],
      [randomBytes(200), 'malformed', 4000, ''],
      [Buffer.alloc(0), 'malformed', 4000, ''],
      [version1, 'version', 4001, 'upgrade the node on version 1'],
      [newer, 'version', 4001, `upgrade the node on version ${PROTOCOL_VERSION}`],
    ] as const) {
      const raw = await openRawWs(echo.server.port);
      const mark = echo.log.mark();
      raw.ws.send(first);
      const closed = await within(raw.closed, 2000, `close after ${reason}`);
      assert.equal(closed.code, code);
      assert.ok(closed.reason.startsWith(`${reason}:`) && closed.reason.includes(says), closed.reason);
      await refused(mark, raw.localAddress, reason);
    }
  });

  it('closes a connection that never sends, within 3x the handshake timeout (timeout)', async () => {
    const mark = echo.log.mark();
    const started = Date.now();
    const tcp = await openTcp(echo.server.port);
    const raw = await openRawWs(echo.server.port);
    await within(tcp.closed, 3 * HANDSHAKE_TIMEOUT_MS, 'closing a silent TCP connection');
    const closed = await within(raw.closed, 3 * HANDSHAKE_TIMEOUT_MS, 'closing a silent WebSocket');
    assert.equal(closed.code, 4011);
    assert.ok(Date.now() - started >= HANDSHAKE_TIMEOUT_MS - 20);
    await refused(mark, tcp.localAddress, 'timeout');
    await refused(mark, raw.localAddress, 'timeout');
  });

  it('refuses a certificate from another cluster before signing anything (peer_rejected), and tells the dialer', async () => {
    const mark = echo.log.mark();
    await assert.rejects(
      dial(echo.address, 'control', security(mallory)),
      (err: unknown) => err instanceof TransportError && err.reason === 'peer_rejected' && err.message.includes('not signed by this cluster'),
    );
    await refused(mark, '127.0.0.1:', 'peer_rejected');
  });

  it('logs a dialer that refuses the server\'s certificate', async () => {
    const mark = echo.log.mark();
    await assert.rejects(dial(echo.address, 'control', security(alice, trusting(alice))), { name: 'TransportError', reason: 'peer_rejected' });
    await echo.log.waitFor(mark, ['refused this node', 'peer_rejected']);
  });

  it('closes a channel on a replayed frame (out_of_order), a tampered one (auth_failed), an unknown type (unknown_type)', async () => {
    const cases: [string, (frame: Uint8Array) => Uint8Array[], string, number][] = [
      ['replayed', (frame) => [frame, frame], 'out_of_order', 4008],
      ['tampered', (frame) => { const f = frame.slice(); f[20]! ^= 0x40; return [f]; }, 'auth_failed', 4009],
      ['unknown type', (frame) => { const f = frame.slice(); f[0] = 9; return [f]; }, 'unknown_type', 4006],
      ['truncated', (frame) => [frame.subarray(0, frame.length - 1)], 'malformed', 4000],
    ];
    for (const [what, forge, reason, code] of cases) {
      const raw = await handshakenWs(echo.server.port);
      const mark = echo.log.mark();
      const frame = raw.session.seal(FRAME_TYPE.control, message(`${what} frame`));
      for (const f of forge(frame)) raw.ws.send(f);
      const closed = await within(raw.closed, 2000, `close after a ${what} frame`);
      assert.equal(closed.code, code, what);
      await echo.log.waitFor(mark, ['closing the control channel', raw.localAddress, `${reason}:`]);
    }
  });

  it('closes a channel on a text message or an envelope that does not parse (malformed)', async () => {
    for (const send of [
      (raw: Awaited<ReturnType<typeof handshakenWs>>) => raw.ws.send('{"type":"heartbeat"}'),
      (raw: Awaited<ReturnType<typeof handshakenWs>>) => raw.ws.send(raw.session.seal(FRAME_TYPE.control, Buffer.from('\x01{"not json'))),
      (raw: Awaited<ReturnType<typeof handshakenWs>>) => raw.ws.send(raw.session.seal(FRAME_TYPE.control, Buffer.from('\x07{}'))),
    ]) {
      const raw = await handshakenWs(echo.server.port);
      const mark = echo.log.mark();
      send(raw);
      assert.equal((await within(raw.closed, 2000, 'close')).code, 4000);
      await echo.log.waitFor(mark, ['closing the control channel', raw.localAddress, 'malformed:']);
    }
  });

  it('refuses a WebSocket message over the frame limit before buffering it (oversized, 1009)', async () => {
    const raw = await handshakenWs(echo.server.port);
    const mark = echo.log.mark();
    raw.ws.send(Buffer.alloc(2 << 20));
    const closed = await within(raw.closed, 2000, 'close after an oversized message');
    assert.equal(closed.code, 1009);
    await echo.log.waitFor(mark, ['closing the control channel', raw.localAddress, 'oversized:']);
  });

  it('refuses a WebSocket message over the limit during the handshake too', async () => {
    const raw = await openRawWs(echo.server.port);
    const mark = echo.log.mark();
    raw.ws.send(Buffer.alloc(2 << 20));
    assert.equal((await within(raw.closed, 2000, 'close')).code, 1009);
    await refused(mark, raw.localAddress, 'oversized');
  });
});

describe('the listener\'s limits', () => {
  it('refuses a frame over maxPayloadBytes that ws alone would have let through (oversized)', async () => {
    const echo = await echoServer({ limits: { handshakesPerSecondPerAddress: Infinity, maxPayloadBytes: 1024 } });
    try {
      const raw = await handshakenWs(echo.server.port);
      const mark = echo.log.mark();
      raw.ws.send(raw.session.seal(FRAME_TYPE.bulk, new Uint8Array(4096)));
      assert.equal((await within(raw.closed, 2000, 'close')).code, 4007);
      await echo.log.waitFor(mark, [raw.localAddress, 'oversized:', '1024-byte']);
      const fine = await dial(echo.address, 'control', security(alice), { limits: { maxPayloadBytes: 1024 } });
      assert.deepEqual(await fine.request('small', 2000), { echo: 'small' });
      fine.close();
    } finally {
      await echo.server.close();
    }
  });

  it('rate-limits handshakes per address: 429 once the bucket is empty, other addresses unaffected, tokens come back', async () => {
    let now = 1_000_000;
    const echo = await echoServer({ limits: { handshakesPerSecondPerAddress: 1, handshakeBurstPerAddress: 2 }, now: () => now });
    try {
      for (let i = 0; i < 2; i++) (await dial(echo.address, 'control', security(alice))).close();
      const mark = echo.log.mark();
      await assert.rejects(dial(echo.address, 'control', security(alice)), (err: unknown) => err instanceof TransportError && err.reason === 'refused' && err.message.includes('HTTP 429'));
      await echo.log.waitFor(mark, ['refused', '127.0.0.1:', 'rate_limited:']);
      const other = await dial(echo.address, 'control', security(alice), { localAddress: '127.0.0.2' });
      assert.deepEqual(await other.request('from another address', 2000), { echo: 'from another address' });
      assert.match(echo.channels.at(-1)?.remoteAddress ?? '', /^127\.0\.0\.2:/);
      other.close();
      now += 1000;
      (await dial(echo.address, 'control', security(alice))).close();
      await assert.rejects(dial(echo.address, 'control', security(alice)), { reason: 'refused' });
      assert.equal(echo.server.stats().refusals.rate_limited, 2);
    } finally {
      await echo.server.close();
    }
  });

  it('drops connections beyond maxPendingHandshakes at accept, and serves again once they are gone (overloaded)', async () => {
    const echo = await echoServer({ limits: { handshakesPerSecondPerAddress: Infinity, maxPendingHandshakes: 2 } });
    try {
      const sitters = [await openTcp(echo.server.port), await openTcp(echo.server.port)];
      const mark = echo.log.mark();
      const third = await openTcp(echo.server.port);
      await within(third.closed, 2000, 'dropping the third connection');
      await echo.log.waitFor(mark, ['refused', third.localAddress, 'overloaded:']);
      for (const sitter of sitters) sitter.socket.destroy();
      await Promise.all(sitters.map((s) => s.closed));
      await within(eventually(() => echo.server.stats().pendingHandshakes === 0), 2000, 'pending handshakes to clear');
      const channel = await dial(echo.address, 'control', security(alice));
      assert.deepEqual(await channel.request('ok', 2000), { echo: 'ok' });
      channel.close();
    } finally {
      await echo.server.close();
    }
  });
});

/** Resolves once `check` holds, testing it on each turn of the event loop. */
function eventually(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = () => (check() ? resolve() : setImmediate(poll));
    poll();
  });
}
