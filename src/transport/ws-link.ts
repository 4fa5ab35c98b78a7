/**
 * The few things both ends do with a raw WebSocket, in one place so they do them alike: run the three-message
 * handshake over it, close it with a reason the far end can read, and turn ws's own protocol errors into
 * TransportErrors. The handshake state machines stay pure (handshake.ts); this is only their driver.
 *
 * Closing is two steps on purpose. A close frame carries the reason to a well-behaved peer, which answers and
 * lets ws shut the socket; a peer that never answers (the slow or hostile one a refusal is usually for) would
 * otherwise hold the socket for ws's 30-second close timeout, so the socket is destroyed after a short grace.
 */

import type WebSocket from 'ws';
import { TransportError } from './errors.ts';
import { closeCodeFor, closeReasonText, reasonForCloseCode } from './close-codes.ts';
import type { HandshakeResult, HandshakeStep } from './handshake.ts';

/** How long a closed connection may wait for the peer's close frame before its socket is destroyed. */
export const CLOSE_GRACE_MS = 1000;

const NOOP = () => {};

/**
 * ws emits 'error' for a peer's protocol violations and throws if no one listens: every ws this transport touches
 * gets this listener first, so no peer can crash the process, whatever else is attached or detached later.
 */
export function guard(ws: WebSocket): void {
  ws.on('error', NOOP);
}

/** Sends a close frame with `code` and `text`, and destroys the socket if the peer has not closed after the grace. */
export function closeSoon(ws: WebSocket, code: number, text: string, graceMs = CLOSE_GRACE_MS): void {
  if (ws.readyState === ws.CLOSED) return;
  if (ws.readyState === ws.CONNECTING) {
    ws.terminate();
    return;
  }
  ws.close(code, closeReasonText(text));
  const timer = setTimeout(() => ws.terminate(), graceMs);
  timer.unref();
  ws.once('close', () => clearTimeout(timer));
}

/** Closes with the code that names the error's reason, so the peer learns why. */
export function closeWithError(ws: WebSocket, error: TransportError, graceMs?: number): void {
  closeSoon(ws, closeCodeFor(error.reason), `${error.reason}: ${error.message}`, graceMs);
}

/** A ws protocol error (the peer broke WebSocket framing, or sent a message over maxPayload) as a TransportError. */
export function protocolError(err: Error & { code?: string }): TransportError {
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return new TransportError('oversized', `the peer sent a WebSocket message over the size limit (${err.message})`, { cause: err });
  }
  return new TransportError('malformed', `the peer broke the WebSocket protocol: ${err.message}`, { cause: err });
}

/** Why the peer closed, from its close code and text; null for a clean close. */
export function peerCloseError(code: number, text: string, what: string): TransportError | null {
  const reason = reasonForCloseCode(code);
  if (reason === null) return null;
  return new TransportError(reason, `${what} (close code ${code}${text ? `: ${text}` : ', no reason given'})`);
}

export function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return new Uint8Array(data);
}

export interface HandshakeCallbacks {
  /** The handshake completed; the ws now belongs to whoever builds the channel. */
  done(result: HandshakeResult): void;
  /** It failed. `byPeer`: the peer closed (error from its close code); otherwise this side refused and closed. */
  failed(error: TransportError, byPeer: boolean): void;
}

export interface HandshakeRun {
  /** Ends the handshake from this side (a timeout, a shutdown): closes with the error's code, reports it as failed. */
  abort(error: TransportError): void;
}

/**
 * Feeds each binary message to `receive` and sends what it answers, until a result or a failure. Every failure
 * closes the connection; listeners are detached either way, so a completed ws carries nothing of the handshake.
 */
export function runHandshake(ws: WebSocket, receive: (message: Uint8Array) => HandshakeStep, callbacks: HandshakeCallbacks): HandshakeRun {
  let over = false;
  const detach = () => {
    over = true;
    ws.off('message', onMessage);
    ws.off('error', onError);
    ws.off('close', onClose);
  };
  const refuse = (error: TransportError) => {
    if (over) return;
    detach();
    closeWithError(ws, error);
    callbacks.failed(error, false);
  };
  function onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (over) return;
    if (!isBinary) {
      refuse(new TransportError('malformed', 'the peer sent a text message where a binary handshake message belongs'));
      return;
    }
    const step = receive(toBytes(data));
    if (!step.ok) {
      refuse(step.error);
      return;
    }
    if (step.send) ws.send(step.send);
    if (step.result) {
      detach();
      callbacks.done(step.result);
    }
  }
  function onError(err: Error): void {
    refuse(protocolError(err));
  }
  function onClose(code: number, reason: Buffer): void {
    if (over) return;
    detach();
    const error = peerCloseError(code, reason.toString(), 'the peer closed the connection during the handshake')
      ?? new TransportError('closed', `the peer closed the connection during the handshake (close code ${code})`);
    callbacks.failed(error, true);
  }
  ws.on('message', onMessage);
  ws.on('error', onError);
  ws.on('close', onClose);
  return { abort: refuse };
}
