#!/usr/bin/env bash
# `npm run bench`: figures, not pass/fail tests. Runs each test/bench/*.bench.ts on the pinned Node 22 against a
# fresh build (the benchmarks measure the x64 executable's memory, start time and size).
set -euo pipefail
cd "$(dirname "$0")/.."

bash build/setup.sh
node22="$(node build/runtime.mjs node-path)"
export PATH="$(dirname "$node22"):$PATH"
npm run --silent build

shopt -s nullglob
benches=(test/bench/*.bench.ts)
if ((${#benches[@]} == 0)); then
  echo "bench: no test/bench/*.bench.ts yet"
  exit 0
fi
for bench in "${benches[@]}"; do
  echo "bench: $bench"
  node "$bench"
done
