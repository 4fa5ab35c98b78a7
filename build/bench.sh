#!/usr/bin/env bash
# `npm run bench`: figures, not pass/fail tests. Runs each test/bench/*.bench.ts on the pinned Node 22 against a
# fresh build (the benchmarks measure the x64 executable's memory, start time and size), then prints every
# benchmark's one-line summaries together. Each benchmark cleans up after itself (daemons, containers, temp dirs,
# the Docker swarm it makes), also on failure or Ctrl-C. SWARMLET_BENCH_RUNS, SWARMLET_BENCH_STARTS,
# SWARMLET_BENCH_CONCURRENCY, SWARMLET_BENCH_FAILOVERS (Raft in one process) and SWARMLET_BENCH_CLUSTER_FAILOVERS
# (real hosts) tune the repetitions (see each file); SWARMLET_BENCH_UPDATE_SWARM_LIMIT caps, in seconds, how long the
# rolling-update benchmark (update.bench.ts) waits for Docker Swarm mode's update (default 900). Takes about 22
# minutes, most of it the orchestration and rolling-update benchmarks waiting on Docker Swarm mode.
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

SWARMLET_BENCH_SUMMARY="$(mktemp -t swarmlet-bench-summary.XXXXXX)"
export SWARMLET_BENCH_SUMMARY
trap 'rm -f "$SWARMLET_BENCH_SUMMARY"' EXIT

# Figures mean little without the machine they came from; the load average shows whether something else ran.
cpu_model="$(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)"
echo "machine: $(nproc) CPU(s) (${cpu_model:-unknown model}), $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1e6}' /proc/meminfo) RAM," \
  "load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "machine: docker engine $(docker version --format '{{.Server.Version}}'), docker CLI $(docker version --format '{{.Client.Version}}')," \
  "node $(node --version), kernel $(uname -r)"

failed=()
for bench in "${benches[@]}"; do
  echo
  echo "bench: $bench"
  rc=0
  node "$bench" || rc=$?
  # Interrupted (Ctrl-C, SIGTERM): the benchmark has cleaned up; stop here.
  ((rc >= 128)) && exit "$rc"
  ((rc == 0)) || failed+=("$bench")
done

echo
echo "summary (load average now $(cut -d ' ' -f 1-3 /proc/loadavg)):"
sed 's/^/  /' "$SWARMLET_BENCH_SUMMARY"
if ((${#failed[@]})); then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
