#!/usr/bin/env bash
# The README's first command: sets the machine up (packages, engine, npm dependencies, the build), starts a
# swarmlet daemon from the built executable, makes a one-node cluster and runs a demo service on it.
# Run it again at any time: it reuses a daemon that already answers and a cluster that already exists.
set -euo pipefail
cd "$(dirname "$0")/.."

bash build/setup.sh
node22="$(node build/runtime.mjs node-path)"
PATH="$(dirname "$node22"):$PATH" npm run --silent build

swarmlet=./dist/swarmlet-linux-x64
socket=/run/swarmlet/swarmlet.sock
log=/var/log/swarmlet.log

if ! "$swarmlet" -H "unix://$socket" version >/dev/null 2>&1 || ! [[ -S $socket ]]; then
  echo "demo: starting the swarmlet daemon (log: $log)"
  setsid "$swarmlet" daemon >>"$log" 2>&1 < /dev/null &
  echo $! > /run/swarmlet-demo.pid
  for _ in $(seq 100); do [[ -S $socket ]] && curl -sf --unix-socket "$socket" http://swarmlet/_ping >/dev/null && break; sleep 0.1; done
fi

if [[ "$(curl -s --unix-socket "$socket" http://swarmlet/v1.41/info | grep -o '"LocalNodeState":"[a-z]*"')" != '"LocalNodeState":"active"' ]]; then
  "$swarmlet" init
fi

if ! "$swarmlet" service inspect demo >/dev/null 2>&1; then
  "$swarmlet" service create --name demo --replicas 3 --reserve-memory 16M --limit-memory 32M \
    swarmlet-test/busybox:1 httpd -f -p 8080
fi

echo
"$swarmlet" node ls
echo
"$swarmlet" service ls
echo
"$swarmlet" service ps demo
cat <<TXT

swarmlet runs a one-node cluster with the service "demo" (3 replicas). Try:
  $swarmlet service scale demo=5
  DOCKER_HOST=unix://$socket docker service ps demo     # the stock docker CLI speaks to swarmlet too
  $swarmlet service rm demo
  kill \$(cat /run/swarmlet-demo.pid)                    # stop the daemon; its containers keep running
TXT
