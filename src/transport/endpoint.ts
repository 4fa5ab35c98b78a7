/**
 * The node transport's public face: `listen` on the node's one port, `dial` a peer, and talk over the
 * SecureChannel either gives. Callers import from here; the files behind it are one concept each:
 *
 *   kinds.ts           channel kinds ('control', 'bulk', 'join'), their ws paths, the security each needs
 *   limits.ts          what one peer may cost (handshake deadline, frame size, rates, buffers, keepalive)
 *   aead.ts            which AEAD seals the frames: what this CPU offers, how the handshake picks one
 *   server.ts          the listener: refusals in order of cost, then the Responder, then onChannel
 *   dial.ts            the dialer: the Initiator over a ws, with one deadline and errors that say what to do
 *   secure-channel.ts  what callers see of a connection: messages, requests, byte streams, close
 *   channel.ts         its implementation over a ws: sealed frames, flow control, liveness, held frames
 *   requests.ts        requests waiting for their replies, and RemoteError
 *   envelope.ts        what a control frame's payload means (message, request, reply, failure)
 *   close-codes.ts     ws close codes that carry a TransportReason to the other end
 *   ws-link.ts         the handshake driver and the closing rules both ends share
 *   rate-limiter.ts    handshakes per remote address (token buckets)
 *   address.ts         "ip:port" printing and parsing
 *
 * Below them, handshake.ts, handshake-messages.ts, frames.ts and session.ts are the pure protocol, with no
 * sockets and no clock.
 */

export { listen, type TransportServer, type TransportServerOptions, type TransportServerStats } from './server.ts';
export { dial, type DialOptions } from './dial.ts';
export type { ChannelStats, Disposer, RequestHandler, SecureChannel } from './secure-channel.ts';
export { RemoteError } from './requests.ts';
export { CHANNEL_KINDS, channelPath, type ChannelKind, type ChannelSecurity } from './kinds.ts';
export { DEFAULT_LIMITS, type TransportLimits } from './limits.ts';
export { AEAD_NAMES, AEAD_OVERRIDE_VARIABLE, localAeadOffer, type AeadName } from './aead.ts';
export { TransportError, type TransportReason } from './errors.ts';
export type { LocalIdentity, VerifiedPeer, VerifyPeer } from './handshake.ts';
