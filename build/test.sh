#!/usr/bin/env bash
# `npm test`, the README's second command and what CI runs: set the machine up, clear what an earlier run left in
# the engine, typecheck, build both executables, then run every test on the pinned Node 22, the runtime that ships
# inside the executables, so what is tested is what ships.
set -euo pipefail
cd "$(dirname "$0")/.."

bash build/setup.sh

# Everything after this, npm scripts included, runs on the pinned Node 22.
node22="$(node build/runtime.mjs node-path)"
export PATH="$(dirname "$node22"):$PATH"

# Containers a killed run left: those of the test daemons (test/helpers/daemon.ts notes their node IDs, so a real
# swarmlet's containers on this machine are never touched) and the tests' scaffolding (com.swarmlet.test=1).
# Networks the tests made carry the latter label too.
test_nodes="${TMPDIR:-/tmp}/swarmlet-test-nodes"
containers="$( { docker ps -aq --filter label=com.swarmlet.test=1
  for node in $(ls "$test_nodes" 2>/dev/null); do docker ps -aq --filter "label=com.docker.swarm.node.id=$node"; done; } | sort -u)"
rm -rf "$test_nodes"
if [[ -n "$containers" ]]; then
  echo "test: removing $(wc -w <<<"$containers") leftover container(s)"
  docker rm -f $containers >/dev/null
fi
networks="$(docker network ls -q --filter label=com.swarmlet.test=1)"
if [[ -n "$networks" ]]; then
  echo "test: removing $(wc -w <<<"$networks") leftover network(s)"
  docker network rm $networks >/dev/null
fi

npm run --silent typecheck
npm run --silent build

echo "test: node $(node --version) ($node22), docker CLI $(docker version --format '{{.Client.Version}}')"
# One file at a time: integration tests share one engine and the machine has two cores; the unit test files take
# milliseconds each, so running them in parallel would save little and cost reliability. A test that hangs fails
# after 10 minutes instead of holding CI until its global timeout.
node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec 'test/**/*.test.ts'
