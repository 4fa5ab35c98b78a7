#!/usr/bin/env bash
# Makes this machine ready to build and test swarmlet, doing only what is missing, so it is cheap to run before
# every test run: Debian packages, a running engine, npm dependencies, the pinned Node 22 runtimes, the test image.
# Needs root for the packages and the engine (as CI and the README's first command run it) on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }

# Packages, with why: docker.io (the engine, only when none answers), busybox-static (the test image), qemu-user
# and the arm64 cross libraries (run the arm64 executable here), binutils for both architectures (strip the
# runtimes; one is native, the other a cross tool), iproute2/iptables/tcpdump (namespaced test hosts), faketime
# (a test host whose clock is years behind, as a Raspberry Pi without a real-time clock boots), tar/gzip
# (unpack and stage the runtimes), nodejs/npm (only when no node is on PATH: they bootstrap npm ci and the build
# scripts; the tests and the executables use the pinned Node 22).
packages=(busybox-static qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
  binutils-aarch64-linux-gnu binutils-x86-64-linux-gnu iproute2 iptables tcpdump faketime tar gzip)
engine_answers() { timeout 20 docker info >/dev/null 2>&1; }
if ! command -v dockerd >/dev/null && ! engine_answers; then packages+=(docker.io); fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || die "missing Debian packages (${missing[*]}); run this as root or install them"
  say "installing ${missing[*]}"
  # apt's chatter goes to a log shown only when it fails, so a run's output stays a few lines.
  log=/var/log/swarmlet-setup-apt.log
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
  { apt-get update && apt-get install -y "${missing[@]}"; } >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "apt-get failed; see $log"; }
fi

if ! engine_answers; then
  [[ $(id -u) == 0 ]] || die "no Docker engine answers on ${DOCKER_HOST:-/var/run/docker.sock}; start one or run this as root"
  say "starting dockerd (log: /var/log/dockerd.log)"
  setsid dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 60); do engine_answers && break; sleep 1; done
  engine_answers || { tail -n 20 /var/log/dockerd.log >&2; die "dockerd did not answer within 60 s; see /var/log/dockerd.log"; }
fi
say "engine $(docker version --format '{{.Server.Version}}') answers; docker CLI $(docker version --format '{{.Client.Version}}')"

# npm writes node_modules/.package-lock.json on every install: older than the lockfile means the deps are stale.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

node build/runtime.mjs ensure
say "Node 22 for tests and builds: $(node build/runtime.mjs node-path)"

bash build/test-image.sh
