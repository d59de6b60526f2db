// BentoCache's own benchmark workloads, run on BentoCache itself, so that
// bento (the Go port) can be compared with the system it ports. The Go mirror
// is BenchmarkBentoCacheWorkloads in ../nodeworkloads_test.go; keep the two in
// step. See README.md for what each workload measures and why.
//
// Output is in Go benchmark format (golang.org/x/perf/benchfmt).
//
// Environment:
//   BENTO_REDIS_ADDR  host:port of Redis (default 127.0.0.1:6379)
//   BENCH_TIME        time per workload, a Go duration ("200ms", "1s") or an
//                     op count ("500x"); default 1s
//   BENCH_COUNT       runs of each workload (default 1)
//   BENCH_ONCE=1      a handful of ops per workload, for CI
//   BENCH_FILTER      a go test -bench pattern; default "." (every workload)

import os from 'node:os'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'

import { Redis } from 'ioredis'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisDriver } from 'bentocache/drivers/redis'

const BENCH_NAME = 'BenchmarkBentoCacheJS'
const ONCE_OPS = 5
const MAX_WARMUP_NS = 250_000_000
// Each timed batch aims at this length, so the clock is read rarely.
const BATCH_NS = 10_000_000
// Cleaning up scans the whole Redis keyspace, which takes a while on a big
// database; past this, Redis is taken for hung.
const CLEANUP_TIMEOUT_MS = 120_000

// ---------------------------------------------------------------- settings

const UNIT_NS = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }

// parseBenchTime reads a Go duration ("1s", "1m30s", "250ms") or an op count
// ("100x"), as go test -benchtime does.
function parseBenchTime(text) {
  const count = /^(\d+)x$/.exec(text)
  if (count) {
    const n = Number(count[1])
    if (n < 1) throw new Error(`BENCH_TIME=${text}: the op count must be at least 1`)
    return { ops: n }
  }
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y
  let ns = 0
  let pos = 0
  while (pos < text.length) {
    re.lastIndex = pos
    const m = re.exec(text)
    if (!m) break
    ns += Number(m[1]) * UNIT_NS[m[2]]
    pos = re.lastIndex
  }
  if (text === '' || pos !== text.length || !(ns > 0)) {
    throw new Error(`BENCH_TIME=${text}: want a positive duration such as 200ms or 1s, or an op count such as 100x`)
  }
  return { ns: Math.round(ns) }
}

function parseCount(text) {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new Error(`BENCH_COUNT=${text}: want a positive integer`)
  }
  return Number(text)
}

function parseFilter(text) {
  try {
    return splitPattern(text)
  } catch (err) {
    throw new Error(`BENCH_FILTER=${text}: ${err.message}`)
  }
}

function parseAddr(text) {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text)
  if (!m || m[1] === '') throw new Error(`BENTO_REDIS_ADDR=${text}: want host:port`)
  return { host: m[1], port: Number(m[2]) }
}

function settings(env) {
  const once = env.BENCH_ONCE === '1'
  return {
    redis: parseAddr(env.BENTO_REDIS_ADDR || '127.0.0.1:6379'),
    // BENCH_ONCE wins over BENCH_TIME: CI wants seconds, whatever else is set.
    benchTime: once ? { ops: ONCE_OPS } : parseBenchTime(env.BENCH_TIME || '1s'),
    warmup: once ? { ops: 1 } : null,
    count: parseCount(env.BENCH_COUNT || '1'),
    filter: parseFilter(env.BENCH_FILTER || '.'),
  }
}

// ------------------------------------------------------------------ output

function bentocacheVersion() {
  const url = new URL('./node_modules/bentocache/package.json', import.meta.url)
  return JSON.parse(readFileSync(url, 'utf8')).version
}

