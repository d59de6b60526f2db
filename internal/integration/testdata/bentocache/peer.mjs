// A BentoCache process for bento's interoperability test
// (internal/integration/bentocache_test.go): one store, "shared", with a
// memory L1, a Redis L2 and a Redis bus, driven over stdin and stdout.
//
// Each line of stdin is one JSON request, answered by one JSON line on
// stdout, in order:
//
//   {"id": 1, "op": "set", "ns": "users", "key": "k", "value": "v", "ttl": 600000}
//   {"id": 1, "ok": true}
//
// Ops (ns "" is the root, ttl and grace are milliseconds, both optional):
//
//   set       {ns, key, value, ttl, grace, skipBus}
//   get       {ns, key} → {found, value, layer, graced, staleAt, createdAt}
//   getOrSet  {ns, key, value} → {value, layer, graced}: value is what the
//             factory returns; with a stale entry the factory runs in the
//             background (BentoCache's soft timeout is 0 by default)
//   delete    {ns, key}
//   expire    {ns, key}
//   clear     {ns}: the namespace, or the root and every namespace for ""
//   quit      disconnects and exits
//
// A failed request answers {"id", "ok": false, "error"}. Before the first
// request, the process prints {"ready": true} once its bus subscription is
// live, so that no message of the test can reach it before it listens.
//
// Environment: BENTO_REDIS_ADDR (host:port, default 127.0.0.1:6379) and
// BENTO_PREFIX (the store's prefix, default "bentocache").

import diagnostics_channel from 'node:diagnostics_channel'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'

import { Redis } from 'ioredis'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'

const addr = /^\[?([^\]]*?)\]?:(\d+)$/.exec(process.env.BENTO_REDIS_ADDR || '127.0.0.1:6379')
if (!addr) throw new Error(`BENTO_REDIS_ADDR=${process.env.BENTO_REDIS_ADDR}: want host:port`)
const redis = { host: addr[1], port: Number(addr[2]) }
const prefix = process.env.BENTO_PREFIX || 'bentocache'
// The bus connections carry this name, so that CLIENT LIST can tell when the
// subscription is live (BentoCache subscribes without waiting).
const busName = `bento-peer-${randomBytes(6).toString('hex')}`

// The root L1 driver, kept to read the entries BentoCache holds (their
// logicalExpiration and createdAt) after a get.
let l1
const memory = memoryDriver({})
const makeL1 = memory.factory
memory.factory = (config) => (l1 = makeL1(config))

const l2Connection = new Redis(redis)
const bento = new BentoCache({
  default: 'shared',
  prefix,
  ttl: '1h',
  grace: '1h',
  stores: {
    shared: bentostore()
      .useL1Layer(memory)
      .useL2Layer(redisDriver({ connection: l2Connection }))
      .useBus(redisBusDriver({ connection: { ...redis, connectionName: busName } })),
  },
})
const root = bento.use('shared')

// Where a read was served from. The cache:hit event of get says "l1" for an
// L2 hit and "l2" for a stale L1 hit in 1.6.1; the tracing channel's context
// (message.tier, message.graced) is right, so reads are reported from it.
// Requests run one at a time, so the last get or getOrSet is the request's.
let lastRead
diagnostics_channel.tracingChannel('bentocache.cache.operation').subscribe({
  start() {},
  end() {},
  asyncStart() {},
  error() {},
  asyncEnd(message) {
    if (message.operation === 'get' || message.operation === 'getOrSet') lastRead = message
  },
})

function cache(ns) {
  return ns ? root.namespace(ns) : root
}

// entryOf returns what BentoCache's L1 holds for ns and key, decoded.
function entryOf(ns, key) {
  const raw = (ns ? l1.namespace(ns) : l1).get(key)
  return raw === undefined ? undefined : JSON.parse(raw)
}

function readReport(ns, key) {
  const entry = entryOf(ns, key)
  return {
    found: lastRead?.hit === true,
    layer: lastRead?.hit ? lastRead.tier : undefined,
    graced: lastRead?.graced === true,
    staleAt: entry?.logicalExpiration,
    createdAt: entry?.createdAt,
  }
}

const ops = {
  async set({ ns, key, value, ttl, grace, tags, skipBus }) {
    await cache(ns).set({ key, value, ttl, grace, tags, skipBusNotify: skipBus })
    return {}
  },
  async deleteByTag({ ns, tags }) {
    await cache(ns).deleteByTag({ tags })
    return {}
  },
  async get({ ns, key }) {
    lastRead = undefined
    const value = await cache(ns).get({ key })
    return { value, ...readReport(ns, key) }
  },
  async getOrSet({ ns, key, value }) {
    lastRead = undefined
    const got = await cache(ns).getOrSet({ key, factory: () => value })
    return { value: got, layer: lastRead?.tier, graced: lastRead?.graced === true }
  },
  async delete({ ns, key }) {
    await cache(ns).delete({ key })
    return {}
  },
  async expire({ ns, key }) {
    await cache(ns).expire({ key })
    return {}
  },
  async clear({ ns }) {
    await cache(ns).clear()
    return {}
  },
}

// waitForBus returns once both bus connections are up and one of them has
// subscribed.
async function waitForBus() {
  const admin = new Redis(redis)
  try {
    for (;;) {
      const clients = (await admin.client('LIST')).split('\n').filter((l) => l.includes(` name=${busName} `))
      if (clients.some((l) => / sub=[1-9]/.test(l))) return
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  } finally {
    admin.disconnect()
  }
}

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

await waitForBus()
reply({ ready: true })
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue
  const req = JSON.parse(line)
  if (req.op === 'quit') break
  try {
    const op = ops[req.op]
    if (!op) throw new Error(`unknown op ${JSON.stringify(req.op)}`)
    reply({ id: req.id, ok: true, ...(await op(req)) })
  } catch (err) {
    reply({ id: req.id, ok: false, error: String(err?.stack ?? err) })
  }
}
await bento.disconnectAll()
l2Connection.disconnect()
