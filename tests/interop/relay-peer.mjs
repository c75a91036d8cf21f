// A js-libp2p circuit relay v2 server (@libp2p/circuit-relay-v2) for the Parley interop tests: Parley nodes reserve
// slots on it and reach each other through it. JSON lines on stdout like peer.mjs: a "listening" event, then answers
// to {"cmd":"stats"} and {"cmd":"stop"}. Logs go to stderr.

import './polyfill.mjs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'

const { circuitRelayServer } = await import('@libp2p/circuit-relay-v2')
const { createNode, describeError } = await import('./node.mjs')

const { values: argv } = parseArgs({
  options: {
    listen: { type: 'string', multiple: true },
    agent: { type: 'string' }
  }
})

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function log (...args) {
  process.stderr.write(`[relay ${new Date().toISOString()}] ${args.join(' ')}\n`)
}

const agent = argv.agent ?? 'js-parley-relay/1.0'
const node = await createNode({
  listen: argv.listen ?? ['/ip4/127.0.0.1/tcp/0'],
  agent,
  services: { relay: circuitRelayServer() }
})

let stopping = false
async function shutdown (code) {
  if (stopping) return
  stopping = true
  setTimeout(() => process.exit(code), 5000).unref()
  try {
    await node.stop()
  } catch (err) {
    log('error while stopping:', describeError(err))
  }
  process.stdout.write('', () => process.exit(code))
}

const commands = {
  async stats () {
    return { reservations: node.services.relay.reservations.size }
  },
  async stop () {
    setTimeout(() => { shutdown(0).catch(() => {}) }, 10)
    return {}
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', async (line) => {
  if (line.trim().length === 0) return
  let msg
  try {
    msg = JSON.parse(line)
  } catch (err) {
    emit({ id: null, ok: false, error: `invalid JSON: ${describeError(err)}` })
    return
  }
  const handler = typeof msg?.cmd === 'string' && Object.hasOwn(commands, msg.cmd) ? commands[msg.cmd] : undefined
  if (handler == null) {
    emit({ id: msg?.id ?? null, ok: false, error: `unknown command: ${JSON.stringify(msg?.cmd)}` })
    return
  }
  try {
    emit({ id: msg.id ?? null, ok: true, ...(await handler(msg)) })
  } catch (err) {
    emit({ id: msg.id ?? null, ok: false, error: describeError(err) })
  }
})
rl.on('close', () => { shutdown(0).catch(() => {}) })
process.on('SIGTERM', () => { shutdown(0).catch(() => {}) })

emit({ event: 'listening', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), agentVersion: agent })
log(`relay ${node.peerId} listening on ${node.getMultiaddrs().map(String).join(' ')}`)