const GOOS = { win32: 'windows', sunos: 'solaris' }
const GOARCH = { x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64' }

function printConfig() {
  const cpus = os.cpus()
  const lines = [
    `goos: ${GOOS[process.platform] ?? process.platform}`,
    `goarch: ${GOARCH[process.arch] ?? process.arch}`,
    'pkg: bentocache-node',
    `node: ${process.version}`,
    `bentocache: ${bentocacheVersion()}`,
  ]
  if (cpus.length > 0 && cpus[0].model.trim() !== '') lines.push(`cpu: ${cpus[0].model.trim()}`)
  process.stdout.write(lines.join('\n') + '\n')
}

// formatNsPerOp prints ns/op as the testing package does.
function formatNsPerOp(x) {
  if (x === 0 || x >= 99.995) return x.toFixed(0).padStart(10)
  if (x >= 9.9995) return x.toFixed(1).padStart(12)
  if (x >= 0.99995) return x.toFixed(2).padStart(13)
  return x.toFixed(3).padStart(14)
}

function printResult(label, ops, ns) {
  const name = `${BENCH_NAME}/workload=${label}`
  process.stdout.write(`${name}\t${String(ops).padStart(8)}\t${formatNsPerOp(ns / ops)} ns/op\n`)
}

// ----------------------------------------------------------------- measure

// run calls op one after another, each awaited before the next starts (as
// BentoCache's benchmarks do), for limit.ops calls or until limit.ns have
// passed. Calls are timed in batches, so the clock costs nothing per call.
async function run(op, limit) {
  if (limit.ops !== undefined) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < limit.ops; i++) await op()
    return { ops: limit.ops, ns: Number(process.hrtime.bigint() - start) }
  }
  let ops = 0
  let ns = 0
  let batch = 1
  while (ns < limit.ns) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) await op()
    ns += Number(process.hrtime.bigint() - start)
    ops += batch
    const perOp = ns / ops
    const target = Math.min(BATCH_NS, limit.ns - ns)
    batch = Math.max(1, Math.min(batch * 10, Math.floor(target / perOp)))
  }
  return { ops, ns }
}

// --------------------------------------------------------------- workloads

// The value every workload caches: bench/value.go's NewUser(1).
function newUser(id) {
  return { id, name: 'Ada Lovelace', email: 'ada@example.com' }
}

function checkUser(v, id) {
  if (v === null || typeof v !== 'object' || v.id !== id || v.name !== 'Ada Lovelace' || v.email !== 'ada@example.com') {
    throw new Error(`got ${JSON.stringify(v)}, want ${JSON.stringify(newUser(id))}`)
  }
}

// The keys of BentoCache's all.ts.
const GET_OR_SET_KEY = 'bento:key'
const GET_KEY = 'bento:foo'
const SET_KEY = 'key'
// all.ts gives every getOrSet a TTL of 100 (milliseconds). Its factory
// sleeps 400 ms to play a database; this one returns at once (see README.md).
const GET_OR_SET_TTL = 100

// workloads returns BentoCache's five workloads (benchmarks/all.ts in the
// BentoCache repository) on the given stores, in the order of the report
// page (all.ts runs the getOrSets first).
function workloads(stores) {
  const factory = () => newUser(1)
  const getOrSet = (cache) => async () => {
    checkUser(await cache.getOrSet({ key: GET_OR_SET_KEY, factory, ttl: GET_OR_SET_TTL }), 1)
  }
  return [
    // "Tiered Get", memory L1 + Redis L2. all.ts reads bento:foo and sets it
    // when the read finds nothing, but it does not await the read: what it
    // tests is a Promise, always truthy, so the set never runs and bento:foo
    // is never stored. Every call is a miss in L1 and in Redis (one Redis
    // GET that finds nothing), of which all.ts times only the synchronous
    // start. Here the read is awaited, so the whole miss is timed.
    {
      label: 'tiered_get',
      op: async () => {
        const v = await stores.tiered.get({ key: GET_KEY })
        if (v !== undefined) throw new Error(`get ${GET_KEY}: got ${JSON.stringify(v)}, want a miss`)
      },
    },
    // "Tiered GetOrSet", memory L1 + Redis L2: getOrSet of one key. L1 hits;
    // each time the 100 ms TTL runs out, one call refreshes the key: a Redis
    // GET (it expired there too), the factory, writes to both layers.
    { label: 'tiered_getorset', op: getOrSet(stores.tiered) },
    // "L1 GetOrSet", memory only: getOrSet of one key. L1 hits; every
    // 100 ms, one call runs the factory.
    { label: 'l1_getorset', op: getOrSet(stores.memory) },
    // "L2 GetOrSet", Redis only: getOrSet of one key. A Redis GET and a JSON
    // decode per call; every 100 ms, one call misses, runs the factory and
    // SETs the value.
    { label: 'l2_getorset', op: getOrSet(stores.redis) },
    // "Tiered Set", memory L1 + Redis L2: set of one key with the default
    // TTL (30 minutes). An L1 write and a Redis SET per call. all.ts sets the
    // number 10; here, the User.
    {
      label: 'tiered_set',
      op: async () => {
        const ok = await stores.tiered.set({ key: SET_KEY, value: newUser(1) })
        if (ok !== true) throw new Error(`set ${SET_KEY}: got ${ok}, want true`)
      },
      // Check that the workload wrote where it says it does.
      verify: async (client, prefix) => {
        const raw = await client.get(`${prefix.tiered}:${SET_KEY}`)
        if (raw === null) throw new Error(`${SET_KEY} is not in Redis`)
        checkUser(JSON.parse(raw).value, 1)
      },
    },
  ]
}

