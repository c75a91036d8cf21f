// Long-running js-libp2p peer with a @libp2p/kad-dht service, controlled over stdin/stdout with JSON lines
// (the protocol of peer.mjs; see README.md). stdout carries ONLY protocol lines; all logs go to stderr.
//
//   node dht-peer.mjs [--dht-protocol /parley/kad/1.0.0] [--listen <ma>]... [--agent <s>] [--key <hex>]
//
// The DHT runs in server mode with `passthroughMapper` (loopback addresses are kept, so a loopback
// network works), one DHT only (no LAN/WAN split), and a validator + selector for Parley's
// `parley-kv` namespace so that js nodes store and serve Parley's records.

import './polyfill.mjs'
import { setMaxListeners } from 'node:events'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

const {
  describeError, multiaddr, parseTarget, peerIdFromString, privateKeyFromHex
} = await import('./node.mjs')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { generateKeyPair } = await import('@libp2p/crypto/keys')
const { identify } = await import('@libp2p/identify')
const { kadDHT, passthroughMapper } = await import('@libp2p/kad-dht')
const { ping } = await import('@libp2p/ping')
const { tcp } = await import('@libp2p/tcp')
const { createLibp2p } = await import('libp2p')
// multiformats is a dependency of libp2p and @libp2p/kad-dht (one hoisted copy, pinned by package-lock.json)
const { CID } = await import('multiformats/cid')
const Digest = await import('multiformats/hashes/digest')

const PARLEY_KV_NAMESPACE = 'parley-kv'
const MAX_PARLEY_KV_VALUE_BYTES = 64 * 1024
const RAW_CODEC = 0x55

const { values: argv } = parseArgs({
  options: {
    listen: { type: 'string', multiple: true },
    agent: { type: 'string' },
    key: { type: 'string' },
    'dht-protocol': { type: 'string' },
    alpha: { type: 'string' },
    'disjoint-paths': { type: 'string' },
    'kbucket-size': { type: 'string' }
  }
})
const agent = argv.agent ?? 'js-parley-dht/1.0'
const dhtProtocol = argv['dht-protocol'] ?? '/parley/kad/1.0.0'

