/**
 * The systemd unit `swarmlet install` writes, kept in code so the single executable carries it. It must stay
 * byte-for-byte equal to systemd/swarmlet.service (the file users read and copy by hand): a test checks it, so edit
 * the .service file and paste it here.
 */
export const UNIT_TEXT = `# swarmlet: one node of a swarmlet cluster. Install with "swarmlet install", or copy this file to
# /etc/systemd/system/ and run "systemctl daemon-reload", then "systemctl enable --now swarmlet".
[Unit]
Description=swarmlet container orchestrator node
# The engine must answer before the daemon can reconcile, and the node needs its LAN address to join peers.
# Wants, not Requires: a node running podman or balenaEngine has no docker.service, and stopping docker must
# not take swarmlet down with it (the daemon waits for its engine to come back).
Wants=docker.service network-online.target
After=docker.service network-online.target
# Never give up restarting: an appliance has nobody to run "systemctl reset-failed".
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=/usr/local/bin/swarmlet daemon
Restart=always
RestartSec=2
# /var/lib/swarmlet (state) and /run/swarmlet (API socket), made and owned for us by systemd.
StateDirectory=swarmlet
RuntimeDirectory=swarmlet
LimitNOFILE=1048576
# The default, stated on purpose: the containers are children of dockerd, in its cgroup, so stopping or
# restarting swarmlet never stops them (the daemon adopts them again when it starts); what is killed is
# only what swarmlet itself spawned.
KillMode=control-group
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
`;
