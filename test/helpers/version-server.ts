/**
 * The backend of the rolling-update tests and benchmark: a small HTTP server answering its task's `$V`, run from the
 * host's file system with the host's Node (`busybox chroot /host`), since the test image has no HTTP server that
 * keeps connections alive.
 *
 * It shuts down as a well-behaved server behind a load balancer does: once sent SIGTERM (after the routing mesh has
 * drained its task), it tells each keep-alive client to close, and exits when no connection is left (or after 7 s,
 * within the default 10 s stop grace period). An idle keep-alive connection is kept for a minute, longer than a run
 * lasts, so the server never closes one under a client that is just sending on it. A task started with BROKEN=1
 * leaves /tmp/broken behind, for a healthcheck to fail on.
 */

import { TEST_IMAGE } from './daemon.ts';

export const VERSION_SERVER = `
const http = require('node:http');
let stopping = false;
const server = http.createServer((req, res) => {
  if (stopping) res.setHeader('Connection', 'close');
  res.end(process.env.V + '\\n');
});
server.keepAliveTimeout = 60000;
server.listen(80);
process.on('SIGTERM', () => {
  stopping = true;
  setInterval(() => server.getConnections((err, n) => { if (!err && n === 0) process.exit(0); }), 100);
  setTimeout(() => { server.closeIdleConnections(); setTimeout(() => process.exit(0), 200); }, 7000);
});`;

/** What follows a `service create`'s flags (docker's or swarmlet's): the mount, the image and the command line. */
export function versionServerArgs(): string[] {
  return [
    '--mount', 'type=bind,source=/,target=/host,readonly', TEST_IMAGE,
    'sh', '-c', `if [ "$BROKEN" = 1 ]; then touch /tmp/broken; fi; exec busybox chroot /host ${process.execPath} -e "$0"`, VERSION_SERVER,
  ];
}

/** `--health-cmd` flags that fail in a task started with BROKEN=1 and pass at once otherwise. */
export const BROKEN_HEALTH = ['--health-cmd', 'test ! -e /tmp/broken', '--health-interval', '500ms', '--health-retries', '2', '--health-timeout', '2s'];
