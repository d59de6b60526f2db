// Prints the pass counts of a cache-tests result file by test kind
// (required, optimal, check), then the ids of the required tests that
// failed. Tests marked browser_only are left out, as the suite's own
// runner and result pages leave them out for a cache that is not a
// browser. Usage: node count.mjs results.json
import fs from 'fs'
import tests from 'http-cache-tests/tests/index.mjs'
import surrogate from 'http-cache-tests/tests/surrogate-control.mjs'

tests.push(surrogate)
const results = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const counts = {}
const failed = []
for (const suite of tests) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue
    const kind = test.kind || 'required'
    counts[kind] = counts[kind] || { pass: 0, total: 0 }
    counts[kind].total++
    if (results[test.id] === true) {
      counts[kind].pass++
    } else if (kind === 'required') {
      failed.push(test.id)
    }
  }
}
for (const kind of ['required', 'optimal', 'check']) {
  if (counts[kind]) console.log(`${kind} ${counts[kind].pass} of ${counts[kind].total}`)
}
for (const id of failed) console.log(`failed-required ${id}`)
