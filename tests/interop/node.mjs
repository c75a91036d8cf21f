// Shared js-libp2p node factory for peer.mjs and bench.mjs.
// Load this module only AFTER ./polyfill.mjs (via dynamic import).

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

export const ECHO_PROTOCOL = '/parley/echo/1.0.0'
export const SINK_PROTOCOL = '/parley/sink/1.0.0'
export const STREAM_LIMITS = { maxInboundStreams: 1000, maxOutboundStreams: 1000 }

export { multiaddr, peerIdFromString }

/** Parses a hex string of a libp2p PrivateKey protobuf (as produced by privateKeyToProtobuf). */
export function privateKeyFromHex (hex) {
  const clean = hex.trim().replace(/^0x/i, '')
  if (clean.length === 0 || clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) {
    throw new Error('--key must be an even-length hex string (libp2p PrivateKey protobuf)')
  }
  return privateKeyFromProtobuf(Uint8Array.from(Buffer.from(clean, 'hex')))
}

/**
 * Creates and starts a js-libp2p node: tcp (and any extra transports) + noise + yamux, identify + ping (and any extra services),
 * generous limits, loopback dialing allowed.
 */
export async function createNode ({ listen = ['/ip4/127.0.0.1/tcp/0'], agent = 'js-parley-interop/1.0', privateKey, services = {}, transports = [], appendAnnounce = [] } = {}) {
  return createLibp2p({
    privateKey: privateKey ?? await generateKeyPair('Ed25519'),
    nodeInfo: { userAgent: agent },
    addresses: { listen, appendAnnounce },
    transports: [tcp(), ...transports],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ maxInboundStreams: 4096, maxOutboundStreams: 4096 })],
    services: {
      identify: identify(),
      ping: ping(),
      ...services
    },
    // The node default gater allows everything, but be explicit: tests dial 127.0.0.1 / ::1.
    connectionGater: {
      denyDialMultiaddr: async () => false,
      denyDialPeer: async () => false,
      denyInboundConnection: async () => false,
      denyOutboundConnection: async () => false
    },
    connectionManager: {
      maxConnections: 2000,
      maxParallelDials: 200,
      maxIncomingPendingConnections: 1000,
      // default is 5 inbound connections per second per host, which loopback tests exceed
      inboundConnectionThreshold: 100_000,
      allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']
    }
  })
}

/** Feeds a stream chunk (Uint8Array or Uint8ArrayList) to fn one Uint8Array at a time. */
export function forEachBuffer (chunk, fn) {
  if (chunk instanceof Uint8Array) {
    fn(chunk)
  } else {
    for (const buf of chunk) fn(buf)
  }
}

/** Sends data respecting backpressure (waits for 'drain' when send() returns false). */
export async function sendAll (stream, data, { chunkSize = 65536, signal } = {}) {
  for (let off = 0; off < data.byteLength; off += chunkSize) {
    const chunk = data.subarray(off, Math.min(off + chunkSize, data.byteLength))
    if (!stream.send(chunk)) {
      await stream.onDrain({ signal })
    }
  }
}

/** Resolves a command target: {addr} -> Multiaddr, {peerId} -> PeerId. */
export function parseTarget (args) {
  if (typeof args.addr === 'string' && args.addr.length > 0) return multiaddr(args.addr)
  if (typeof args.peerId === 'string' && args.peerId.length > 0) return peerIdFromString(args.peerId)
  throw new Error('an "addr" (multiaddr) or "peerId" argument is required')
}

export function describeError (err) {
  if (err == null) return 'unknown error'
  const name = err.name != null && err.name !== 'Error' ? `${err.name}: ` : ''
  return `${name}${err.message ?? String(err)}`
}