function optionalPositiveInt (name) {
  const raw = argv[name]
  if (raw == null) return undefined
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${raw}`)
  return n
}
// kad-dht 16 defaults: alpha 10, disjoint paths = alpha, k 20 (Parley: alpha 3, 1 path, k 20)
const alpha = optionalPositiveInt('alpha')
const disjointPaths = optionalPositiveInt('disjoint-paths')
const kBucketSize = optionalPositiveInt('kbucket-size')

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function log (...args) {
  process.stderr.write(`[dht-peer ${new Date().toISOString()}] ${args.join(' ')}\n`)
}

let started = false
function onUncaught (kind, err) {
  log(`${kind}:`, err?.stack ?? String(err))
  emit({ event: started ? 'uncaught' : 'fatal', error: describeError(err) })
  if (!started) process.exit(1)
}
process.on('unhandledRejection', (err) => onUncaught('unhandledRejection', err))
process.on('uncaughtException', (err) => onUncaught('uncaughtException', err))

// ---- parley-kv records -------------------------------------------------------

/**
 * Validator for "/parley-kv/<owner>/<name>" records. Parley signs these (Ed25519 over its own
 * SignedRecord protobuf, see src/Parley.Dht/Records/SignedRecord.cs); the js interop peer does NOT verify
 * that signature format: it only bounds the size, so it stores and serves whatever Parley nodes put.
 * The Parley nodes verify every record they accept or return from a lookup.
 */
function validateParleyKv (key, value) {
  if (!(value instanceof Uint8Array) || value.byteLength === 0) {
    throw new Error('parley-kv record value is empty')
  }
  if (value.byteLength > MAX_PARLEY_KV_VALUE_BYTES) {
    throw new Error(`parley-kv record value is ${value.byteLength} bytes, more than ${MAX_PARLEY_KV_VALUE_BYTES}`)
  }
}

/** Deterministic selector: the lexicographically greatest value bytes (first of equals). */
function selectParleyKv (key, records) {
  let best = 0
  for (let i = 1; i < records.length; i++) {
    if (Buffer.compare(Buffer.from(records[i]), Buffer.from(records[best])) > 0) best = i
  }
  return best
}

// ---- node --------------------------------------------------------------------

// Same transport/limits as node.mjs createNode(), plus the DHT service.
const node = await createLibp2p({
  privateKey: argv.key != null ? privateKeyFromHex(argv.key) : await generateKeyPair('Ed25519'),
  nodeInfo: { userAgent: agent },
  addresses: { listen: argv.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux({ maxInboundStreams: 4096, maxOutboundStreams: 4096 })],
  services: {
    identify: identify(),
    // kad-dht's routing table pings new and old contacts from separate queues; with ping's default of one outbound
    // stream per connection, an overlap fails the new contact's ping and the peer never enters the table
    ping: ping({ maxOutboundStreams: 4 }),
    dht: kadDHT({
      protocol: dhtProtocol,
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      validators: { [PARLEY_KV_NAMESPACE]: validateParleyKv },
      selectors: { [PARLEY_KV_NAMESPACE]: selectParleyKv },
      ...(alpha != null ? { alpha } : {}),
      ...(disjointPaths != null ? { disjointPaths } : {}),
      ...(kBucketSize != null ? { kBucketSize } : {}),
      // generous per-connection DHT stream limits: lookups from 40 peers on one host
      maxInboundStreams: 256,
      maxOutboundStreams: 256
    })
  },
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
    inboundConnectionThreshold: 100_000,
    allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']
  }
})
const dht = node.services.dht

dht.routingTable.addEventListener('peer:add', (evt) => {
  emit({ event: 'dht:peer:add', peerId: evt.detail.toString() })
})
dht.routingTable.addEventListener('peer:remove', (evt) => {
  emit({ event: 'dht:peer:remove', peerId: evt.detail.toString() })
})

// ---- helpers -----------------------------------------------------------------

function timeoutSignal (args, defaultMs) {
  const ms = typeof args.timeoutMs === 'number' && args.timeoutMs > 0 ? args.timeoutMs : defaultMs
  const signal = AbortSignal.timeout(ms)
  setMaxListeners(Infinity, signal)
  return signal
}

function hexToBytes (name, hex) {
  if (typeof hex !== 'string') throw new Error(`"${name}" (hex string) is required`)
  const clean = hex.trim().replace(/^0x/i, '')
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`"${name}" must be an even-length hex string`)
  return Uint8Array.from(Buffer.from(clean, 'hex'))
}

const toHex = (bytes) => Buffer.from(bytes).toString('hex')

function utf8Key (args) {
  if (typeof args.key !== 'string' || args.key.length === 0) throw new Error('"key" (utf8 string) is required')
  return new TextEncoder().encode(args.key)
}

/**
 * A CID v1 (raw codec) around the given multihash bytes. kad-dht keys providers by `cid.multihash.bytes`
 * (as go does), so js providers use exactly the multihash bytes Parley uses as its provider key.
 */
function cidFromMultihashHex (hex) {
  const bytes = hexToBytes('keyHex', hex)
  let digest
  try {
    digest = Digest.decode(bytes)
  } catch (err) {
    throw new Error(`"keyHex" is not a multihash: ${describeError(err)}`)
  }
  return CID.createV1(RAW_CODEC, digest)
}

const peerInfoJson = (info) => ({ peerId: info.id.toString(), addrs: [...new Set((info.multiaddrs ?? []).map(String))] })

const round = (x) => Math.round(x * 1000) / 1000

function routingTablePeers () {
  // SingleKadDHT.routingTable.kb (k-bucket trie) is not a typed API; guard it.
  const kb = dht.routingTable.kb
  if (kb == null || typeof kb.toIterable !== 'function') return null
  return [...kb.toIterable()].map(p => p.peerId.toString())
}

async function inRoutingTable (peerId) {
  return (await dht.routingTable.find(peerId)) != null
}

/** Runs one lookup of kind `op` and returns a summary; throws when it fails. */
async function runLookup (op, args, signal) {
  const start = performance.now()
  const elapsed = () => round(performance.now() - start)
  let queried = 0
  let errors = 0
  const count = (event) => {
    if (event.name === 'PEER_RESPONSE') queried++
    else if (event.name === 'QUERY_ERROR') errors++
  }
  switch (op) {
    case 'closest': {
      const key = hexToBytes('keyHex', args.keyHex)
      const peers = []
      for await (const event of dht.getClosestPeers(key, { signal })) {
        count(event)
        if (event.name === 'FINAL_PEER') peers.push(peerInfoJson(event.peer))
      }
      return { peers, queried, errors, elapsedMs: elapsed() }
    }
    case 'find-peer': {
      if (typeof args.peerId !== 'string') throw new Error('"peerId" is required')
      const target = peerIdFromString(args.peerId)
      const useCache = args.useCache === true
      for await (const event of dht.findPeer(target, { signal, useCache })) {
        count(event)
        if (event.name === 'FINAL_PEER' && event.peer.id.equals(target)) {
          return { peerId: target.toString(), addrs: event.peer.multiaddrs.map(String), from: event.from.toString(), queried, errors, elapsedMs: elapsed() }
        }
      }
      throw new Error(`peer ${target} not found (${queried} responses, ${errors} errors)`)
    }
    case 'get': {
      const key = utf8Key(args)
      let best = null
      const responses = []
      for await (const event of dht.get(key, { signal })) {
        count(event)
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'GET_VALUE' && event.record != null) {
          responses.push({ from: event.from.toString(), valueHex: toHex(event.record.value) })
        }
        if (event.name === 'VALUE') best = event
      }
      if (best == null) throw new Error(`no value for ${args.key} (${queried} responses, ${errors} errors)`)
      return { valueHex: toHex(best.value), from: best.from.toString(), responses, queried, errors, elapsedMs: elapsed() }
    }
    case 'find-providers': {
      const cid = cidFromMultihashHex(args.keyHex)
      const max = Number.isInteger(args.max) && args.max > 0 ? args.max : 20
      const providers = new Map()
      for await (const event of dht.findProviders(cid, { signal })) {
        count(event)
        if (event.name === 'PROVIDER') {
          for (const p of event.providers) {
            if (!providers.has(p.id.toString())) providers.set(p.id.toString(), { ...peerInfoJson(p), from: event.from.toString() })
          }
          if (providers.size >= max) break
        }
      }
      return { providers: [...providers.values()].slice(0, max), queried, errors, elapsedMs: elapsed() }
    }
    default:
      throw new Error(`unknown lookup "${op}" (closest, find-peer, get, find-providers)`)
  }
}

function percentile (sorted, p) {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  return sorted[rank]
}

// ---- commands ------------------------------------------------------------------

const commands = {
  // -- base commands (as in peer.mjs) --
  async dial (args) {
    const conn = await node.dial(parseTarget(args), { signal: timeoutSignal(args, 15000) })
    return { peerId: conn.remotePeer.toString(), remoteAddr: conn.remoteAddr.toString(), direction: conn.direction }
  },

  async ping (args) {
    const rtt = await node.services.ping.ping(parseTarget(args), { signal: timeoutSignal(args, 15000) })
    return { rttMs: rtt }
  },

  async protocols () {
    return { protocols: node.getProtocols() }
  },

  async peers () {
    return { peers: node.getPeers().map(String) }
  },

  async connections () {
    return {
      connections: node.getConnections().map(c => ({
        peerId: c.remotePeer.toString(), remoteAddr: c.remoteAddr.toString(), direction: c.direction, status: c.status, streams: c.streams.length
      }))
    }
  },

  async hangup (args) {
    await node.hangUp(parseTarget(args), { signal: timeoutSignal(args, 10000) })
    return {}
  },

  async stop () {
    setImmediate(() => { shutdown(0).catch(() => {}) })
    return {}
  },

  // -- DHT --

  /** Dials every address and waits until each of those peers is in the DHT routing table. */
  async 'dht-bootstrap' (args) {
    if (!Array.isArray(args.addrs) || args.addrs.length === 0) throw new Error('"addrs" (array of multiaddrs with /p2p/) is required')
    const signal = timeoutSignal(args, 30000)
    const dialed = await Promise.allSettled(args.addrs.map(async (a) => {
      const conn = await node.dial(multiaddr(a), { signal })
      return conn.remotePeer
    }))
    const failed = dialed.flatMap((r, i) => r.status === 'rejected' ? [`${args.addrs[i]}: ${describeError(r.reason)}`] : [])
    const peers = dialed.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
    if (peers.length === 0) throw new Error(`could not dial any bootstrap address: ${failed.join('; ')}`)
    // Peers enter the table after identify shows the DHT protocol and a ping succeeds; a failed ping is not retried by
    // kad-dht, so a peer still missing is offered to the table again (joins any verification under way).
    // Poll (cheap, local) until all are in or the deadline passes.
    let nextOffer = Date.now() + 2000
    while (true) {
      const missing = []
      for (const p of peers) if (!(await inRoutingTable(p))) missing.push(p)
      if (missing.length === 0) break
      if (Date.now() >= nextOffer) {
        nextOffer = Date.now() + 2000
        for (const p of missing) dht.routingTable.add(p, { signal }).catch(() => {})
      }
      if (signal.aborted) {
        throw new Error(`bootstrap peers not in the routing table in time: ${missing.map(String).join(', ')}${failed.length > 0 ? `; dial failures: ${failed.join('; ')}` : ''}`)
      }
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    return { size: dht.routingTable.size, added: peers.map(String), failed }
  },

  async 'dht-routing-table' (args) {
    const result = { size: dht.routingTable.size }
    if (args.peers === true) result.peers = routingTablePeers()
    return result
  },

  /** PUT_VALUE: key is a utf8 string ("/parley-kv/<owner>/<name>"), value hex. */
  async 'dht-put' (args) {
    const key = utf8Key(args)
    const value = hexToBytes('valueHex', args.valueHex)
    const signal = timeoutSignal(args, 30000)
    const start = performance.now()
    const storedAt = []
    const errors = []
    for await (const event of dht.put(key, value, { signal })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE' &&
          event.record != null && Buffer.compare(Buffer.from(event.record.value), Buffer.from(value)) === 0) {
        storedAt.push(event.from.toString())
      } else if (event.name === 'QUERY_ERROR') {
        errors.push(`${event.from}: ${describeError(event.error)}`)
      }
    }
    return { stored: storedAt.length, storedAt, errors: errors.slice(0, 20), elapsedMs: round(performance.now() - start) }
  },

  /** GET_VALUE: the best value ({valueHex, from}) and every record a peer returned ({responses}). */
  async 'dht-get' (args) {
    return runLookup('get', args, timeoutSignal(args, 30000))
  },

  /** ADD_PROVIDER for a key given as multihash bytes (hex). */
  async 'dht-provide' (args) {
    const cid = cidFromMultihashHex(args.keyHex)
    const signal = timeoutSignal(args, 30000)
    const start = performance.now()
    const sentTo = []
    const errors = []
    for await (const event of dht.provide(cid, { signal })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') sentTo.push(event.from.toString())
      else if (event.name === 'QUERY_ERROR') errors.push(`${event.from}: ${describeError(event.error)}`)
    }
    return { sent: sentTo.length, sentTo, errors: errors.slice(0, 20), elapsedMs: round(performance.now() - start) }
  },

  async 'dht-find-providers' (args) {
    return runLookup('find-providers', args, timeoutSignal(args, 30000))
  },

  /** FIND_NODE lookup for a peer. The local peer store is skipped unless {"useCache": true}. */
  async 'dht-find-peer' (args) {
    return runLookup('find-peer', args, timeoutSignal(args, 30000))
  },

  /** getClosestPeers(keyHex): the k closest peers that answered. */
  async 'dht-closest' (args) {
    return runLookup('closest', args, timeoutSignal(args, 30000))
  },

  /**
   * Lookup latency benchmark: runs `op` ("closest" | "find-peer" | "get" | "find-providers") once per
   * target, `concurrency` at a time (default 1), and reports each latency and the median/p90/p99.
   * Targets: {"keysHex": [...]} for closest/find-providers, {"peerIds": [...]} for find-peer,
   * {"keys": [...]} (utf8) for get. A failed lookup counts in `failed` and not in the latencies.
   */
  async 'dht-bench' (args) {
    const op = args.op ?? 'closest'
    const targets = op === 'find-peer'
      ? (args.peerIds ?? []).map(peerId => ({ peerId }))
      : op === 'get'
        ? (args.keys ?? []).map(key => ({ key }))
        : (args.keysHex ?? []).map(keyHex => ({ keyHex, max: args.max ?? 1 }))
    if (targets.length === 0) throw new Error('no targets: pass keysHex (closest, find-providers), peerIds (find-peer) or keys (get)')
    const concurrency = Number.isInteger(args.concurrency) && args.concurrency > 0 ? args.concurrency : 1
    const perLookupMs = typeof args.lookupTimeoutMs === 'number' && args.lookupTimeoutMs > 0 ? args.lookupTimeoutMs : 30000
    const latencies = new Array(targets.length).fill(null)
    const failures = []
    let next = 0
    const start = performance.now()
    const worker = async () => {
      while (next < targets.length) {
        const i = next++
        const signal = AbortSignal.timeout(perLookupMs)
        setMaxListeners(Infinity, signal)
        const t0 = performance.now()
        try {
          const r = await runLookup(op, targets[i], signal)
          if (op === 'find-providers' && r.providers.length === 0) throw new Error('no providers found')
          latencies[i] = round(performance.now() - t0)
        } catch (err) {
          failures.push({ index: i, error: describeError(err) })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker))
    const ok = latencies.filter(x => x != null)
    const sorted = [...ok].sort((a, b) => a - b)
    return {
      op,
      count: targets.length,
      succeeded: ok.length,
      failed: failures.length,
      failures: failures.slice(0, 20),
      latenciesMs: latencies,
      medianMs: percentile(sorted, 0.5),
      p90Ms: percentile(sorted, 0.9),
      p99Ms: percentile(sorted, 0.99),
      meanMs: ok.length > 0 ? round(ok.reduce((a, b) => a + b, 0) / ok.length) : null,
      totalMs: round(performance.now() - start)
    }
  }
}

let stopping = false
async function shutdown (code) {
  if (stopping) return
  stopping = true
  const hardExit = setTimeout(() => {
    log('node.stop() did not finish within 5s, exiting')
    process.exit(code)
  }, 5000)
  hardExit.unref()
  try {
    await node.stop()
  } catch (err) {
    log('error while stopping:', describeError(err))
  }
  process.stdout.write('', () => process.exit(code))
}

async function runCommand (line) {
  let msg
  try {
    msg = JSON.parse(line)
  } catch (err) {
    emit({ id: null, ok: false, error: `invalid JSON: ${describeError(err)}` })
    return
  }
  const id = msg?.id ?? null
  const handler = typeof msg?.cmd === 'string' && Object.hasOwn(commands, msg.cmd) ? commands[msg.cmd] : undefined
  if (handler == null) {
    emit({ id, ok: false, error: `unknown command: ${JSON.stringify(msg?.cmd)}` })
    return
  }
  try {
    const result = await handler(msg)
    emit({ id, ok: true, ...result })
  } catch (err) {
    log(`command ${msg.cmd} (id ${id}) failed:`, err?.stack ?? String(err))
    emit({ id, ok: false, error: describeError(err) })
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (line.trim().length === 0) return
  runCommand(line).catch(err => log('command dispatch failed:', describeError(err)))
})
rl.on('close', () => {
  log('stdin closed, stopping')
  shutdown(0).catch(() => {})
})
process.on('SIGTERM', () => { shutdown(0).catch(() => {}) })
process.on('SIGINT', () => { shutdown(0).catch(() => {}) })

started = true
emit({
  event: 'listening',
  peerId: node.peerId.toString(),
  addrs: node.getMultiaddrs().map(String),
  agentVersion: agent,
  dhtProtocol,
  dhtMode: dht.getMode(),
  k: dht.k,
  alpha: dht.a,
  disjointPaths: dht.d
})
log(`started ${node.peerId} (${dhtProtocol}, ${dht.getMode()} mode) listening on ${node.getMultiaddrs().map(String).join(' ')}`)
