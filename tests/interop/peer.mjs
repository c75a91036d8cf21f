// Long-running js-libp2p peer controlled over stdin/stdout with JSON lines.
// See README.md for the protocol. stdout carries ONLY protocol lines; all logs go to stderr.

import './polyfill.mjs'
import { createHash, randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

const {
  ECHO_PROTOCOL, STREAM_LIMITS, createNode, describeError, forEachBuffer,
  parseTarget, peerIdFromString, privateKeyFromHex, sendAll
} = await import('./node.mjs')

const { values: argv } = parseArgs({
  options: {
    listen: { type: 'string', multiple: true },
    agent: { type: 'string' },
    key: { type: 'string' },
    // Circuit relay v2 client and DCUtR (@libp2p/dcutr); a --listen address ending in /p2p-circuit reserves a slot
    // on that relay, and "listening" waits until the reservation holds.
    'hole-punch': { type: 'boolean' },
    // Addresses announced as they are: js-libp2p otherwise holds back a public listen address until AutoNAT confirms it.
    announce: { type: 'string', multiple: true }
  }
})

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function log (...args) {
  process.stderr.write(`[peer ${new Date().toISOString()}] ${args.join(' ')}\n`)
}

// Once running, stray errors are reported (event "uncaught") but do not kill the node;
// errors during startup (bad --key, listen failure, ...) exit with code 1.
let started = false
function onUncaught (kind, err) {
  log(`${kind}:`, err?.stack ?? String(err))
  emit({ event: started ? 'uncaught' : 'fatal', error: describeError(err) })
  if (!started) process.exit(1)
}
process.on('unhandledRejection', (err) => onUncaught('unhandledRejection', err))
process.on('uncaughtException', (err) => onUncaught('uncaughtException', err))

const holePunch = argv['hole-punch'] === true
const extras = { services: {}, transports: [] }
if (holePunch) {
  const { circuitRelayTransport } = await import('@libp2p/circuit-relay-v2')
  const { dcutr } = await import('@libp2p/dcutr')
  extras.transports.push(circuitRelayTransport())
  extras.services.dcutr = dcutr()
}

const node = await createNode({
  listen: argv.listen ?? ['/ip4/127.0.0.1/tcp/0'],
  agent: argv.agent ?? 'js-parley-interop/1.0',
  privateKey: argv.key != null ? privateKeyFromHex(argv.key) : undefined,
  appendAnnounce: argv.announce ?? [],
  ...extras
})

if (holePunch && (argv.listen ?? []).some(a => a.endsWith('/p2p-circuit'))) {
  const deadline = Date.now() + 30000
  while (!node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))) {
    if (Date.now() > deadline) throw new Error('no relay reservation within 30 s')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

// ---- identify tracking ------------------------------------------------------

/** peerId string -> latest identify result (JSON shape) */
const identified = new Map()
/** peerId string -> Set of resolve callbacks */
const identifyWaiters = new Map()

function identifyToJson (result) {
  return {
    peerId: result.peerId.toString(),
    protocols: [...result.protocols],
    agentVersion: result.agentVersion ?? null,
    protocolVersion: result.protocolVersion ?? null,
    listenAddrs: result.listenAddrs.map(String),
    observedAddr: result.observedAddr?.toString() ?? null
  }
}

node.addEventListener('peer:identify', (evt) => {
  const info = identifyToJson(evt.detail)
  identified.set(info.peerId, info)
  emit({ event: 'identify', ...info })
  const waiters = identifyWaiters.get(info.peerId)
  if (waiters != null) {
    identifyWaiters.delete(info.peerId)
    for (const resolve of waiters) resolve(info)
  }
})

function connectionJson (conn) {
  return {
    peerId: conn.remotePeer.toString(),
    remoteAddr: conn.remoteAddr.toString(),
    direction: conn.direction,
    limited: conn.limits != null,
    encryption: conn.encryption ?? null,
    multiplexer: conn.multiplexer ?? null
  }
}

node.addEventListener('connection:open', (evt) => {
  emit({ event: 'connection:open', ...connectionJson(evt.detail) })
})
node.addEventListener('connection:close', (evt) => {
  emit({ event: 'connection:close', ...connectionJson(evt.detail) })
})

// ---- echo protocol ----------------------------------------------------------

await node.handle(ECHO_PROTOCOL, async (stream, connection) => {
  let bytes = 0
  let remoteClosed = false
  // Diagnostic: js async iteration ends on 'remoteCloseWrite'. If a peer sends a
  // yamux DATA frame carrying FIN *and* payload, yamux processes FIN first, so
  // that payload is dropped by the iterator. Detect and report it.
  stream.addEventListener('remoteCloseWrite', () => { remoteClosed = true })
  stream.addEventListener('message', (evt) => {
    if (remoteClosed) {
      log(`WARNING: ${evt.data.byteLength} bytes arrived after remote FIN on echo stream ${stream.id} from ${connection.remotePeer} (FIN sent on a DATA frame with payload?) - js async iteration drops them`)
      emit({ event: 'warning', peerId: connection.remotePeer.toString(), message: `echo stream got ${evt.data.byteLength} bytes in/after the FIN frame; js-libp2p iterators drop such bytes` })
    }
  })
  try {
    for await (const chunk of stream) {
      bytes += chunk.byteLength
      if (!stream.send(chunk)) {
        await stream.onDrain()
      }
    }
    await stream.close()
    emit({ event: 'echo:inbound', peerId: connection.remotePeer.toString(), bytes, ok: true })
  } catch (err) {
    log(`echo stream ${stream.id} from ${connection.remotePeer} failed after ${bytes} bytes: ${describeError(err)}`)
    emit({ event: 'echo:inbound', peerId: connection.remotePeer.toString(), bytes, ok: false, error: describeError(err) })
    stream.abort(err)
  }
}, STREAM_LIMITS)

// ---- commands ---------------------------------------------------------------

function timeoutSignal (args, defaultMs) {
  const ms = typeof args.timeoutMs === 'number' && args.timeoutMs > 0 ? args.timeoutMs : defaultMs
  const signal = AbortSignal.timeout(ms)
  setMaxListeners(Infinity, signal)
  return signal
}

async function echoOne (connection, protocol, index, size, signal) {
  const payload = randomBytes(size)
  const expected = createHash('sha256').update(payload).digest('hex')
  let stage = 'open'
  let stream
  try {
    stream = await connection.newStream(protocol, { signal, ...STREAM_LIMITS })
    stage = 'write/read'
    const writer = (async () => {
      await sendAll(stream, payload, { signal })
      await stream.close({ signal })
    })()
    const reader = (async () => {
      const hash = createHash('sha256')
      let received = 0
      for await (const chunk of stream) {
        received += chunk.byteLength
        forEachBuffer(chunk, (b) => hash.update(b))
      }
      return { received, digest: hash.digest('hex') }
    })()
    // surface the first failure of either side, but wait for both
    const [w, r] = await Promise.allSettled([writer, reader])
    if (w.status === 'rejected') { stage = 'write'; throw w.reason }
    if (r.status === 'rejected') { stage = 'read'; throw r.reason }
    const { received, digest } = r.value
    if (received !== size) {
      throw new Error(`echoed ${received} bytes, expected ${size}`)
    }
    if (digest !== expected) {
      throw new Error(`echoed bytes differ (sha256 ${digest} != ${expected})`)
    }
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    const e = new Error(`stream ${index} failed during ${stage}: ${describeError(err)}`)
    e.stream = index
    throw e
  }
}

const commands = {
  async dial (args) {
    const conn = await node.dial(parseTarget(args), { signal: timeoutSignal(args, 15000) })
    return connectionJson(conn)
  },

  async ping (args) {
    const rtt = await node.services.ping.ping(parseTarget(args), { signal: timeoutSignal(args, 15000) })
    return { rttMs: rtt }
  },

  async identify (args) {
    if (typeof args.peerId !== 'string') throw new Error('"peerId" is required')
    const peerId = peerIdFromString(args.peerId)
    const key = peerId.toString()
    const timeoutMs = typeof args.timeoutMs === 'number' ? args.timeoutMs : 5000
    if (args.force === true) {
      // actively run identify on an existing connection (emits peer:identify)
      const conn = node.getConnections(peerId)[0]
      if (conn == null) throw new Error(`not connected to ${key}`)
      const result = await node.services.identify.identify(conn, { signal: AbortSignal.timeout(timeoutMs) })
      return identifyToJson(result)
    }
    const seen = identified.get(key)
    if (seen != null) return seen
    const waited = await new Promise((resolve) => {
      let set = identifyWaiters.get(key)
      if (set == null) { set = new Set(); identifyWaiters.set(key, set) }
      const onIdentify = (info) => { clearTimeout(timer); resolve(info) }
      const timer = setTimeout(() => { set.delete(onIdentify); resolve(null) }, timeoutMs)
      set.add(onIdentify)
    })
    if (waited != null) return waited
    // fall back to the peer store (e.g. identify ran before we were asked, via push)
    try {
      const peer = await node.peerStore.get(peerId)
      const agent = peer.metadata.get('AgentVersion')
      if (peer.protocols.length > 0 && agent != null) {
        return {
          peerId: key,
          protocols: [...peer.protocols],
          agentVersion: new TextDecoder().decode(agent),
          protocolVersion: null,
          listenAddrs: peer.addresses.map(a => a.multiaddr.toString()),
          observedAddr: null,
          source: 'peerStore'
        }
      }
    } catch (err) {
      if (err.name !== 'NotFoundError') throw err
    }
    throw new Error(`no identify result for ${key} within ${timeoutMs} ms`)
  },

  async echo (args) {
    const protocol = args.protocol ?? ECHO_PROTOCOL
    const streams = args.streams ?? 1
    const bytes = args.bytes ?? 1024
    if (!Number.isInteger(streams) || streams < 1) throw new Error('"streams" must be a positive integer')
    if (!Number.isInteger(bytes) || bytes < 0) throw new Error('"bytes" must be a non-negative integer')
    const signal = timeoutSignal(args, 120000)
    const connection = await node.dial(parseTarget(args), { signal })
    const start = performance.now()
    const results = await Promise.allSettled(
      Array.from({ length: streams }, (_, i) => echoOne(connection, protocol, i, bytes, signal))
    )
    const elapsedMs = performance.now() - start
    const failures = results.filter(r => r.status === 'rejected').map(r => r.reason)
    if (failures.length > 0) {
      const first = failures.sort((a, b) => (a.stream ?? 0) - (b.stream ?? 0))[0]
      throw new Error(`${failures.length}/${streams} echo streams failed; first: ${first.message}`)
    }
    return { streams, bytes, elapsedMs: Math.round(elapsedMs * 1000) / 1000 }
  },

  async protocols () {
    return { protocols: node.getProtocols() }
  },

  async peers () {
    return { peers: node.getPeers().map(String) }
  },

  async connections () {
    return { connections: node.getConnections().map(c => ({ ...connectionJson(c), status: c.status, streams: c.streams.length })) }
  },

  async hangup (args) {
    await node.hangUp(parseTarget(args), { signal: timeoutSignal(args, 10000) })
    return {}
  },

  async stop () {
    setImmediate(() => { shutdown(0).catch(() => {}) })
    return {}
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
  // do not await: commands run concurrently
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
  agentVersion: argv.agent ?? 'js-parley-interop/1.0'
})
log(`started ${node.peerId} listening on ${node.getMultiaddrs().map(String).join(' ')}`)
