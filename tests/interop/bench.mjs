// js-libp2p reference numbers (tcp + noise + yamux) for the Parley benchmark tool.
//
//   node bench.mjs throughput --bytes 268435456 [--chunk 65536]
//   node bench.mjs handshakes --count 200 [--addr <multiaddr with /p2p>]
//   node bench.mjs serve [--listen <multiaddr>]
//   node bench.mjs send --addr <multiaddr with /p2p> --bytes N [--chunk 65536]
//
// Results are single JSON lines on stdout; logs go to stderr. MB = 10^6 bytes.

import './polyfill.mjs'
import { randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { parseArgs } from 'node:util'

const {
  SINK_PROTOCOL, STREAM_LIMITS, createNode, describeError, multiaddr, sendAll
} = await import('./node.mjs')

const [mode, ...rest] = process.argv.slice(2)
const { values: opts } = parseArgs({
  args: rest,
  options: {
    bytes: { type: 'string', default: String(256 * 1024 * 1024) },
    count: { type: 'string', default: '200' },
    chunk: { type: 'string', default: '65536' },
    addr: { type: 'string' },
    listen: { type: 'string', multiple: true },
    agent: { type: 'string', default: 'js-parley-bench/1.0' }
  }
})

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function log (...args) {
  process.stderr.write(`[bench] ${args.join(' ')}\n`)
}

function positiveInt (name, value) {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${value}`)
  return n
}

const round = (x, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits

function throughputResult (bytes, seconds) {
  return {
    throughputMBps: round(bytes / 1e6 / seconds),
    throughputMiBps: round(bytes / 1048576 / seconds),
    bytes,
    seconds: round(seconds, 6)
  }
}

/** Registers the sink protocol: counts bytes until the remote closes, then closes our side. */
async function handleSink (node, onDone) {
  await node.handle(SINK_PROTOCOL, async (stream, connection) => {
    const start = performance.now()
    let bytes = 0
    try {
      for await (const chunk of stream) {
        bytes += chunk.byteLength
      }
      // report before closing: the sender stops its clock when it sees our close
      onDone?.({ peerId: connection.remotePeer.toString(), bytes, seconds: (performance.now() - start) / 1000 })
      await stream.close()
    } catch (err) {
      log(`sink stream from ${connection.remotePeer} failed after ${bytes} bytes: ${describeError(err)}`)
      stream.abort(err)
      onDone?.({ peerId: connection.remotePeer.toString(), bytes, error: describeError(err) })
    }
  }, STREAM_LIMITS)
}

/**
 * Opens one sink stream on `connection`, pushes `total` bytes, half-closes and
 * waits until the receiver has closed its side (i.e. it has read everything).
 */
async function pushBytes (connection, total, chunkSize) {
  const block = randomBytes(Math.max(chunkSize, 1) * 16)
  const stream = await connection.newStream(SINK_PROTOCOL, STREAM_LIMITS)
  const start = performance.now()
  const drained = (async () => { for await (const _ of stream) { /* sink sends nothing */ } })()
  let sent = 0
  while (sent < total) {
    const off = sent % block.byteLength
    const n = Math.min(chunkSize, total - sent, block.byteLength - off)
    if (!stream.send(block.subarray(off, off + n))) {
      await stream.onDrain()
    }
    sent += n
  }
  await stream.close()
  await drained
  return (performance.now() - start) / 1000
}

async function throughput () {
  const total = positiveInt('bytes', opts.bytes)
  const chunk = positiveInt('chunk', opts.chunk)
  const receiver = await createNode({ agent: opts.agent })
  const sender = await createNode({ agent: opts.agent })
  try {
    let received = -1
    await handleSink(receiver, (r) => { received = r.bytes })
    const conn = await sender.dial(receiver.getMultiaddrs()[0])
    const seconds = await pushBytes(conn, total, chunk)
    if (received !== total) throw new Error(`receiver counted ${received} bytes, expected ${total}`)
    emit(throughputResult(total, seconds))
  } finally {
    await sender.stop()
    await receiver.stop()
  }
}

async function handshakes () {
  const count = positiveInt('count', opts.count)
  const dialer = await createNode({ agent: opts.agent })
  const listener = opts.addr == null ? await createNode({ agent: opts.agent }) : undefined
  const target = opts.addr != null ? multiaddr(opts.addr) : listener.getMultiaddrs()[0]
  // identify results arrive as 'peer:identify' events; key them by connection id
  const identified = new Map()
  dialer.addEventListener('peer:identify', (evt) => {
    const id = evt.detail.connection.id
    const waiter = identified.get(id)
    if (typeof waiter === 'function') waiter()
    else identified.set(id, true)
  })
  const waitIdentify = (conn, signal) => new Promise((resolve, reject) => {
    if (identified.get(conn.id) === true) { identified.delete(conn.id); resolve(); return }
    identified.set(conn.id, () => { identified.delete(conn.id); resolve() })
    signal.addEventListener('abort', () => { identified.delete(conn.id); reject(new Error(`identify did not complete on connection ${conn.id}`)) }, { once: true })
  })
  try {
    const start = performance.now()
    for (let i = 0; i < count; i++) {
      const signal = AbortSignal.timeout(10000)
      setMaxListeners(Infinity, signal)
      const conn = await dialer.dial(target, { force: true, signal })
      await waitIdentify(conn, signal)
      await conn.close()
    }
    const seconds = (performance.now() - start) / 1000
    emit({ handshakesPerSecond: round(count / seconds), count, seconds: round(seconds, 6) })
  } finally {
    await dialer.stop()
    await listener?.stop()
  }
}

async function serve () {
  const node = await createNode({ listen: opts.listen ?? ['/ip4/127.0.0.1/tcp/0'], agent: opts.agent })
  await handleSink(node, (r) => {
    if (r.error != null) emit({ event: 'sink', ok: false, ...r })
    else emit({ event: 'sink', ok: true, peerId: r.peerId, ...throughputResult(r.bytes, r.seconds) })
  })
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    await node.stop().catch(err => log('stop failed:', describeError(err)))
    process.exit(0)
  }
  process.stdin.on('end', stop)
  process.stdin.on('close', stop)
  process.stdin.resume()
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  emit({ event: 'listening', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), agentVersion: opts.agent })
}

async function send () {
  if (opts.addr == null) throw new Error('send requires --addr <multiaddr with /p2p>')
  const total = positiveInt('bytes', opts.bytes)
  const chunk = positiveInt('chunk', opts.chunk)
  const node = await createNode({ agent: opts.agent })
  try {
    const conn = await node.dial(multiaddr(opts.addr))
    const seconds = await pushBytes(conn, total, chunk)
    emit(throughputResult(total, seconds))
  } finally {
    await node.stop()
  }
}

const modes = { throughput, handshakes, serve, send }
if (!Object.hasOwn(modes, mode ?? '')) {
  process.stderr.write('usage: node bench.mjs throughput|handshakes|serve|send [options] (see header of bench.mjs)\n')
  process.exit(2)
}
try {
  await modes[mode]()
} catch (err) {
  log(`${mode} failed:`, err?.stack ?? String(err))
  emit({ ok: false, error: describeError(err) })
  process.exit(1)
}
