#!/usr/bin/env bash
# Runs the HTTP WG's cache-tests (npm package http-cache-tests) against
# cmd/bento with bento_cache in front of reverse_proxy, and prints the pass
# counts by kind. With MIN_REQUIRED set, it fails when fewer required tests
# pass. The JSON results are left in results.json.
set -euo pipefail
cd "$(dirname "$0")"
origin_port=${BENTO_ORIGIN_PORT:-8000}
proxy_port=${BENTO_PROXY_PORT:-8090}
export BENTO_ORIGIN_PORT=$origin_port BENTO_PROXY_PORT=$proxy_port

npm ci --no-audit --no-fund --loglevel=error >/dev/null
bin=$(mktemp -d)/bento
(cd ../../.. && go build -o "$bin" ./cmd/bento)

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -f node_modules/http-cache-tests/server.pid ]; then
		kill "$(cat node_modules/http-cache-tests/server.pid)" 2>/dev/null || true
		rm -f node_modules/http-cache-tests/server.pid
	fi
	rm -rf "$(dirname "$bin")"
}
trap cleanup EXIT

# The suite's server script puts itself in the background and writes its pid.
(cd node_modules/http-cache-tests && npm run --silent server --port="$origin_port") >origin.log 2>&1
"$bin" run --config Caddyfile --adapter caddyfile >bento.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$origin_port") 2>/dev/null && break
	sleep 0.1
done

(cd node_modules/http-cache-tests && npm run --silent cli --base="http://127.0.0.1:$proxy_port") >results.json
node count.mjs results.json | tee counts.txt
if [ -n "${MIN_REQUIRED:-}" ]; then
	passed=$(awk '$1 == "required" {print $2}' counts.txt)
	if [ "$passed" -lt "$MIN_REQUIRED" ]; then
		echo "cache-tests: $passed required tests pass, fewer than the $MIN_REQUIRED measured before"
		exit 1
	fi
fi