// splitPattern splits a go test -bench pattern into one regexp per level of
// benchmark names, as go test does: on slashes outside brackets and
// parentheses.
function splitPattern(pattern) {
  const parts = []
  let depth = 0
  let start = 0
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '\\') i++
    else if (c === '[' || c === '(') depth++
    else if (c === ']' || c === ')') depth = Math.max(0, depth - 1)
    else if (c === '/' && depth === 0) {
      parts.push(pattern.slice(start, i))
      start = i + 1
    }
  }
  parts.push(pattern.slice(start))
  return parts.map((part) => new RegExp(part))
}

// selected reports whether the parts of a pattern select the benchmark named
// by its levels: each part must match, unanchored, the name at its level.
function selected(parts, levels) {
  return parts.every((re, i) => i >= levels.length || re.test(levels[i]))
}

// ------------------------------------------------------------------- main

async function main() {
  const cfg = settings(process.env)
  const runId = randomBytes(6).toString('hex')
  const prefix = {
    memory: `bcjs_${runId}_memory`,
    redis: `bcjs_${runId}_redis`,
    tiered: `bcjs_${runId}_tiered`,
  }

  // A client of our own: fail fast when Redis does not answer, check what
  // the workloads wrote, and find any key of this run left behind.
  const client = new Redis({
    ...cfg.redis,
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  client.on('error', () => {}) // reported by the awaited calls below
  try {
    await client.connect()
    await client.ping()
  } catch (err) {
    client.disconnect()
    throw new Error(`Redis at ${cfg.redis.host}:${cfg.redis.port} (BENTO_REDIS_ADDR) does not answer: ${err.message}`)
  }

  // The stores of all.ts: memory L1 without serialization, Redis L2, and
  // both. Each has a prefix of this run's own. suppressL2Errors: false only
  // changes the error path: a Redis failure fails the call instead of being
  // hidden behind L1.
  const connection = { host: cfg.redis.host, port: cfg.redis.port }
  const bento = new BentoCache({
    default: 'memory',
    suppressL2Errors: false,
    stores: {
      memory: bentostore({ prefix: prefix.memory }).useL1Layer(memoryDriver({ serialize: false })),
      redis: bentostore({ prefix: prefix.redis }).useL2Layer(redisDriver({ connection })),
      tiered: bentostore({ prefix: prefix.tiered })
        .useL1Layer(memoryDriver({ serialize: false }))
        .useL2Layer(redisDriver({ connection })),
    },
  })
  const stores = { memory: bento.use('memory'), redis: bento.use('redis'), tiered: bento.use('tiered') }

  let failed = null
  try {
    printConfig()
    for (const w of workloads(stores)) {
      if (!selected(cfg.filter, [BENCH_NAME, `workload=${w.label}`])) continue
      for (let i = 0; i < cfg.count; i++) {
        try {
          const warmup = cfg.warmup ?? warmupLimit(cfg.benchTime)
          await run(w.op, warmup)
          const { ops, ns } = await run(w.op, cfg.benchTime)
          if (w.verify) await w.verify(client, prefix)
          printResult(w.label, ops, ns)
        } catch (err) {
          throw new Error(`workload ${w.label}: ${err?.message ?? err}`, { cause: err })
        }
      }
    }
  } catch (err) {
    failed = err
  }

  // Clean up, even after a failure: this run's keys, then the connections.
  try {
    await withTimeout(
      (async () => {
        await Promise.all(Object.values(stores).map((s) => s.clear()))
        await bento.disconnectAll()
        const left = await scanKeys(client, `bcjs_${runId}_*`)
        if (left.length > 0) {
          await client.unlink(...left)
          throw new Error(`keys left in Redis after clear: ${left.join(', ')}`)
        }
      })(),
      CLEANUP_TIMEOUT_MS,
      'cleaning up'
    )
  } catch (err) {
    failed ??= err
  } finally {
    client.disconnect()
  }
  if (failed) throw failed
}

// warmupLimit is the warm-up before each timed run: as long as the run, up to
// MAX_WARMUP_NS, or the same op count.
function warmupLimit(benchTime) {
  if (benchTime.ops !== undefined) return { ops: benchTime.ops }
  return { ns: Math.min(benchTime.ns, MAX_WARMUP_NS) }
}

async function scanKeys(client, pattern) {
  const keys = []
  let cursor = '0'
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    keys.push(...found)
    cursor = next
  } while (cursor !== '0')
  return keys
}

function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

process.on('unhandledRejection', (err) => {
  console.error('unhandled rejection:', err)
  process.exit(1)
})

try {
  await main()
} catch (err) {
  console.error(`${BENCH_NAME}: ${err?.message ?? err}`)
  if (err?.cause?.stack) console.error(err.cause.stack)
  // Something may still hold the event loop (a connection that would not
  // close): leave now.
  process.exit(1)
}
