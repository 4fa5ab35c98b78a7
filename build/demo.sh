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
log=/var/log/swarmlet.log
pidfile=/run/swarmlet-demo.pid

# `node ls` answers once the daemon runs; before `init` it answers that this node is not a manager.
node_ls() { "$swarmlet" node ls 2>&1 || true; }
daemon_answers() { [[ "$(node_ls)" != *"cannot connect"* ]]; }

if ! daemon_answers; then
  echo "demo: starting the swarmlet daemon (log: $log)"
  # One node needs no discovery: mDNS stays off, so the demo sends nothing on this machine's network. The
  # installed service (swarmlet install) runs with discovery on, so other machines can join with a token alone.
  setsid "$swarmlet" daemon --discovery off >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 100); do daemon_answers && break; sleep 0.1; done
  daemon_answers || { tail -n 20 "$log" >&2; echo "demo: the daemon did not start; see $log" >&2; exit 1; }
fi

if [[ "$(node_ls)" == *"not a swarm manager"* ]]; then
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
  DOCKER_HOST=unix:///run/swarmlet/swarmlet.sock docker service ps demo   # the stock docker CLI works too
  $swarmlet service rm demo
  kill \$(cat $pidfile)   # stops the daemon; its containers keep running and a restart adopts them
TXT
